/**
 * Shared by the Cisco plugins: what a plugin that appends contacts to a Cisco campaign and
 * polls their results does whatever the dialer (UCCE/PCCE Outbound Option, UCCX): options
 * checked, the campaign of a send, the outbox and its flusher (batched appends), the
 * open-contact store, the result poller and the flush of a campaign. The plugin supplies its vendor's rows, sink and result source.
 */
import { randomBytes } from "node:crypto";
import type { CountryCode } from "libphonenumber-js";
import {
  isPluginError,
  PluginError,
  realTimers,
  redactText,
  type CanonicalEvent,
  type ChannelPlugin,
  type PluginContext,
  type PluginHealth,
  type SendRequest,
  type SendResult,
  type Timers,
} from "@dialmesh/sdk";
import { BatchDelivery, type AppendRow, type BatcherNames, type ContactSink } from "./batcher.ts";
import { OutboxFlusher, type Acceptance } from "./flusher.ts";
import { CiscoApiError, isTransient } from "./http.ts";
import { MemoryContactOutbox, MongoContactOutbox, type ContactOutbox } from "./outbox.ts";
import { ResultPoller, type ResultSource } from "./poller.ts";
import { MemoryOpenContactStore, MongoOpenContactStore, type OpenContactStore } from "./store.ts";

/** The options both Cisco plugins share (plugin.json says the same). */
export interface CiscoOutboundOptions {
  baseUrl: string;
  username: string;
  /** Secret. */
  password: string;
  /** Hub campaign id -> Cisco campaign id. */
  campaignMap?: Record<string, number>;
  defaultCampaign?: number;
  batchSize?: number;
  /** Default 2,000. */
  batchWindowMs?: number;
  /** Default 15,000. */
  pollIntervalMs?: number;
  /** Default US. */
  defaultRegion?: string;
}

/** What tests (and embedders) may replace. */
export interface CiscoOutboundDeps {
  timers?: Timers;
  now?: () => Date;
  /** Holder name of this process's poll leases and flusher terms. */
  nodeId?: string;
  /** Deliveries of one batch before its rows fail retryable (default 8). */
  maxAttempts?: number;
}

/** A Cisco plugin: a ChannelPlugin with the flush action, and a poll on demand. */
export interface CiscoOutboundPlugin extends ChannelPlugin {
  /**
   * Plugin actions (POST, with a JSON body). `flush` takes `{ campaign }`: a hub campaign id
   * of campaignMap or a Cisco campaign id.
   */
  actions: { flush(input: unknown): Promise<FlushResult> };
  /** Reads every open campaign's results now (what the interval does). */
  pollResults(): Promise<number>;
  /** Waits until the outbox deliveries under way on this node end (tests). */
  idle(): Promise<void>;
}

export interface FlushResult {
  campaignId: number;
  /** Activities ended CANCELLED: open at Cisco, or still in the outbox. */
  cancelled: number;
}

export interface OutboundNames extends BatcherNames {
  /** What a flush deletes, e.g. "imported contacts". */
  flushed: string;
}

export interface CiscoOutboundSetup<Row extends AppendRow, Contact> {
  names: OutboundNames;
  /** The largest batch the vendor takes. */
  maxBatchSize: number;
  sink: ContactSink<Row>;
  source: ResultSource<Contact>;
  /** The vendor's row for a send; throws a non-retryable PluginError when it cannot be dialed. */
  row(request: SendRequest, defaultRegion: CountryCode, now: Date): Row;
  /** Deletes every contact of the campaign at the vendor. */
  deleteAll(campaignId: number): Promise<void>;
}

