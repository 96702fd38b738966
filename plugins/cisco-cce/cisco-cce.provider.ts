/**
 * cisco-cce: Cisco UCCE/PCCE Outbound Option. The hub does not dial: it appends each voice
 * activity as a contact of a Cisco campaign (Import API at the AW, batched), Cisco's dialer
 * works it, and the plugin reads the result back from the campaign's import list.
 *
 * - send() resolves QUEUED with vendorId = the AccountNumber (the attemptId) once Cisco
 *   accepted the contact's import (see cisco-cce.batcher.ts);
 * - results are `call-result` (or `status`) events through ctx.emit (cisco-cce.results.ts);
 * - actions.flush({ campaign }) deletes a campaign's imported contacts and ends the
 *   activities still open there CANCELLED;
 * - views.runtimestats shows the campaigns' runtime counters.
 */
import { randomBytes } from "node:crypto";
import type { CountryCode } from "libphonenumber-js";
import {
  definePlugin,
  isPluginError,
  PluginError,
  redactText,
  type CanonicalEvent,
  type ChannelPlugin,
  type PluginContext,
  type PluginHealth,
  type SendRequest,
  type SendResult,
} from "@dialmesh/sdk";
import { CiscoApiError, CiscoAwClient } from "./cisco-cce.api.ts";
import { ImportBatcher, realTimers, type Timers } from "./cisco-cce.batcher.ts";
import { contactRow } from "./cisco-cce.contacts.ts";
import { ResultPoller } from "./cisco-cce.results.ts";
import { MemoryOpenContactStore, MongoOpenContactStore, type OpenContactStore } from "./cisco-cce.store.ts";

export interface CiscoCceOptions {
  baseUrl: string;
  username: string;
  /** Secret. */
  password: string;
  /** Hub campaign id -> Cisco campaign id. */
  campaignMap?: Record<string, number>;
  defaultCampaign?: number;
  /** At most 10,000 (Cisco's limit per import). Default 10,000. */
  batchSize?: number;
  /** Default 2,000. */
  batchWindowMs?: number;
  /** Default 15,000. */
  pollIntervalMs?: number;
  /** Default US. */
  defaultRegion?: string;
}

export const MAX_BATCH_SIZE = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;

/** What tests (and embedders) may replace. */
export interface CiscoCceDeps {
  timers?: Timers;
  now?: () => Date;
  /** Holder name of this process's poll leases. */
  nodeId?: string;
  /** Deliveries of one batch before its sends fail retryable. */
  maxAttempts?: number;
}

export interface FlushResult {
  campaignId: number;
  /** Activities ended CANCELLED. */
  cancelled: number;
}

export interface CiscoCcePlugin extends ChannelPlugin {
  /**
   * Plugin actions (POST, with a JSON body). `flush` takes `{ campaign }`: a hub campaign id
   * of campaignMap or a Cisco campaign id.
   */
  actions: { flush(input: unknown): Promise<FlushResult> };
  /** Reads every open campaign's results now (what the interval does). */
  pollResults(): Promise<number>;
}

