/**
 * `plugins`: discovers plugin folders, loads the instances the config (and the admin API)
 * asks for, and publishes each as a `connector.<id>` service. Instances can be added,
 * reloaded or removed while the hub runs; every node follows via the `plugins.changed` event.
 */
import type { Context, ServiceBroker, ServiceSchema, Service } from "moleculer";
import { Errors } from "moleculer";
import type { PluginInstanceConfig } from "../config/types.ts";
import type { CanonicalEvent, InboundRequest, InboundResult, SendRequest } from "@dialmesh/sdk";
import type { RouteTarget, SendOutcome } from "../ccm/ports.ts";
import { discoverPlugins, PLUGINS_DIR, type CatalogEntry } from "../plugins/catalog.ts";
import { PluginHost, validateInstanceOptions, type HostEnvironment } from "../plugins/host.ts";
import type { ValidationDetail } from "../validation/json-schema.ts";
import { schemaValidator, validateWith } from "../validation/json-schema.ts";
import { sdkLogger, type HubRuntime } from "./runtime.ts";

export class PluginValidationError extends Errors.MoleculerClientError {
  constructor(message: string, details: ValidationDetail[]) {
    super(message, 400, "ValidationError", details);
  }
}

/** Which instance carries a channel: the first ready one, in configuration order. */
export class PluginRegistry {
  readonly hosts = new Map<string, PluginHost>();
  catalog: Map<string, CatalogEntry>;
  private readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
    this.catalog = discoverPlugins(dir);
  }

  rescan(): void {
    this.catalog = discoverPlugins(this.dir);
  }

  route(channel: string): RouteTarget | undefined {
    let fallback: PluginHost | undefined;
    for (const host of this.hosts.values()) {
      if (!host.channels.includes(channel) || host.config.enabled === false) continue;
      if (host.state === "ready") return { pluginId: host.id, idempotentSend: host.idempotentSend };
      fallback ??= host;
    }
    // A failed instance still "carries" the channel: its attempts fail with its reason.
    return fallback ? { pluginId: fallback.id, idempotentSend: fallback.idempotentSend } : undefined;
  }

  channels(): Set<string> {
    const out = new Set<string>();
    for (const host of this.hosts.values()) if (host.config.enabled !== false) host.channels.forEach((c) => out.add(c));
    return out;
  }

  /** Validates an instance config; details carry pointers under `pointer`. */
  validate(config: PluginInstanceConfig, pointer: string): ValidationDetail[] {
    const entry = this.catalog.get(config.use);
    if (!entry) {
      const known = [...this.catalog.keys()].sort().join(", ") || "none";
      return [
        { path: `${pointer}/use`, message: `"${config.use}" is not a plugin folder under plugins/ (found: ${known})` },
      ];
    }
    if (!entry.manifest) return entry.errors.map((e) => ({ path: `${pointer}/use`, message: e.message }));
    const details = validateInstanceOptions(entry.manifest, config, pointer);
    const unknownChannels = (config.channels ?? []).filter((c) => !entry.manifest!.channels.includes(c));
    if (unknownChannels.length)
      details.push({
        path: `${pointer}/channels`,
        message: `${unknownChannels.join(", ")} not carried by ${config.use}`,
      });
    return details;
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
    if (connector) await broker.destroyService(connector);
    await host?.stop();
  }

  async function desired(): Promise<PluginInstanceConfig[]> {
    const fromConfig = config.plugins.filter((p) => p.enabled !== false);
    const stored = await runtime.store.models.PluginInstance.find({}).lean();
    const ids = new Set(fromConfig.map((p) => p.id));
    const fromApi = stored
      .filter((s) => !ids.has(s._id) && s.enabled !== false)
      .map((s) => ({
        id: s._id,
        use: s.use,
        options: s.options,
        ...(s.channels?.length ? { channels: s.channels } : {}),
      }));
    return [...fromConfig, ...fromApi];
  }

  /** Brings this node's instances in line with config + store. */
  async function sync(broker: ServiceBroker, reloadId?: string): Promise<void> {
    const want = await desired();
    const wantIds = new Set(want.map((w) => w.id));
    for (const id of [...registry.hosts.keys()]) if (!wantIds.has(id)) await unmount(broker, id);
    for (const instance of want) {
      const current = registry.hosts.get(instance.id);
      const changed = current && JSON.stringify(current.config) !== JSON.stringify(instance);
      if (current && !changed && reloadId !== instance.id) continue;
      if (current) await unmount(broker, instance.id);
      await mount(broker, instance);
    }
  }

  return {
    name: "plugins",
    actions: {
      list: {
        async handler(this: Service) {
          const out = [];
          for (const host of registry.hosts.values()) out.push({ ...host.describe(), health: await host.health() });
          const available = [...registry.catalog.values()].map((e) => ({
            name: e.name,
            ...(e.manifest
              ? { version: e.manifest.version, channels: e.manifest.channels }
              : { errors: e.errors.map((x) => x.message) }),
          }));
          return { instances: out, available };
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
          await runtime.store.models.PluginInstance.updateOne(
            { _id: instance.id },
            {
              $set: {
                use: instance.use,
                options: instance.options ?? {},
                channels: instance.channels ?? [],
                enabled: true,
                updatedAt: new Date(),
              },
            },
            { upsert: true },
          );
          await sync(this.broker, instance.id);
          ctx.emit("plugins.changed", { reloadId: instance.id }, { groups: ["plugins"] });
          return registry.hosts.get(instance.id)?.describe();
        },
      },
      reload: {
        async handler(this: Service, ctx: Context<{ id: string }>) {
          if (!registry.hosts.has(ctx.params.id))
            throw new Errors.MoleculerClientError(`no plugin instance "${ctx.params.id}"`, 404, "NotFound");
          registry.rescan();
          await sync(this.broker, ctx.params.id);
          ctx.broadcast("plugins.changed", { reloadId: ctx.params.id });
          return registry.hosts.get(ctx.params.id)?.describe();
        },
      },
      remove: {
        async handler(this: Service, ctx: Context<{ id: string }>) {
          if (config.plugins.some((p) => p.id === ctx.params.id)) {
            throw new Errors.MoleculerClientError(
              `plugin "${ctx.params.id}" is defined in the configuration file; remove it there`,
              409,
              "Conflict",
            );
          }
          const res = await runtime.store.models.PluginInstance.deleteOne({ _id: ctx.params.id });
          if (res.deletedCount === 0)
            throw new Errors.MoleculerClientError(`no plugin instance "${ctx.params.id}"`, 404, "NotFound");
          await sync(this.broker);
          ctx.broadcast("plugins.changed", {});
          return { removed: ctx.params.id };
        },
      },
      view: {
        async handler(ctx: Context<{ id: string; view: string }>) {
          const host = registry.hosts.get(ctx.params.id);
          if (!host) throw new Errors.MoleculerClientError(`no plugin instance "${ctx.params.id}"`, 404, "NotFound");
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
        async handler(this: Service, ctx: Context<{ reloadId?: string }>) {
          if (ctx.nodeID === this.broker.nodeID) return;
          registry.rescan();
          await sync(this.broker, ctx.params.reloadId);
        },
      },
    },
    async started(this: Service) {
      await sync(this.broker);
    },
    async stopped(this: Service) {
      for (const id of [...registry.hosts.keys()]) await unmount(this.broker, id);
    },
  };
}

export { PLUGINS_DIR };
