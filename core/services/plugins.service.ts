/**
 * `plugins`: discovers plugin folders, loads the instances the config (and the admin API)
 * asks for, and publishes each as a `connector.<id>` service. Instances can be added,
 * reloaded, enabled, disabled or removed while the hub runs. What every node should run is
 * stored (plugin_instances); a change is broadcast as `plugins.changed` so that every node
 * reconciles at once, and each node also reconciles on a timer, so one that missed the event
 * (or started later) converges too. Health is polled and fed to the routing.
 */
import { type Context, type ServiceSchema, Service, type ServiceBroker } from "moleculer";
import { Errors } from "moleculer";
import type { PluginInstanceConfig } from "../config/types.ts";
import type { CanonicalEvent, InboundRequest, InboundResult, SendRequest } from "@dialmesh/sdk";
import { isPluginError, mapSecretOptions } from "@dialmesh/sdk";
import type { SendOutcome } from "../ccm/ports.ts";
import { PLUGINS_DIR } from "../plugins/catalog.ts";
import { PluginHost, type HostEnvironment } from "../plugins/host.ts";
import { PluginRegistry } from "../plugins/registry.ts";
import type { ValidationDetail } from "../validation/json-schema.ts";
import { schemaValidator, validateWith } from "../validation/json-schema.ts";
import { sdkLogger, type HubRuntime, runtimeOf } from "./runtime.ts";

export class PluginValidationError extends Errors.MoleculerClientError {
  constructor(message: string, details: ValidationDetail[]) {
    super(message, 400, "ValidationError", details);
  }
}

function reviveDates<T>(value: T, keys: string[]): T {
  if (!value || typeof value !== "object") return value;
  const obj = value as Record<string, unknown>;
  for (const k of keys) if (typeof obj[k] === "string") obj[k] = new Date(obj[k] as string);
  return value;
}

function connectorSchema(host: PluginHost): ServiceSchema {
  return {
    name: `connector.${host.id}`,
    actions: {
      send: {
        visibility: "public",
        handler(ctx: Context<SendRequest>): Promise<SendOutcome> {
          return host.send(reviveDates(ctx.params, ["lastInboundAt"]));
        },
      },
      inbound: {
        visibility: "public",
        handler(
          ctx: Context<Omit<InboundRequest, "rawBody"> & { rawBody: Buffer | { type: "Buffer"; data: number[] } }>,
        ): Promise<InboundResult> {
          const raw = ctx.params.rawBody;
          return host.inbound({ ...ctx.params, rawBody: Buffer.isBuffer(raw) ? raw : Buffer.from(raw.data) });
        },
      },
      health: { visibility: "public", handler: () => host.health() },
      view: { visibility: "public", handler: (ctx: Context<{ name: string }>) => host.view(ctx.params.name) },
    },
  };
}