export function createCiscoCce(ctx: PluginContext<CiscoCceOptions>, deps: CiscoCceDeps = {}): CiscoCcePlugin {
  const opts = ctx.options;
  if (!opts.baseUrl || !opts.username || !opts.password) {
    throw new PluginError("INVALID_OPTIONS", "cisco-cce needs baseUrl, username and password");
  }
  const campaignMap = opts.campaignMap ?? {};
  if (opts.defaultCampaign === undefined && Object.keys(campaignMap).length === 0) {
    throw new PluginError("INVALID_OPTIONS", "cisco-cce needs defaultCampaign or campaignMap");
  }
  const batchSize = Math.min(opts.batchSize ?? MAX_BATCH_SIZE, MAX_BATCH_SIZE);
  const defaultRegion = (opts.defaultRegion ?? "US") as CountryCode;
  const timers = deps.timers ?? realTimers;
  const now = deps.now ?? (() => new Date());
  const secrets = [opts.password];
  const client = new CiscoAwClient({
    baseUrl: opts.baseUrl,
    username: opts.username,
    password: opts.password,
    timeoutMs: REQUEST_TIMEOUT_MS,
  });
  const store: OpenContactStore = ctx.storage ? new MongoOpenContactStore(ctx.storage) : new MemoryOpenContactStore();
  if (!ctx.storage) {
    ctx.logger.warn("cisco-cce has no hub storage: open contacts are kept in memory and lost on restart");
  }
  const batcher = new ImportBatcher({
    client,
    store,
    logger: ctx.logger,
    timers,
    batchSize,
    batchWindowMs: opts.batchWindowMs ?? 2000,
    now: () => now().getTime(),
    ...(deps.maxAttempts !== undefined ? { maxAttempts: deps.maxAttempts } : {}),
  });
  const poller = new ResultPoller({
    client,
    store,
    logger: ctx.logger,
    emit: (events) => ctx.emit(events),
    now,
    nodeId: deps.nodeId ?? `${process.pid}-${randomBytes(4).toString("hex")}`,
    pollIntervalMs: opts.pollIntervalMs ?? 15_000,
  });
  let lastAuthFailure: string | undefined;

  function ciscoCampaign(request: SendRequest): number {
    const mapped = request.campaignId !== undefined ? campaignMap[request.campaignId] : undefined;
    const campaignId = mapped ?? opts.defaultCampaign;
    if (campaignId === undefined) {
      throw new PluginError(
        "NO_CISCO_CAMPAIGN",
        `no Cisco campaign for hub campaign ${request.campaignId ?? "(none)"}: add it to campaignMap or set defaultCampaign`,
      );
    }
    return campaignId;
  }

  async function send(request: SendRequest): Promise<SendResult> {
    const campaignId = ciscoCampaign(request);
    const row = contactRow(request, defaultRegion, now());
    try {
      await batcher.enqueue(campaignId, row);
    } catch (err) {
      const error = isPluginError(err)
        ? err
        : new PluginError("CISCO_ERROR", "cisco import failed", { retryable: true });
      if (error.code === "AUTH_FAILED") lastAuthFailure = error.message;
      ctx.logger.warn("cisco send failed", {
        attemptId: request.attemptId,
        code: error.code,
        retryable: error.retryable,
        message: redactText(error.message, secrets),
      });
      throw error;
    }
    lastAuthFailure = undefined;
    return { status: "QUEUED", vendorId: row.accountNumber, detail: `appended to Cisco campaign ${campaignId}` };
  }

  function flushTarget(input: unknown): number {
    const campaign =
      typeof input === "object" && input !== null ? (input as { campaign?: unknown }).campaign : undefined;
    if (typeof campaign === "string" && campaignMap[campaign] !== undefined) return campaignMap[campaign];
    const asNumber = typeof campaign === "number" ? campaign : typeof campaign === "string" ? Number(campaign) : NaN;
    if (Number.isInteger(asNumber) && asNumber > 0) return asNumber;
    throw new PluginError(
      "INVALID_INPUT",
      "flush needs { campaign }: a hub campaign id of campaignMap or a Cisco campaign id",
    );
  }

  async function flush(input: unknown): Promise<FlushResult> {
    const campaignId = flushTarget(input);
    const reason = `Cisco campaign ${campaignId} flushed: its imported contacts were deleted`;
    batcher.drop(campaignId, new PluginError("CAMPAIGN_FLUSHED", reason, { retryable: false }));
    // An import under way would land after the delete: let it finish first.
    await batcher.idle();
    try {
      await client.deleteContacts(campaignId);
    } catch (err) {
      if (err instanceof CiscoApiError) {
        throw new PluginError("FLUSH_FAILED", redactText(err.message, secrets), {
          retryable: err.kind === "unavailable" || err.kind === "not-sent" || err.kind === "answer-lost",
        });
      }
      throw err;
    }
    const open = await store.openIn(campaignId);
    const at = now();
    const events: CanonicalEvent[] = open.map((accountNumber) => ({
      kind: "status",
      vendorId: accountNumber,
      status: "CANCELLED",
      raw: "flushed",
      reasonCode: "CAMPAIGN_FLUSHED",
      reason,
      retryable: false,
      at,
    }));
    if (events.length > 0) await ctx.emit(events);
    await store.close(open);
    ctx.logger.info("cisco campaign flushed", { campaignId, cancelled: open.length });
    return { campaignId, cancelled: open.length };
  }

  /** Cisco campaigns this instance appends to. */
  function configuredCampaigns(): number[] {
    const ids = new Set(Object.values(campaignMap));
    if (opts.defaultCampaign !== undefined) ids.add(opts.defaultCampaign);
    return [...ids].sort((a, b) => a - b);
  }

  async function runtimeStats(): Promise<Record<string, Record<string, number> | { error: string }>> {
    const out: Record<string, Record<string, number> | { error: string }> = {};
    for (const campaignId of configuredCampaigns()) {
      try {
        out[String(campaignId)] = await client.runtimeStats(campaignId);
      } catch (err) {
        out[String(campaignId)] = { error: redactText(err instanceof Error ? err.message : String(err), secrets) };
      }
    }
    return out;
  }

  async function health(): Promise<PluginHealth> {
    if (lastAuthFailure) return { ok: false, detail: lastAuthFailure };
    const [first] = configuredCampaigns();
    if (first === undefined) return { ok: false, detail: "no Cisco campaign configured" };
    try {
      const stats = await client.runtimeStats(first);
      const counters = ["attemptedCount", "voiceCount", "busyCount", "answeringMachineCount", "abandonDetectCount"]
        .filter((name) => stats[name] !== undefined)
        .map((name) => `${name}=${stats[name]}`)
        .join(", ");
      const pollNote = poller.lastPollError ? `; last result poll failed: ${poller.lastPollError}` : "";
      return {
        ok: true,
        detail: redactText(`AW reachable; campaign ${first}${counters ? `: ${counters}` : ""}${pollNote}`, secrets),
      };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return { ok: false, detail: redactText(message, secrets) };
    }
  }

  return {
    send,
    health,
    views: { runtimestats: runtimeStats },
    actions: { flush },
    pollResults: () => poller.pollOnce(),
    async start() {
      await store.init();
      poller.start((fn, ms) => timers.setTimer(fn, ms));
    },
    async stop() {
      await poller.stop();
      await batcher.stop();
    },
  };
}

export default definePlugin<CiscoCceOptions>((ctx) => createCiscoCce(ctx));
