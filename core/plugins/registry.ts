/**
 * This node's plugin instances and the routing over them. The routing table is built from the
 * configuration's `routing` and the set of instances that should run (config + API), so it never
 * depends on which instance loaded or reloaded first; what this node knows of each instance
 * (loaded, failed, healthy) decides only which of the table's candidates an attempt may use.
 */
import type { PluginInstanceConfig } from "../config/types.ts";
import { discoverPlugins, type CatalogEntry } from "./catalog.ts";
import { validateInstanceOptions, type PluginHost } from "./host.ts";
import { instanceChannels } from "./channels.ts";
import type { ValidationDetail } from "../validation/json-schema.ts";
import { buildRoutingTable, type RoutableInstance, type RoutingConfig, type RoutingTable } from "../routing/table.ts";
import { planRoute, type InstanceStatus, type RoutePlan } from "../routing/plan.ts";
import { INITIAL_HEALTH, nextHealth, type HealthEvent, type HealthState } from "../routing/health.ts";
import type { ChannelRoute } from "../routing/strategies.ts";

export interface RegistryOptions {
  routing: RoutingConfig;
  /** Sends in a row failing over before an instance counts as unhealthy. */
  failureThreshold: number;
}

export class PluginRegistry {
  /** Instances mounted on this node. */
  readonly hosts = new Map<string, PluginHost>();
  catalog: Map<string, CatalogEntry>;
  /** Resolves once this node has loaded its instances for the first time: dispatch waits for it. */
  readonly loaded: Promise<void>;
  private markLoaded!: () => void;
  private readonly dir: string;
  private readonly opts: RegistryOptions;
  private wanted: PluginInstanceConfig[] = [];
  /** The channels of each wanted instance, computed once per change (intake reads it per request). */
  private wantedChannels = new Map<string, string[]>();
  private table: RoutingTable = new Map();
  private readonly health = new Map<string, HealthState>();
  private readonly turns = new Map<string, number>();

  constructor(dir: string, opts: RegistryOptions) {
    this.dir = dir;
    this.opts = opts;
    this.catalog = discoverPlugins(dir);
    this.loaded = new Promise((resolve) => (this.markLoaded = resolve));
  }

  rescan(): void {
    this.catalog = discoverPlugins(this.dir);
  }

  /** Called after the first full load of this node's instances. */
  loadedOnce(): void {
    this.markLoaded();
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
    else if (details.length === 0) details.push(...instanceChannels(entry.manifest, config, pointer).problems);
    return details;
  }

  /** The routing table `instances` would give, and what is wrong with it. */
  plan(instances: readonly PluginInstanceConfig[]): { table: RoutingTable; problems: ValidationDetail[] } {
    return buildRoutingTable(this.opts.routing, this.routable(instances));
  }

  /** The instances that should run, in force for routing from now on. */
  setWanted(instances: readonly PluginInstanceConfig[]): ValidationDetail[] {
    this.wanted = [...instances];
    this.wantedChannels = this.instances(instances);
    const { table, problems } = this.plan(instances);
    this.table = table;
    for (const id of this.health.keys()) if (!instances.some((i) => i.id === id)) this.health.delete(id);
    return problems;
  }

  get wantedInstances(): readonly PluginInstanceConfig[] {
    return this.wanted;
  }

  /** The instances to try for one attempt on `channel`, in order (see core/routing/plan.ts). */
  route(channel: string, pinned?: string): RoutePlan {
    const turn = this.turns.get(channel) ?? 0;
    if (!pinned) this.turns.set(channel, turn + 1);
    return planRoute(this.table, channel, (id) => this.status(id), turn, pinned);
  }

  /** Whether the instance drives a switch itself: its voice calls are paced by the dialer service. */
  paced(pluginId: string): boolean {
    return this.hosts.get(pluginId)?.voice !== undefined;
  }

  idempotentSend(pluginId: string): boolean {
    return this.hosts.get(pluginId)?.idempotentSend ?? false;
  }

  observe(pluginId: string, event: HealthEvent): void {
    const state = this.health.get(pluginId) ?? INITIAL_HEALTH;
    this.health.set(pluginId, nextHealth(state, event, this.opts.failureThreshold));
  }

  healthOf(pluginId: string): HealthState {
    return this.health.get(pluginId) ?? INITIAL_HEALTH;
  }

  /** Channels some instance carries. */
  channels(): Set<string> {
    return new Set([...this.table].filter(([, r]) => r.plugins.length > 0).map(([c]) => c));
  }

  /** Enabled instances (of `instances`, default those in force) and the channels each carries. */
  instances(instances?: readonly PluginInstanceConfig[]): Map<string, string[]> {
    if (!instances) return this.wantedChannels;
    return new Map(this.routable(instances).map((i) => [i.id, [...i.channels]]));
  }

  routingView(): Record<string, ChannelRoute> {
    return Object.fromEntries([...this.table].sort(([a], [b]) => a.localeCompare(b)));
  }

  private status(id: string): InstanceStatus | undefined {
    if (!this.wanted.some((w) => w.id === id)) return undefined;
    const host = this.hosts.get(id);
    if (!host || host.state === "starting" || host.state === "stopped") return { loaded: false, idempotentSend: false };
    if (host.state === "failed")
      return { loaded: true, unusable: `failed to load: ${host.lastError ?? "unknown"}`, idempotentSend: false };
    const health = this.healthOf(id);
    return {
      loaded: true,
      idempotentSend: host.idempotentSend,
      ...(health.ok ? {} : { unhealthy: health.detail ?? "health check failed" }),
    };
  }

  private routable(instances: readonly PluginInstanceConfig[]): RoutableInstance[] {
    const out: RoutableInstance[] = [];
    for (const instance of instances) {
      if (instance.enabled === false) continue;
      const manifest = this.catalog.get(instance.use)?.manifest;
      if (manifest) out.push({ id: instance.id, channels: instanceChannels(manifest, instance).channels });
    }
    return out;
  }
}