export interface CiscoOutbound {
  send(request: SendRequest): Promise<SendResult>;
  flush(input: unknown): Promise<FlushResult>;
  pollResults(): Promise<number>;
  idle(): Promise<void>;
  /** `read` of every configured campaign, by id; a failure is `{ error }` (redacted). */
  perCampaign<T>(read: (campaignId: number) => Promise<T>): Promise<Record<string, T | { error: string }>>;
  /**
   * Health from `describe` of the first configured campaign (what the vendor says of it), with
   * the last send's auth failure and the last poll's failure; the password never in it.
   */
  health(describe: (campaignId: number) => Promise<string>): Promise<PluginHealth>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Throws INVALID_OPTIONS unless the options name a server, credentials and a campaign. */
export function checkOptions(plugin: string, opts: CiscoOutboundOptions): void {
  if (!opts.baseUrl || !opts.username || !opts.password) {
    throw new PluginError("INVALID_OPTIONS", `${plugin} needs baseUrl, username and password`);
  }
  if (opts.defaultCampaign === undefined && Object.keys(opts.campaignMap ?? {}).length === 0) {
    throw new PluginError("INVALID_OPTIONS", `${plugin} needs defaultCampaign or campaignMap`);
  }
}

export function createCiscoOutbound<Row extends AppendRow, Contact>(
  ctx: PluginContext<CiscoOutboundOptions>,
  setup: CiscoOutboundSetup<Row, Contact>,
  deps: CiscoOutboundDeps = {},
): CiscoOutbound {
  const opts = ctx.options;
  checkOptions(setup.names.plugin, opts);
  const campaignMap = opts.campaignMap ?? {};
  const defaultRegion = (opts.defaultRegion ?? "US") as CountryCode;
  const timers = deps.timers ?? realTimers;
  const now = deps.now ?? (() => new Date());
  const secrets = [opts.password];
  const redact = (text: string): string => redactText(text, secrets);
  const store: OpenContactStore = ctx.storage ? new MongoOpenContactStore(ctx.storage) : new MemoryOpenContactStore();
  if (!ctx.storage) {
    ctx.logger.warn(`${setup.names.plugin} has no hub storage: open contacts are kept in memory and lost on restart`);
  }
  const outbox: ContactOutbox<Row> = ctx.storage
    ? new MongoContactOutbox<Row>(ctx.storage)
    : new MemoryContactOutbox<Row>();
  const nodeId = deps.nodeId ?? `${process.pid}-${randomBytes(4).toString("hex")}`;
  let lastAuthFailure: string | undefined;
  const flusher: OutboxFlusher<Row> = new OutboxFlusher<Row>({
    outbox,
    store,
    delivery: new BatchDelivery<Row>({
      sink: setup.sink,
      names: setup.names,
      logger: ctx.logger,
      timers,
      stopping: () => flusher.isStopping,
      ...(deps.maxAttempts !== undefined ? { maxAttempts: deps.maxAttempts } : {}),
    }),
    names: setup.names,
    logger: ctx.logger,
    timers,
    now,
    nodeId,
    batchSize: Math.min(opts.batchSize ?? setup.maxBatchSize, setup.maxBatchSize),
    batchWindowMs: opts.batchWindowMs ?? 2000,
    emit: (events) => ctx.emit(events),
    redact,
    observe: (authFailure) => {
      lastAuthFailure = authFailure ? redact(authFailure.message) : undefined;
    },
  });
  const poller = new ResultPoller<Contact>({
    source: setup.source,
    store,
    logger: ctx.logger,
    emit: (events) => ctx.emit(events),
    now,
    nodeId,
    pollIntervalMs: opts.pollIntervalMs ?? 15_000,
    logName: "cisco",
  });

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

  /**
   * The contact goes into the outbox and the send is answered QUEUED; the flusher appends it
   * with its batch. Only a send whose row went out at once waits for Cisco's verdict.
   */
  async function send(request: SendRequest): Promise<SendResult> {
    const campaignId = ciscoCampaign(request);
    const row = setup.row(request, defaultRegion, now());
    let acceptance: Acceptance;
    try {
      acceptance = await flusher.accept(campaignId, row, request.activityId);
    } catch (err) {
      const error = isPluginError(err)
        ? err
        : new PluginError("CISCO_ERROR", `cisco ${setup.names.operation} failed`, { retryable: true });
      ctx.logger.warn("cisco send failed", {
        attemptId: request.attemptId,
        code: error.code,
        retryable: error.retryable,
        message: redact(error.message),
      });
      throw error;
    }
    const detail =
      acceptance === "appended"
        ? `appended to Cisco campaign ${campaignId}`
        : `accepted: appended to Cisco campaign ${campaignId} with its batch`;
    return { status: "QUEUED", vendorId: row.accountNumber, detail };
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
    const reason = `Cisco campaign ${campaignId} flushed: its ${setup.names.flushed} were deleted`;
    // The rows not appended yet end CANCELLED; an append under way would land after the
    // delete: cancel lets it finish first.
    const unsent = await flusher.cancel(campaignId, new PluginError("CAMPAIGN_FLUSHED", reason, { retryable: false }));
    try {
      await setup.deleteAll(campaignId);
    } catch (err) {
      if (err instanceof CiscoApiError) {
        throw new PluginError("FLUSH_FAILED", redact(err.message), { retryable: isTransient(err) });
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
    ctx.logger.info("cisco campaign flushed", { campaignId, cancelled: open.length, unsent });
    return { campaignId, cancelled: open.length + unsent };
  }

  /** Cisco campaigns this instance appends to, ascending. */
  function configuredCampaigns(): number[] {
    const ids = new Set(Object.values(campaignMap));
    if (opts.defaultCampaign !== undefined) ids.add(opts.defaultCampaign);
    return [...ids].sort((a, b) => a - b);
  }

  const errorText = (err: unknown): string => redact(err instanceof Error ? err.message : String(err));

  async function perCampaign<T>(
    read: (campaignId: number) => Promise<T>,
  ): Promise<Record<string, T | { error: string }>> {
    const out: Record<string, T | { error: string }> = {};
    for (const campaignId of configuredCampaigns()) {
      try {
        out[String(campaignId)] = await read(campaignId);
      } catch (err) {
        out[String(campaignId)] = { error: errorText(err) };
      }
    }
    return out;
  }

  async function health(describe: (campaignId: number) => Promise<string>): Promise<PluginHealth> {
    if (lastAuthFailure) return { ok: false, detail: lastAuthFailure };
    const [first] = configuredCampaigns();
    if (first === undefined) return { ok: false, detail: "no Cisco campaign configured" };
    try {
      const detail = await describe(first);
      const pollNote = poller.lastPollError ? `; last result poll failed: ${poller.lastPollError}` : "";
      return { ok: true, detail: redact(`${detail}${pollNote}`) };
    } catch (err) {
      return { ok: false, detail: errorText(err) };
    }
  }

  return {
    send,
    flush,
    pollResults: () => poller.pollOnce(),
    idle: () => flusher.idle(),
    perCampaign,
    health,
    async start() {
      await store.init();
      await outbox.init();
      poller.start((fn, ms) => timers.setTimer(fn, ms));
      flusher.start();
    },
    async stop() {
      await poller.stop();
      await flusher.stop();
    },
  };
}
