/**
 * five9: hands voice activities to Five9's dialer through the Configuration Web Services
 * (SOAP, v13). The hub does not dial: send() puts the customer in a Five9 dialing list
 * (five9.sender.ts), Five9's campaign calls, and a Web Connector POSTs each disposition to
 * /webhooks/<instanceId>, which handleInbound() maps to call results (five9.mapping.ts).
 *
 * - send() resolves QUEUED with vendorId = the record key = the attemptId;
 * - actions.flush({ list } | { campaign }) empties a list (deleteAllFromList) and ends the
 *   activities still open there CANCELLED;
 * - views.counters shows the domain's call counters (getCallCountersState).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import {
  definePlugin,
  isPluginError,
  PluginError,
  realTimers,
  redactText,
  type CanonicalEvent,
  type ChannelPlugin,
  type InboundRequest,
  type InboundResult,
  type PluginContext,
  type PluginHealth,
  type SendRequest,
  type SendResult,
  type Timers,
} from "@dialmesh/sdk";
import {
  dispositionEvents,
  readDispositionFields,
  recordLayout,
  recordValues,
  type CallCounter,
  type DispositionTarget,
} from "./five9.mapping.ts";
import { RecordSender } from "./five9.sender.ts";
import { Five9AdminClient, Five9Error } from "./five9.soap.ts";
import { MemoryOpenRecordStore, MongoOpenRecordStore, type OpenRecordStore } from "./five9.store.ts";

export interface Five9Options {
  /** The AdminWebService URL, e.g. https://api.five9.com/wsadmin/v13/AdminWebService. */
  endpoint?: string;
  /** Or the API origin (https://api.five9.com); the v13 path is added. */
  baseUrl?: string;
  username: string;
  /** Secret. */
  password: string;
  /** Hub campaign id -> Five9 dialing list name. */
  listMap?: Record<string, string>;
  defaultList?: string;
  /** Secret the Web Connector sends (URL query `secret` or header X-Dialmesh-Secret). */
  webhookSecret: string;
  /** Country of the lists' numbers (settings countryCode). Default US. */
  countryCode?: string;
  /** Contact field holding the record key (the attemptId). Default dialmesh_key. */
  keyField?: string;
  /** Contact field holding the hub's activity id. Default dialmesh_activity. */
  activityField?: string;
  /** Records per asyncAddRecordsToList, at most 100. Default 100. */
  batchSize?: number;
  /** How long a burst's record waits for others. Default 1,000. */
  batchWindowMs?: number;
  /** Sends under way per list beyond which records are batched. Default 5. */
  burstThreshold?: number;
  /** addRecordToListSimple calls per second over all nodes. Default 2 (Five9 allows 160/min). */
  singlePerSecond?: number;
  /** asyncAddRecordsToList calls per minute from this node. Default 20 (Five9's default). */
  asyncPerMinute?: number;
  /** First backoff after a retryable fault. Default 1,000. */
  retryBaseMs?: number;
  /** Pause between getListImportResult calls. Default 1,000. */
  importPollMs?: number;
  /** How long a send may spend on retries before it fails retryable. Default 15,000 (the hub's send timeout is 20 s). */
  sendBudgetMs?: number;
  /** How long the domain's call counters are reused. Default 10,000. */
  countersRefreshMs?: number;
  /** Five9 disposition name -> canonical target; overrides and custom dispositions. */
  dispositionMap?: Record<string, DispositionTarget>;
  /** Target of a disposition in no map (an agent's own). Default CONNECTED. */
  unknownDisposition?: DispositionTarget;
}

export const MAX_BATCH_SIZE = 100;
export const V13_PATH = "/wsadmin/v13/AdminWebService";
const REQUEST_TIMEOUT_MS = 15_000;
const SECRET_HEADER = "x-dialmesh-secret";

export interface Five9Deps {
  timers?: Timers;
  now?: () => Date;
}

