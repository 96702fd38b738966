/**
 * A loaded plugin instance, isolated: its options are validated against its own schema,
 * calls are bounded by timeouts, anything it throws becomes a typed failure with secrets
 * redacted, and a plugin that fails to load only fails its own activities.
 */
import path from "node:path";
import { pathToFileURL } from "node:url";
import { mkdirSync } from "node:fs";
import type { Db } from "mongodb";
import type {
  CanonicalEvent,
  ChannelPlugin,
  ConversationLookup,
  InboundRequest,
  InboundResult,
  Logger,
  PluginFactory,
  PluginHealth,
  PluginManifest,
  RateLimiter,
  SendRequest,
  VoiceControl,
} from "@dialmesh/sdk";
import { PluginError, isPluginError } from "@dialmesh/sdk";
import { isAttemptStatus } from "@dialmesh/sdk";
import { createAjv, toDetails, type ValidationDetail } from "../validation/json-schema.ts";
import type { SendOutcome } from "../ccm/ports.ts";
import type { CatalogEntry } from "./catalog.ts";
import { redactOptions, redactText, secretValues } from "@dialmesh/sdk";
import type { PluginInstanceConfig } from "../config/types.ts";
import { pluginStorage } from "./storage.ts";
import { instanceChannels } from "./channels.ts";
import { resolveSdkFromHub } from "./sdk-resolution.ts";
import { withHubDefaults, type HubPluginDefaults } from "./hub-options.ts";

export type InstanceState = "starting" | "ready" | "failed" | "stopped";

export interface HostEnvironment {
  publicUrl: string;
  dataDir: string;
  logger: (instanceId: string) => Logger;
  rateLimiter: RateLimiter;
  conversations: ConversationLookup;
  emit: (instanceId: string, events: CanonicalEvent[]) => Promise<void>;
  /** The hub's database; each plugin gets a scope of its own in it (see storage.ts). */
  db?: Db;
  /** Hub-wide settings merged into the options of plugins that declare them (see hub-options.ts). */
  hubDefaults?: HubPluginDefaults;
  sendTimeoutMs?: number;
}

export class PluginConfigError extends Error {
  readonly details: ValidationDetail[];
  constructor(message: string, details: ValidationDetail[]) {
    super(`${message}\n${details.map((d) => `  ${d.path || "/"} ${d.message}`).join("\n")}`);
    this.name = "PluginConfigError";
    this.details = details;
  }
}

const ajv = createAjv();

/** Validates instance options against the plugin's schema; pointers are relative to the config file. */
export function validateInstanceOptions(
  manifest: PluginManifest,
  config: PluginInstanceConfig,
  pointer: string,
): ValidationDetail[] {
  const validate = ajv.compile(manifest.optionsSchema);
  return validate(config.options ?? {})
    ? []
    : toDetails(validate.errors).map((d) => ({ path: `${pointer}/options${d.path}`, message: d.message }));
}

