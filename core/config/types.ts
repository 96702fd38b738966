/** The hub configuration, as described by schemas/hub-config.schema.json. */
import type { AttemptStatus } from "@dialmesh/sdk";
import type { RoutingConfig } from "../routing/table.ts";
import type { RetentionConfig } from "../privacy/retention.ts";

export type Role = "admin" | "writer" | "reader";

export interface ApiKeyConfig {
  id: string;
  key: string;
  roles: Role[];
}

export interface FallbackStep {
  channel: string;
  /** ISO-8601 duration after the previous step's dispatch. */
  after?: string;
  /** The previous attempt reaching this status makes the step unnecessary. */
  unless?: AttemptStatus;
  /** Send this step through this plugin instance rather than by the channel's routing. */
  pluginId?: string;
}

export interface FallbackPolicy {
  steps: FallbackStep[];
}

export interface PluginInstanceConfig {
  id: string;
  use: string;
  enabled?: boolean;
  channels?: string[];
  options?: Record<string, unknown>;
}

export interface HubConfig {
  api: {
    port: number;
    host?: string;
    publicUrl: string;
    keys?: ApiKeyConfig[];
    maxBatch: number;
    bodyLimit: string;
    /** A filter preview gives up after this (a 504 that says why), before the request timeout. */
    previewTimeoutMs: number;
  };
  store?: {
    mongoUrl?: string;
    database?: string;
    /** The embedded FerretDB's SQLite `synchronous` (see core/infra/processes.ts); default "normal". */
    embeddedSynchronous?: "normal" | "full";
  };
  transporter: string | null;
  nodeId?: string;
  dataDir: string;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace";
  scheduler: {
    pollIntervalMs: number;
    /** Work due within this many ms is claimed now and sent at its time (at most leaseMs / 4). */
    claimAheadMs: number;
    batchSize: number;
    concurrency: number;
    leaseMs: number;
    maxRetries: number;
    retryBaseMs: number;
  };
  plugins: PluginInstanceConfig[];
  /** Per channel: which instances carry it and the strategy between them (see core/routing). */
  routing: RoutingConfig;
  pluginHealth: { intervalMs: number; failureThreshold: number };
  /** How often each node compares its plugin instances with the stored set. */
  pluginSync: { intervalMs: number };
  /** The internal voice dialer: pulse period, campaign lease, default campaign of voice activities. */
  dialer: { pulseMs: number; leaseMs: number; defaultCampaign: string | null };
  fallbacks: Record<string, FallbackPolicy>;
  webhooks: {
    allowPrivateNetworks: boolean;
    maxAttempts: number;
    pollIntervalMs: number;
    backoff?: { baseDelayMs?: number; factor?: number; maxDelayMs?: number; jitter?: number };
  };
  compliance: {
    honourSuppressionOn?: string[];
    optOutKeywords?: Record<string, { optOut?: string[]; optIn?: string[] }>;
  };
  /** How long each kind of data is kept, and the purge job that enforces it (core/privacy). */
  retention: RetentionConfig;
}