export interface FlushResult {
  listName: string;
  /** Records Five9 deleted. */
  deleted: number;
  /** Activities ended CANCELLED. */
  cancelled: number;
}

export interface Five9Plugin extends ChannelPlugin {
  /** `flush` takes `{ list }` (a Five9 list name) or `{ campaign }` (a hub campaign of listMap). */
  actions: { flush(input: unknown): Promise<FlushResult> };
  handleInbound(request: InboundRequest): Promise<InboundResult>;
}

function sha256(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

/** Constant-time comparison (of digests, so that lengths leak nothing either). */
export function secretMatches(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  return timingSafeEqual(sha256(given), sha256(expected));
}

/** The fields of a Web Connector request: query and (form or JSON) body, the body winning. */
export function requestFields(request: InboundRequest): Record<string, string> {
  const fields: Record<string, string> = { ...request.query };
  const body = request.rawBody.toString("utf8");
  if (body.trim() === "") return fields;
  const type = request.headers["content-type"] ?? "";
  if (type.includes("json")) {
    const parsed = JSON.parse(body) as unknown;
    if (parsed && typeof parsed === "object") {
      for (const [k, v] of Object.entries(parsed))
        if (typeof v === "string" || typeof v === "number") fields[k] = String(v);
    }
    return fields;
  }
  for (const [k, v] of new URLSearchParams(body)) fields[k] = v;
  return fields;
}

/**
 * Five9 allows `perMinute` asynchronous imports in any minute. The hub's limiter is shared by
 * every node but counts fixed windows: with windows of a quarter minute holding a fifth of the
 * limit each, no sliding minute (which spans at most five such windows) exceeds the limit.
 */
export const ASYNC_WINDOWS_PER_MINUTE = 4;
export function asyncWindow(perMinute: number): { perWindow: number; windowMs: number } {
  return {
    perWindow: Math.max(1, Math.floor(perMinute / (ASYNC_WINDOWS_PER_MINUTE + 1))),
    windowMs: 60_000 / ASYNC_WINDOWS_PER_MINUTE,
  };
}

export function createFive9(ctx: PluginContext<Five9Options>, deps: Five9Deps = {}): Five9Plugin {
  const opts = ctx.options;
  const endpoint = opts.endpoint ?? (opts.baseUrl ? new URL(V13_PATH, opts.baseUrl).href : undefined);
  if (!endpoint || !opts.username || !opts.password) {
    throw new PluginError("INVALID_OPTIONS", "five9 needs endpoint (or baseUrl), username and password");
  }
  if (!opts.webhookSecret) {
    throw new PluginError(
      "INVALID_OPTIONS",
      "five9 needs webhookSecret: the Web Connector's results are refused without it",
    );
  }
  const listMap = opts.listMap ?? {};
  if (opts.defaultList === undefined && Object.keys(listMap).length === 0) {
    throw new PluginError("INVALID_OPTIONS", "five9 needs defaultList or listMap");
  }
  const timers = deps.timers ?? realTimers;
  const now = deps.now ?? (() => new Date());
  const secrets = [opts.password, opts.webhookSecret];
  const keyField = opts.keyField ?? "dialmesh_key";
  const activityField = opts.activityField ?? "dialmesh_activity";
  const layout = recordLayout(keyField, activityField);
  const retryBaseMs = opts.retryBaseMs ?? 1000;
  const client = new Five9AdminClient({
    endpoint,
    username: opts.username,
    password: opts.password,
    timeoutMs: REQUEST_TIMEOUT_MS,
  });
  const store: OpenRecordStore = ctx.storage ? new MongoOpenRecordStore(ctx.storage) : new MemoryOpenRecordStore();
  if (!ctx.storage) ctx.logger.warn("five9 has no hub storage: open records are kept in memory, for flushes only");

  let counters: { at: number; value: CallCounter[] } | undefined;
  const countersRefreshMs = opts.countersRefreshMs ?? 10_000;
  async function callCounters(): Promise<CallCounter[]> {
    const t = now().getTime();
    if (counters && t - counters.at < countersRefreshMs) return counters.value;
    try {
      counters = { at: t, value: await client.callCounters() };
    } catch (err) {
      // The counters are a courtesy: without them the faults still say when to slow down.
      ctx.logger.warn("five9 call counters unavailable", {
        message: redactText(err instanceof Error ? err.message : String(err), secrets),
      });
      counters = { at: t, value: [] };
    }
    return counters.value;
  }

  const asyncLimit = asyncWindow(opts.asyncPerMinute ?? 20);
  const singlePerSecond = opts.singlePerSecond ?? 2;
  const limiterKey = `five9:${opts.username}`;
  const sender = new RecordSender({
    client,
    logger: ctx.logger,
    timers,
    layout,
    countryCode: opts.countryCode ?? "US",
    batchSize: Math.min(opts.batchSize ?? MAX_BATCH_SIZE, MAX_BATCH_SIZE),
    batchWindowMs: opts.batchWindowMs ?? 1000,
    burstThreshold: opts.burstThreshold ?? 5,
    retryBaseMs,
    importPollMs: opts.importPollMs ?? 1000,
    budgetMs: opts.sendBudgetMs ?? 15_000,
    now: () => now().getTime(),
    // Both kinds share the hub's store-backed limiter, so the domain's limits hold across nodes.
    acquire: (op) =>
      op === "single"
        ? ctx.rateLimiter.acquire(`${limiterKey}:single`, singlePerSecond)
        : ctx.rateLimiter.acquire(`${limiterKey}:async`, asyncLimit.perWindow, asyncLimit.windowMs),
    counters: callCounters,
  });
  let lastAuthFailure: string | undefined;

  function listOf(request: SendRequest): string {
    const mapped = request.campaignId !== undefined ? listMap[request.campaignId] : undefined;
    const list = mapped ?? opts.defaultList;
    if (list === undefined) {
      throw new PluginError(
        "NO_FIVE9_LIST",
        `no Five9 list for hub campaign ${request.campaignId ?? "(none)"}: add it to listMap or set defaultList`,
      );
    }
    return list;
  }

  async function send(request: SendRequest): Promise<SendResult> {
    const listName = listOf(request);
    if (!request.customer.phone) {
      throw new PluginError("NO_PHONE", `customer ${request.customer.id} has no phone number`, { retryable: false });
    }
    try {
      await sender.enqueue(listName, { key: request.attemptId, values: recordValues(request) });
    } catch (err) {
      const error = isPluginError(err)
        ? err
        : new PluginError("FIVE9_ERROR", "five9 insert failed", { retryable: true });
      if (error.code === "AUTH_FAILED") lastAuthFailure = error.message;
      ctx.logger.warn("five9 send failed", {
        attemptId: request.attemptId,
        code: error.code,
        retryable: error.retryable,
        message: redactText(error.message, secrets),
      });
      throw error;
    }
    lastAuthFailure = undefined;
    try {
      await store.open({ key: request.attemptId, listName, activityId: request.activityId });
    } catch (err) {
      // Five9 has the record: failing the send would only add it again under a new attempt.
      ctx.logger.error("five9 record added but not recorded as open: a flush will not cancel it", {
        attemptId: request.attemptId,
        error: err instanceof Error ? err.message : String(err),
      });
    }
    return { status: "QUEUED", vendorId: request.attemptId, detail: `added to Five9 list ${listName}` };
  }

  async function handleInbound(request: InboundRequest): Promise<InboundResult> {
    const given = request.query.secret ?? request.headers[SECRET_HEADER];
    if (!secretMatches(given, opts.webhookSecret)) {
      ctx.logger.warn("five9 web connector request refused: wrong or missing secret");
      return { response: { status: 403, body: "forbidden" }, events: [] };
    }
    let fields: Record<string, string>;
    try {
      fields = requestFields(request);
    } catch {
      return { response: { status: 400, body: "five9 web connector request: the body is not valid JSON" }, events: [] };
    }
    delete fields.secret;
    const read = readDispositionFields(fields, keyField, activityField);
    if (!read.ok) return { response: { status: 400, body: read.error }, events: [] };
    const events = dispositionEvents(
      read.value,
      opts.dispositionMap ?? {},
      opts.unknownDisposition ?? "CONNECTED",
      now(),
    );
    await store.close([read.value.key]);
    return { response: { status: 200, body: "OK", contentType: "text/plain" }, events };
  }

  function flushTarget(input: unknown): string {
    const o = typeof input === "object" && input !== null ? (input as { list?: unknown; campaign?: unknown }) : {};
    if (typeof o.list === "string" && o.list.trim() !== "") return o.list;
    if (typeof o.campaign === "string" && listMap[o.campaign] !== undefined) return listMap[o.campaign]!;
    throw new PluginError(
      "INVALID_INPUT",
      `flush needs { list } (a Five9 list name) or { campaign } (a hub campaign of listMap: ${Object.keys(listMap).join(", ") || "none"})`,
    );
  }

  function flushError(err: unknown): PluginError {
    if (err instanceof Five9Error) {
      return new PluginError(err.kind === "auth" ? "AUTH_FAILED" : "FLUSH_FAILED", redactText(err.message, secrets), {
        retryable: err.retryable,
      });
    }
    return new PluginError("FLUSH_FAILED", err instanceof Error ? err.message : String(err), { retryable: true });
  }

  async function flush(input: unknown): Promise<FlushResult> {
    const listName = flushTarget(input);
    const reason = `Five9 list ${listName} flushed: its records were deleted`;
    sender.drop(listName, new PluginError("LIST_FLUSHED", reason, { retryable: false }));
    // A record under way would land after the delete: let it finish first.
    await sender.idle(listName);
    let deleted: number;
    try {
      const identifier = await client.deleteAll(listName);
      let result = await client.listImportResult(identifier);
      for (let n = 0; !result && n < 60; n++) {
        await timers.sleep(opts.importPollMs ?? 1000);
        result = await client.listImportResult(identifier);
      }
      if (!result)
        throw new PluginError("FLUSH_PENDING", `Five9 is still deleting list ${listName}`, { retryable: true });
      deleted = result.listRecordsDeleted;
    } catch (err) {
      throw isPluginError(err) ? err : flushError(err);
    }
    const open = await store.openIn(listName);
    const at = now();
    const events: CanonicalEvent[] = open.map((r) => ({
      kind: "status",
      vendorId: r.key,
      activityId: r.activityId,
      status: "CANCELLED",
      raw: "flushed",
      reasonCode: "LIST_FLUSHED",
      reason,
      retryable: false,
      at,
    }));
    if (events.length > 0) await ctx.emit(events);
    await store.close(open.map((r) => r.key));
    ctx.logger.info("five9 list flushed", { listName, deleted, cancelled: open.length });
    return { listName, deleted, cancelled: open.length };
  }

  async function health(): Promise<PluginHealth> {
    if (lastAuthFailure) return { ok: false, detail: redactText(lastAuthFailure, secrets) };
    try {
      const state = await client.callCounters();
      const summary = state.map((c) => `${c.operationType} ${c.value}/${c.limit}`).join(", ");
      return { ok: true, detail: `AdminWebService reachable${summary ? `; counters: ${summary}` : ""}` };
    } catch (err) {
      return { ok: false, detail: redactText(err instanceof Error ? err.message : String(err), secrets) };
    }
  }

  return {
    send,
    handleInbound,
    health,
    views: { counters: () => client.callCounters() },
    actions: { flush },
    async start() {
      await store.init();
    },
    async stop() {
      await sender.stop();
    },
  };
}

export default definePlugin<Five9Options>((ctx) => createFive9(ctx));