/**
 * `retryable`: whether the call may simply be made again. A send that timed out may have reached
 * the vendor (the plugin is still at it), so it is not: a retry is a new attempt, a second message.
 */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string, retryable = true): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const detail = retryable ? "" : "; the vendor may have it, so it is not retried (that could send twice)";
      reject(new PluginError("PLUGIN_TIMEOUT", `${what} did not answer within ${ms} ms${detail}`, { retryable }));
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export class PluginHost {
  readonly id: string;
  readonly config: PluginInstanceConfig;
  readonly manifest: PluginManifest;
  readonly channels: string[];
  state: InstanceState = "starting";
  lastError: string | undefined;
  private plugin: ChannelPlugin | undefined;
  private readonly secrets: string[];
  private readonly env: HostEnvironment;
  private readonly entry: CatalogEntry;

  constructor(entry: CatalogEntry, config: PluginInstanceConfig, env: HostEnvironment) {
    if (!entry.manifest) throw new Error(`plugin ${entry.name} has no valid manifest`);
    this.entry = entry;
    this.manifest = entry.manifest;
    this.id = config.id;
    this.config = config;
    this.env = env;
    this.channels = instanceChannels(this.manifest, config).channels;
    this.secrets = secretValues(config.options ?? {}, this.manifest.secretOptions);
  }

  /** The plugin's live call control, when it drives a switch itself (the dialer paces its calls). */
  get voice(): VoiceControl | undefined {
    return this.state === "ready" ? this.plugin?.voice : undefined;
  }

  get idempotentSend(): boolean {
    return this.manifest.capabilities.idempotentSend === true;
  }

  /** Imports and starts the plugin; failures leave the instance `failed` with a reason. */
  async start(cacheBust?: string): Promise<void> {
    try {
      resolveSdkFromHub();
      const entryUrl =
        pathToFileURL(path.join(this.entry.dir, this.manifest.entry)).href + (cacheBust ? `?v=${cacheBust}` : "");
      const mod = (await import(entryUrl)) as { default?: PluginFactory<Record<string, unknown>> };
      if (typeof mod.default !== "function")
        throw new Error(`${this.manifest.entry} has no default export plugin factory`);
      const dataDir = path.join(this.env.dataDir, "plugins", this.id);
      mkdirSync(dataDir, { recursive: true });
      const logger = this.redactingLogger(this.env.logger(this.id));
      this.plugin = await mod.default({
        instanceId: this.id,
        options: withHubDefaults(this.manifest, structuredClone(this.config.options ?? {}), this.env.hubDefaults ?? {}),
        logger,
        webhookUrl: `${this.env.publicUrl.replace(/\/$/, "")}/webhooks/${this.id}`,
        dataDir,
        rateLimiter: this.env.rateLimiter,
        conversations: this.env.conversations,
        emit: (events) => this.env.emit(this.id, events),
        ...(this.env.db ? { storage: pluginStorage(this.env.db, this.id) } : {}),
      });
      await withTimeout(this.plugin.start?.() ?? Promise.resolve(), 60_000, `plugin ${this.id} start`);
      this.state = "ready";
      this.lastError = undefined;
    } catch (err) {
      this.state = "failed";
      this.lastError = this.clean((err as Error).message ?? String(err));
      this.env
        .logger(this.id)
        .error("plugin failed to start; its activities fail until it is fixed", { error: this.lastError });
    }
  }

  async stop(): Promise<void> {
    const plugin = this.plugin;
    this.state = "stopped";
    this.plugin = undefined;
    if (plugin?.stop) await withTimeout(plugin.stop(), 10_000, `plugin ${this.id} stop`).catch(() => undefined);
  }

  async send(request: SendRequest): Promise<SendOutcome> {
    const plugin = this.plugin;
    if (this.state !== "ready" || !plugin) {
      return {
        ok: false,
        error: {
          code: "PLUGIN_UNAVAILABLE",
          message: `plugin ${this.id} is ${this.state}${this.lastError ? `: ${this.lastError}` : ""}`,
          retryable: true,
          status: "FAILED",
          optOut: false,
        },
      };
    }
    try {
      const result = await withTimeout(
        plugin.send(request),
        this.env.sendTimeoutMs ?? 20_000,
        `plugin ${this.id} send`,
        false,
      );
      if (!result || typeof result.vendorId !== "string" || !result.vendorId || !isAttemptStatus(result.status)) {
        return {
          ok: false,
          error: {
            code: "PLUGIN_CONTRACT",
            message: `plugin ${this.id} returned no vendor id or an unknown status`,
            retryable: false,
            status: "FAILED",
            optOut: false,
          },
        };
      }
      return { ok: true, result };
    } catch (err) {
      if (isPluginError(err)) {
        return {
          ok: false,
          error: {
            code: err.code,
            message: this.clean(err.message),
            retryable: err.retryable,
            status: err.status,
            optOut: err.optOut,
            ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}),
          },
        };
      }
      return {
        ok: false,
        error: {
          code: "PLUGIN_ERROR",
          message: this.clean((err as Error)?.message ?? String(err)),
          retryable: true,
          status: "FAILED",
          optOut: false,
        },
      };
    }
  }

  async inbound(request: InboundRequest): Promise<InboundResult> {
    if (this.state !== "ready" || !this.plugin?.handleInbound) {
      return { response: { status: this.plugin?.handleInbound ? 503 : 404, body: "" }, events: [] };
    }
    return withTimeout(this.plugin.handleInbound(request), 15_000, `plugin ${this.id} webhook`);
  }

  async health(): Promise<PluginHealth & { state: InstanceState }> {
    if (this.state !== "ready" || !this.plugin)
      return { ok: false, state: this.state, ...(this.lastError ? { detail: this.lastError } : {}) };
    try {
      const h = await withTimeout(this.plugin.health(), 5_000, `plugin ${this.id} health`);
      return { ok: h.ok, state: this.state, ...(h.detail ? { detail: this.clean(h.detail) } : {}) };
    } catch (err) {
      return { ok: false, state: this.state, detail: this.clean((err as Error).message) };
    }
  }

  async view(name: string): Promise<unknown> {
    const fn = this.plugin?.views?.[name];
    if (!fn) return undefined;
    return fn();
  }

  /** Runs a plugin action; undefined when the plugin has none of that name. */
  async action(name: string, input: unknown): Promise<{ found: false } | { found: true; result: unknown }> {
    const fn = Object.hasOwn(this.plugin?.actions ?? {}, name) ? this.plugin?.actions?.[name] : undefined;
    if (!fn) return { found: false };
    return { found: true, result: await withTimeout(fn(input), 60_000, `plugin ${this.id} action ${name}`) };
  }

  describe(): Record<string, unknown> {
    return {
      id: this.id,
      use: this.manifest.name,
      version: this.manifest.version,
      channels: this.channels,
      capabilities: this.manifest.capabilities,
      state: this.state,
      views: Object.keys(this.plugin?.views ?? {}),
      actions: Object.keys(this.plugin?.actions ?? {}),
      options: redactOptions(this.config.options ?? {}, this.manifest.secretOptions),
      ...(this.lastError ? { error: this.lastError } : {}),
    };
  }

  private clean(text: string): string {
    return redactText(text, this.secrets);
  }

  private redactingLogger(inner: Logger): Logger {
    const scrub = (data?: Record<string, unknown>) =>
      data ? (JSON.parse(this.clean(JSON.stringify(data))) as Record<string, unknown>) : undefined;
    return {
      debug: (m, d) => inner.debug(this.clean(m), scrub(d)),
      info: (m, d) => inner.info(this.clean(m), scrub(d)),
      warn: (m, d) => inner.warn(this.clean(m), scrub(d)),
      error: (m, d) => inner.error(this.clean(m), scrub(d)),
    };
  }
}
