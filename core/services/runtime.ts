/** What every service on one node shares: config, the store and its repositories, metrics. */
import type { ServiceBroker } from "moleculer";
import type { ApiKeyConfig, HubConfig } from "../config/types.ts";
import type { PluginRegistry } from "../plugins/registry.ts";
import type { SecretBox } from "../store/secret-box.ts";
import type { KeyedHash } from "../privacy/keyed-hash.ts";

export type HubSecrets = SecretBox & { keyedHash: KeyedHash };
import type { Store } from "../store/connection.ts";
import { ActivityStore } from "../store/activities.ts";
import { ConversationStore } from "../store/conversations.ts";
import { SuppressionStore } from "../store/suppressions.ts";
import { DncStore } from "../store/dnc.ts";
import { ConsentStore } from "../store/consent.ts";
import { SharedRateLimiter } from "../store/rate-limiter.ts";
import { ClaimStore } from "../store/claims.ts";
import { HubMetrics } from "./metrics.ts";
import type { Logger } from "@dialmesh/sdk";
import type { Logger as MoleculerLogger } from "moleculer";

export interface HubRuntime {
  config: HubConfig;
  /** This node's plugin instances and the routing over them. */
  registry: PluginRegistry;
  /** API keys in force (config keys, or the generated admin key). */
  keys: readonly ApiKeyConfig[];
  /**
   * Seals secrets at rest (webhook secrets, secret options of API-added plugins); its keyed hash
   * stands in for what erasure must not keep in clear (core/privacy/keyed-hash.ts).
   */
  secrets: HubSecrets;
  nodeId: string;
  store: Store;
  activities: ActivityStore;
  conversations: ConversationStore;
  suppressions: SuppressionStore;
  /** DNC lists, checked before every attempt of an activity that names them. */
  dnc: DncStore;
  /** Consent records and objections, checked before every attempt. */
  consents: ConsentStore;
  rateLimiter: SharedRateLimiter;
  metrics: HubMetrics;
  /** Plugins folder (tests point it elsewhere). */
  pluginsDir?: string;
}

export function createRuntime(
  config: HubConfig,
  nodeId: string,
  store: Store,
  registry: PluginRegistry,
  keys: readonly ApiKeyConfig[],
  secrets: HubSecrets,
  pluginsDir?: string,
): HubRuntime {
  return {
    config,
    registry,
    keys,
    secrets,
    nodeId,
    store,
    activities: new ActivityStore(store.models, new ClaimStore(store.conn)),
    conversations: new ConversationStore(store.models),
    suppressions: new SuppressionStore(store.models, secrets.keyedHash),
    dnc: new DncStore(store.conn),
    consents: new ConsentStore(store.conn, secrets.keyedHash),
    rateLimiter: new SharedRateLimiter(store.models),
    metrics: new HubMetrics(),
    ...(pluginsDir ? { pluginsDir } : {}),
  };
}

/** Moleculer's logger as the SDK's structured logger. */
export function sdkLogger(logger: MoleculerLogger): Logger {
  const fmt = (msg: string, data?: Record<string, unknown>) => (data ? [msg, data] : [msg]);
  return {
    debug: (m, d) => logger.debug(...fmt(m, d)),
    info: (m, d) => logger.info(...fmt(m, d)),
    warn: (m, d) => logger.warn(...fmt(m, d)),
    error: (m, d) => logger.error(...fmt(m, d)),
  };
}

/**
 * The runtime of the node a broker belongs to. Services are classes the broker (or
 * moleculer-runner) instantiates with only the broker: the broker's `created` hook in
 * moleculer.config.ts attaches the runtime, and each service reads it here.
 */
const runtimes = new WeakMap<ServiceBroker, HubRuntime>();

export function attachRuntime(broker: ServiceBroker, runtime: HubRuntime): void {
  runtimes.set(broker, runtime);
}

export function runtimeOf(broker: ServiceBroker): HubRuntime {
  const runtime = runtimes.get(broker);
  if (!runtime)
    throw new Error("no Dialmesh runtime on this broker: create it with the options of moleculer.config.ts");
  return runtime;
}