export function pluginsService(runtime: HubRuntime, registry: PluginRegistry): ServiceSchema {
  const { config } = runtime;
  let generation = 0;
  const connectors = new Map<string, Service>();

  async function mount(broker: ServiceBroker, instance: PluginInstanceConfig): Promise<PluginHost> {
    const entry = registry.catalog.get(instance.use)!;
    const env: HostEnvironment = {
      publicUrl: config.api.publicUrl,
      dataDir: config.dataDir,
      logger: (id) => sdkLogger(broker.getLogger(`plugin:${id}`)),
      rateLimiter: runtime.rateLimiter,
      conversations: { lastInboundAt: (channel, address) => runtime.conversations.lastInboundAt(channel, address) },
      ...(runtime.store.conn.db ? { db: runtime.store.conn.db } : {}),
      hubDefaults: {
        ...(config.compliance.optOutKeywords ? { optOutKeywords: config.compliance.optOutKeywords } : {}),
      },
      emit: async (id: string, events: CanonicalEvent[]) => {
        await broker.call("ccm.ingest", { pluginId: id, events });
      },
    };
    const host = new PluginHost(entry, instance, env);
    await host.start(String(++generation));
    registry.hosts.set(host.id, host);
    const connector = broker.createService(connectorSchema(host));
    connectors.set(host.id, connector);
    return host;
  }

  async function unmount(broker: ServiceBroker, id: string): Promise<void> {
    const host = registry.hosts.get(id);
    registry.hosts.delete(id);
    const connector = connectors.get(id);
    connectors.delete(id);
    mountedRevision.delete(id);
    if (connector) await broker.destroyService(connector);
    await host?.stop();
  }

  /** Secret options of API-added instances are stored sealed (see core/store/secret-box.ts). */
  const secretPaths = (use: string) => registry.catalog.get(use)?.manifest?.secretOptions;
  const sealed = (use: string, options: Record<string, unknown>) =>
    mapSecretOptions(options, secretPaths(use), (v) => runtime.secrets.seal(v));
  const opened = (use: string, options: Record<string, unknown>) =>
    mapSecretOptions(options, secretPaths(use), (v) => runtime.secrets.open(v));

  interface Wanted {
    instance: PluginInstanceConfig;
    revision: number;
  }
  /** Revision each mounted instance was loaded at. */
  const mountedRevision = new Map<string, number>();

  /** What every node should run: the config file's instances (with admin overrides) and the API's. */
  async function desired(): Promise<Wanted[]> {
    const stored = await runtime.store.models.PluginInstance.find({}).lean();
    const byId = new Map(stored.map((s) => [s._id, s]));
    const fromConfig = config.plugins
      .map((p) => ({ p, o: byId.get(p.id) }))
      .filter(({ p, o }) => (o?.source === "config" && o.enabled !== undefined ? o.enabled : p.enabled !== false))
      .map(({ p, o }) => ({ instance: { ...p, enabled: true }, revision: o?.revision ?? 0 }));
    const configIds = new Set(config.plugins.map((p) => p.id));
    const fromApi = stored
      .filter((s) => s.source !== "config" && !configIds.has(s._id) && s.enabled !== false && s.use)
      .map((s) => ({
        instance: {
          id: s._id,
          use: s.use!,
          options: opened(s.use!, s.options ?? {}),
          ...(s.channels?.length ? { channels: s.channels } : {}),
        },
        revision: s.revision ?? 0,
      }));
    return [...fromConfig, ...fromApi];
  }

  let syncing: Promise<void> = Promise.resolve();
  /** Brings this node's instances in line with config + store; one reconcile at a time. */
  function sync(broker: ServiceBroker): Promise<void> {
    const run = syncing.then(async () => {
      const want = await desired();
      const problems = registry.setWanted(want.map((w) => w.instance));
      for (const p of problems) broker.getLogger("plugins").error(`routing: ${p.path} ${p.message}`);
      const wantIds = new Set(want.map((w) => w.instance.id));
      for (const id of [...registry.hosts.keys()]) if (!wantIds.has(id)) await unmount(broker, id);
      for (const { instance, revision } of want) {
        const current = registry.hosts.get(instance.id);
        const changed =
          !current ||
          JSON.stringify(current.config) !== JSON.stringify(instance) ||
          mountedRevision.get(instance.id) !== revision;
        if (!changed) continue;
        if (current) await unmount(broker, instance.id);
        await mount(broker, instance);
        mountedRevision.set(instance.id, revision);
      }
    });
    syncing = run.catch(() => undefined);
    return run;
  }

  async function changed(ctx: Context, broker: ServiceBroker): Promise<void> {
    await sync(broker);
    // Every node, this one included, hears it; this one has already reconciled.
    ctx.broadcast("plugins.changed", { from: broker.nodeID });
  }

  /** 400 when running `candidate` beside the others would leave a channel without a clear route. */
  async function refuseAmbiguousRoute(candidate: PluginInstanceConfig, what: string): Promise<void> {
    const others = (await desired()).map((w) => w.instance).filter((i) => i.id !== candidate.id);
    const problems = registry.plan([...others, candidate]).problems;
    if (problems.length)
      throw new PluginValidationError(
        `${what} would leave a channel without a clear route; add a routing entry in the configuration file or limit its channels`,
        problems,
      );
  }

  function notFound(id: string): Errors.MoleculerClientError {
    return new Errors.MoleculerClientError(`no plugin instance "${id}"`, 404, "NotFound");
  }

  function isKnown(id: string, stored: { source?: string } | null): boolean {
    return config.plugins.some((p) => p.id === id) || (stored !== null && stored.source !== "config");
  }

  /** Bumps the revision (reload) or sets `enabled`, for a config-file or an API instance. */
  async function override(id: string, set: { enabled?: boolean; reload?: boolean }): Promise<void> {
    const fromConfig = config.plugins.some((p) => p.id === id);
    await runtime.store.models.PluginInstance.updateOne(
      { _id: id },
      {
        $set: {
          ...(set.enabled !== undefined ? { enabled: set.enabled } : {}),
          ...(fromConfig ? { source: "config" } : {}),
          updatedAt: new Date(),
        },
        ...(set.reload ? { $inc: { revision: 1 } } : {}),
      },
      { upsert: fromConfig },
    );
  }

  let reconcileTimer: NodeJS.Timeout | undefined;
  let healthTimer: NodeJS.Timeout | undefined;
  let polling = false;

  async function pollHealth(): Promise<void> {
    if (polling) return;
    polling = true;
    try {
      await Promise.all(
        [...registry.hosts.values()].map(async (host) => {
          if (host.state !== "ready") return;
          const h = await host.health();
          registry.observe(host.id, {
            kind: "check",
            ok: h.ok,
            at: new Date(),
            ...(h.detail ? { detail: h.detail } : {}),
          });
        }),
      );
    } finally {
      polling = false;
    }
  }

  async function describeAll(): Promise<Record<string, unknown>[]> {
    const out = [];
    for (const host of registry.hosts.values()) {
      const routing = registry.healthOf(host.id);
      out.push({
        ...host.describe(),
        health: {
          ...(await host.health()),
          routable: routing.ok,
          consecutiveFailures: routing.consecutiveFailures,
          ...(routing.ok || !routing.detail ? {} : { reason: routing.detail }),
          ...(routing.checkedAt ? { checkedAt: routing.checkedAt } : {}),
        },
      });
    }
    for (const w of registry.wantedInstances) {
      if (!registry.hosts.has(w.id)) out.push({ id: w.id, use: w.use, state: "starting" });
    }
    const running = new Set(registry.wantedInstances.map((w) => w.id));
    const stored = await runtime.store.models.PluginInstance.find({}).lean();
    for (const p of config.plugins) if (!running.has(p.id)) out.push({ id: p.id, use: p.use, state: "disabled" });
    for (const s of stored)
      if (s.source !== "config" && !running.has(s._id) && s.use) out.push({ id: s._id, use: s.use, state: "disabled" });
    return out;
  }

  return {
    name: "plugins",
    actions: {
      list: {
        async handler(this: Service) {
          const available = [...registry.catalog.values()].map((e) => ({
            name: e.name,
            ...(e.manifest
              ? { version: e.manifest.version, channels: e.manifest.channels }
              : { errors: e.errors.map((x) => x.message) }),
          }));
          return { instances: await describeAll(), routing: registry.routingView(), available };
        },
      },
      add: {
        async handler(this: Service, ctx: Context<Record<string, unknown>>) {
          const details = validateWith(schemaValidator("plugin-instance.schema.json"), ctx.params);
          if (details.length) throw new PluginValidationError("Invalid plugin instance", details);
          const instance = ctx.params as unknown as PluginInstanceConfig;
          if (config.plugins.some((p) => p.id === instance.id)) {
            throw new Errors.MoleculerClientError(
              `plugin "${instance.id}" is defined in the configuration file; change it there`,
              409,
              "Conflict",
            );
          }
          registry.rescan();
          const problems = registry.validate(instance, "");
          if (problems.length) throw new PluginValidationError("Invalid plugin instance", problems);
          await refuseAmbiguousRoute(instance, `Adding "${instance.id}"`);
          await runtime.store.models.PluginInstance.updateOne(
            { _id: instance.id },
            {
              $set: {
                source: "api",
                use: instance.use,
                options: sealed(instance.use, instance.options ?? {}),
                channels: instance.channels ?? [],
                enabled: true,
                updatedAt: new Date(),
              },
              $inc: { revision: 1 },
            },
            { upsert: true },
          );
          await changed(ctx, this.broker);
          return registry.hosts.get(instance.id)?.describe();
        },
      },
      reload: {
        async handler(this: Service, ctx: Context<{ id: string }>) {
          const stored = await runtime.store.models.PluginInstance.findById(ctx.params.id).lean();
          if (!isKnown(ctx.params.id, stored)) throw notFound(ctx.params.id);
          registry.rescan();
          await override(ctx.params.id, { reload: true });
          await changed(ctx, this.broker);
          const host = registry.hosts.get(ctx.params.id);
          if (!host)
            throw new Errors.MoleculerClientError(
              `plugin "${ctx.params.id}" is disabled; enable it first`,
              409,
              "Conflict",
            );
          return host.describe();
        },
      },
      enable: {
        async handler(this: Service, ctx: Context<{ id: string }>) {
          const stored = await runtime.store.models.PluginInstance.findById(ctx.params.id).lean();
          if (!isKnown(ctx.params.id, stored)) throw notFound(ctx.params.id);
          const instance = config.plugins.find((p) => p.id === ctx.params.id);
          const candidate = instance ?? {
            id: ctx.params.id,
            use: stored!.use!,
            options: opened(stored!.use!, stored!.options ?? {}),
            ...(stored!.channels?.length ? { channels: stored!.channels } : {}),
          };
          await refuseAmbiguousRoute(candidate, `Enabling "${ctx.params.id}"`);
          await override(ctx.params.id, { enabled: true });
          await changed(ctx, this.broker);
          return registry.hosts.get(ctx.params.id)?.describe() ?? { id: ctx.params.id, state: "starting" };
        },
      },
      disable: {
        async handler(this: Service, ctx: Context<{ id: string }>) {
          const stored = await runtime.store.models.PluginInstance.findById(ctx.params.id).lean();
          if (!isKnown(ctx.params.id, stored)) throw notFound(ctx.params.id);
          await override(ctx.params.id, { enabled: false });
          await changed(ctx, this.broker);
          return { id: ctx.params.id, state: "disabled" };
        },
      },
      remove: {
        async handler(this: Service, ctx: Context<{ id: string }>) {
          if (config.plugins.some((p) => p.id === ctx.params.id)) {
            throw new Errors.MoleculerClientError(
              `plugin "${ctx.params.id}" is defined in the configuration file; remove it there (or disable it)`,
              409,
              "Conflict",
            );
          }
          const res = await runtime.store.models.PluginInstance.deleteOne({ _id: ctx.params.id });
          if (res.deletedCount === 0) throw notFound(ctx.params.id);
          await changed(ctx, this.broker);
          return { removed: ctx.params.id };
        },
      },
      action: {
        async handler(ctx: Context<{ id: string; action: string } & Record<string, unknown>>) {
          const { id, action, ...input } = ctx.params;
          const host = registry.hosts.get(id);
          if (!host) throw notFound(id);
          let outcome: Awaited<ReturnType<PluginHost["action"]>>;
          try {
            outcome = await host.action(action, input);
          } catch (err) {
            // The plugin refused the input (or the vendor did): the caller's to fix, said plainly.
            if (isPluginError(err) && !err.retryable)
              throw new PluginValidationError(`plugin "${id}" refused action "${action}"`, [
                { path: "", message: err.message },
              ]);
            throw err;
          }
          if (!outcome.found)
            throw new Errors.MoleculerClientError(`plugin "${id}" has no action "${action}"`, 404, "NotFound");
          return outcome.result;
        },
      },
      view: {
        async handler(ctx: Context<{ id: string; view: string }>) {
          const host = registry.hosts.get(ctx.params.id);
          if (!host) throw notFound(ctx.params.id);
          const value = await host.view(ctx.params.view);
          if (value === undefined)
            throw new Errors.MoleculerClientError(
              `plugin "${ctx.params.id}" has no view "${ctx.params.view}"`,
              404,
              "NotFound",
            );
          return value;
        },
      },
    },
    events: {
      "plugins.changed": {
        async handler(this: Service, ctx: Context<{ from?: string }>) {
          if (ctx.params.from === this.broker.nodeID) return;
          registry.rescan();
          await sync(this.broker);
        },
      },
    },
    async started(this: Service) {
      await sync(this.broker);
      registry.loadedOnce();
      const { intervalMs } = config.pluginHealth;
      const log = this.logger;
      healthTimer = setInterval(() => {
        pollHealth().catch((err: Error) => log.warn("plugin health poll failed", { error: err.message }));
      }, intervalMs);
      healthTimer.unref();
      // Converge even when a plugins.changed event was missed: events are best effort (a node
      // down, partitioned, or re-announcing its services at that moment does not get it).
      reconcileTimer = setInterval(() => {
        sync(this.broker).catch((err: Error) => log.warn("plugin reconcile failed", { error: err.message }));
      }, config.pluginSync.intervalMs);
      reconcileTimer.unref();
    },
    async stopped(this: Service) {
      if (healthTimer) clearInterval(healthTimer);
      if (reconcileTimer) clearInterval(reconcileTimer);
      await syncing;
      for (const id of [...registry.hosts.keys()]) await unmount(this.broker, id);
    },
  };
}

export { PLUGINS_DIR, PluginRegistry };

/** The service as startHub and moleculer-runner create it, with the node's runtime from its broker. */
export default class PluginsService extends Service {
  constructor(broker: ServiceBroker) {
    super(broker);
    const runtime = runtimeOf(broker);
    this.parseServiceSchema(pluginsService(runtime, runtime.registry));
  }
}
