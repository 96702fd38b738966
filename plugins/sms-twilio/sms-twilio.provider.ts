/**
 * sms-twilio: SMS (and WhatsApp through Twilio) with the Twilio Programmable Messaging API,
 * through the official twilio SDK.
 *
 * - `baseUrl` is honoured by giving the SDK an `httpClient` (its documented extension point)
 *   that rewrites Twilio's API origin to `baseUrl` before the SDK's own RequestClient sends.
 * - Throughput: one `ctx.rateLimiter` token per SMS segment under `twilio:<sender>`.
 * - Webhooks: status callbacks and inbound messages, verified with `X-Twilio-Signature`
 *   over the public URL (`request.url`) and the form parameters.
 */
import twilio from "twilio";
import type RequestClient from "twilio/lib/base/RequestClient.js";
import type * as ResponseModule from "twilio/lib/http/response.js";
import { normalizePhone, isPluginError, isError } from "@dialmesh/sdk";
import { classifyKeyword, compileKeywords, type OptOutKeywords } from "@dialmesh/sdk";
import {
  definePlugin,
  PluginError,
  type CanonicalEvent,
  type ChannelPlugin,
  type InboundRequest,
  type InboundResult,
  type PluginContext,
  type SendRequest,
  type SendResult,
} from "@dialmesh/sdk";
import { countSegments, describeTwilioError, mapTwilioStatus, retryAfterMs } from "./sms-twilio.mapping.ts";

export interface SmsTwilioOptions {
  accountSid: string;
  /** Secret. */
  authToken: string;
  /** Sender: E.164, `whatsapp:+E.164` or an alphanumeric sender ID. Exactly one of from / messagingServiceSid. */
  from?: string;
  messagingServiceSid?: string;
  /** WhatsApp sender, `whatsapp:+E.164`, beside an SMS `from` or messaging service. */
  whatsappFrom?: string;
  /** Default `https://api.twilio.com`. */
  baseUrl?: string;
  /** Segments per second for this sender, across all nodes. Default 1. */
  maxPerSecond?: number;
  timeoutMs?: number;
  optOutKeywords?: OptOutKeywords;
}

export const DEFAULT_BASE_URL = "https://api.twilio.com";
export const DEFAULT_MAX_PER_SECOND = 1;
const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>';

/**
 * The SDK's RequestClient, with two changes: a refusal that says when to come back
 * (`Retry-After` on a 429 or 503, which the SDK's error drops) fails with that wait, and, given
 * a `baseUrl`, every request for a `*.twilio.com` host goes there instead (path and query
 * kept; a path in `baseUrl` is prefixed).
 */
export class TwilioRequestClient extends twilio.RequestClient {
  readonly baseUrl: URL | undefined;

  constructor(baseUrl: string | undefined, opts: { timeout?: number } = {}) {
    super({ timeout: opts.timeout });
    this.baseUrl = baseUrl ? new URL(baseUrl) : undefined;
  }

  override async request<TData>(opts: RequestClient.RequestOptions<TData>): Promise<ResponseModule.default<TData>> {
    const res = await super.request<TData>(this.baseUrl ? { ...opts, uri: rewriteUri(opts.uri, this.baseUrl) } : opts);
    if (res.statusCode >= 400) {
      const wait = retryAfterMs(headerOf(res.headers, "retry-after"), Date.now());
      if (wait !== undefined) {
        const body = (typeof res.body === "string" ? parseJson(res.body) : res.body) as
          { code?: number; message?: string } | undefined;
        const err = toPluginError({ status: res.statusCode, code: body?.code, message: body?.message });
        throw new PluginError(err.code, err.message, {
          retryable: err.retryable,
          status: err.status,
          optOut: err.optOut,
          retryAfterMs: wait,
        });
      }
    }
    return res;
  }
}

function headerOf(headers: unknown, name: string): string | undefined {
  if (!headers || typeof headers !== "object") return undefined;
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return String(value);
  return undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export function rewriteUri(uri: string, baseUrl: URL): string {
  const target = new URL(uri);
  if (!/(^|\.)twilio\.com$/i.test(target.hostname)) return uri;
  const prefix = baseUrl.pathname.replace(/\/+$/, "");
  return `${baseUrl.origin}${prefix}${target.pathname}${target.search}`;
}

interface TwilioApiError {
  status: number;
  code?: number;
  message?: string;
}

function isTwilioApiError(err: unknown): err is TwilioApiError {
  return (
    typeof err === "object" &&
    err !== null &&
    (err as { name?: unknown }).name !== "PluginError" &&
    typeof (err as { status?: unknown }).status === "number"
  );
}

/** Network failures where the request certainly never reached Twilio: safe to retry. */
const NOT_SENT_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

export function toPluginError(err: unknown): PluginError {
  if (isPluginError(err)) return err;
  if (isTwilioApiError(err)) {
    const info = describeTwilioError(err.code, err.status);
    const vendor = err.code !== undefined ? `Twilio ${err.code}` : `Twilio HTTP ${err.status}`;
    const detail = err.message && !err.message.startsWith("[HTTP") ? `: ${err.message}` : "";
    return new PluginError(info.code, `${info.reason} (${vendor}${detail})`, {
      retryable: info.retryable,
      status: info.status,
      optOut: info.optOut,
      ...(info.retryAfterMs !== undefined ? { retryAfterMs: info.retryAfterMs } : {}),
    });
  }
  // Network-level errors: never pass the raw error on (axios errors carry the request
  // config, Authorization header included).
  const code = typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
  if (typeof code === "string" && NOT_SENT_CODES.has(code)) {
    return new PluginError("VENDOR_UNREACHABLE", `cannot reach the Twilio API (${code})`, {
      retryable: true,
      retryAfterMs: 5000,
    });
  }
  const label = typeof code === "string" ? code : isError(err) ? err.name : "unknown error";
  // The request may have reached Twilio (timeout, reset): resending could send twice.
  return new PluginError(
    "OUTCOME_UNKNOWN",
    `no answer from the Twilio API (${label}); the message may have been sent`,
    {
      retryable: false,
    },
  );
}

function header(request: InboundRequest, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(request.headers)) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}

/** Form parameters as Twilio's validateRequest expects them (repeated keys as arrays). */
function parseForm(raw: Buffer): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(raw.toString("utf8"))) {
    const prev = out[key];
    out[key] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return out;
}

function first(params: Record<string, string | string[]>, key: string): string | undefined {
  const v = params[key];
  return Array.isArray(v) ? v[0] : v;
}

export function createSmsTwilio(ctx: PluginContext<SmsTwilioOptions>): ChannelPlugin {
  const opts = ctx.options;
  if (!opts.accountSid || !opts.authToken) {
    throw new PluginError("INVALID_OPTIONS", "sms-twilio needs accountSid and authToken");
  }
  if (Boolean(opts.from) === Boolean(opts.messagingServiceSid)) {
    throw new PluginError("INVALID_OPTIONS", "sms-twilio needs exactly one of from and messagingServiceSid");
  }
  const baseUrl = opts.baseUrl ?? DEFAULT_BASE_URL;
  const maxPerSecond = opts.maxPerSecond ?? DEFAULT_MAX_PER_SECOND;
  const sender = opts.messagingServiceSid ?? opts.from ?? "";
  const rateKey = `twilio:${sender}`;
  // The instance carries WhatsApp only with a whatsapp: sender, and SMS only with an SMS one
  // (the manifest's channelOptions say the same, so the hub never routes the other way).
  const whatsappSender = opts.whatsappFrom ?? (sender.startsWith("whatsapp:") ? sender : undefined);
  const smsSender = sender.startsWith("whatsapp:") ? undefined : sender;
  const keywords = compileKeywords(opts.optOutKeywords);
  const timeout = opts.timeoutMs ?? 30_000;
  // With the default base URL nothing is rewritten, so TWILIO_REGION / TWILIO_EDGE still apply.
  const httpClient = new TwilioRequestClient(baseUrl.replace(/\/+$/, "") === DEFAULT_BASE_URL ? undefined : baseUrl, {
    timeout,
  });
  const client = twilio(opts.accountSid, opts.authToken, { httpClient, autoRetry: false });
  let lastAuthFailure: string | undefined;

  async function send(request: SendRequest): Promise<SendResult> {
    const phone = request.customer.phone ? normalizePhone(request.customer.phone) : undefined;
    if (!phone) {
      throw new PluginError(
        "INVALID_NUMBER",
        request.customer.phone
          ? "the customer's phone number is not a valid number"
          : "the customer has no phone number",
      );
    }
    const body = request.content.text;
    if (!body) throw new PluginError("NO_CONTENT", "sms-twilio sends text: the activity has no content.text");
    const whatsapp = request.channel === "whatsapp";
    if (whatsapp && !whatsappSender)
      throw new PluginError("NO_WHATSAPP_SENDER", "this sms-twilio instance has no whatsapp: sender (whatsappFrom)");
    if (!whatsapp && !smsSender)
      throw new PluginError("NO_SMS_SENDER", "this sms-twilio instance has only a whatsapp: sender");
    const to = whatsapp ? `whatsapp:${phone}` : phone;

    // Twilio paces SMS in segments; WhatsApp in messages.
    const tokens = whatsapp ? 1 : countSegments(body);
    const key = whatsapp ? `twilio:${whatsappSender}` : rateKey;
    for (let i = 0; i < tokens; i++) await ctx.rateLimiter.acquire(key, maxPerSecond);

    try {
      const message = await client.messages.create({
        to,
        body,
        statusCallback: ctx.webhookUrl,
        ...(whatsapp
          ? { from: whatsappSender as string }
          : opts.messagingServiceSid
            ? { messagingServiceSid: opts.messagingServiceSid }
            : { from: opts.from as string }),
      });
      lastAuthFailure = undefined;
      const status = mapTwilioStatus(message.status) ?? "QUEUED";
      ctx.logger.debug("twilio message created", { vendorId: message.sid, status: message.status, segments: tokens });
      return { status, vendorId: message.sid, detail: `twilio status ${message.status}` };
    } catch (err) {
      const error = toPluginError(err);
      if (error.code === "AUTH_FAILED") lastAuthFailure = error.message;
      ctx.logger.warn("twilio send failed", { code: error.code, retryable: error.retryable, message: error.message });
      throw error;
    }
  }

  async function handleInbound(request: InboundRequest): Promise<InboundResult> {
    if (request.method !== "POST") {
      return { response: { status: 405, body: "Method Not Allowed", contentType: "text/plain" }, events: [] };
    }
    const params = parseForm(request.rawBody);
    const signature = header(request, "x-twilio-signature");
    if (!signature || !twilio.validateRequest(opts.authToken, signature, request.url, params)) {
      ctx.logger.warn("twilio webhook refused: missing or wrong X-Twilio-Signature", {
        signature: signature ? "wrong" : "missing",
      });
      return { response: { status: 403, body: "Invalid Twilio signature", contentType: "text/plain" }, events: [] };
    }
    const events = mapInbound(params, keywords, new Date());
    return { response: { status: 200, body: EMPTY_TWIML, contentType: "text/xml" }, events };
  }

  return {
    send,
    handleInbound,
    async health() {
      if (lastAuthFailure) return { ok: false, detail: lastAuthFailure };
      return { ok: true, detail: `sender ${sender}, ${maxPerSecond}/s` };
    },
  };
}

/** Maps a verified Twilio webhook (status callback or inbound message) to canonical events. */
export function mapInbound(
  params: Record<string, string | string[]>,
  keywords: ReturnType<typeof compileKeywords>,
  at: Date,
): CanonicalEvent[] {
  const sid = first(params, "MessageSid") ?? first(params, "SmsSid") ?? "";
  const rawStatus = (first(params, "MessageStatus") ?? first(params, "SmsStatus") ?? "").toLowerCase();
  const inbound =
    rawStatus === "received" || rawStatus === "receiving" || (!rawStatus && first(params, "Body") !== undefined);

  if (!inbound) {
    const status = mapTwilioStatus(rawStatus);
    if (!sid || !status) return [];
    const errorCode = first(params, "ErrorCode") || undefined;
    const event: CanonicalEvent = { kind: "status", vendorId: sid, status, raw: rawStatus, at };
    const events: CanonicalEvent[] = [event];
    if (status === "FAILED" || errorCode) {
      const info = describeTwilioError(errorCode);
      if (errorCode) event.reasonCode = errorCode;
      event.reason = errorCode ? info.reason : rawStatus;
      event.retryable = info.retryable;
      if (info.status === "BLOCKED" && status === "FAILED") event.status = "BLOCKED";
      // 21610 reported asynchronously (e.g. sends through a Messaging Service): the recipient
      // opted out, exactly as when the API refuses the send, so the hub suppresses the number.
      const rawTo = first(params, "To") ?? "";
      const to = normalizePhone(rawTo);
      if (info.optOut && to) {
        const channel = rawTo.toLowerCase().startsWith("whatsapp:") ? "whatsapp" : "sms";
        events.push({ kind: "opt-out", channel, address: to, reason: `Twilio ${errorCode}: ${info.reason}`, at });
      }
    } else if (rawStatus === "partially_delivered") {
      event.reason = "partially delivered (some parts only)";
    }
    return events;
  }

  const rawFrom = first(params, "From") ?? "";
  const channel = rawFrom.toLowerCase().startsWith("whatsapp:") ? "whatsapp" : "sms";
  const from = normalizePhone(rawFrom) ?? rawFrom.replace(/^whatsapp:/i, "");
  if (!from) return [];
  const text = first(params, "Body") ?? "";
  const media: string[] = [];
  const numMedia = Number(first(params, "NumMedia") ?? "0");
  for (let i = 0; i < numMedia && i < 10; i++) {
    const url = first(params, `MediaUrl${i}`);
    if (url) media.push(url);
  }
  const events: CanonicalEvent[] = [
    { kind: "reply", channel, from, text, ...(media.length ? { media } : {}), vendorId: sid, at },
  ];
  // Twilio's Advanced Opt-Out reports its own classification in OptOutType.
  const optOutType = (first(params, "OptOutType") ?? "").toUpperCase();
  const kind = optOutType === "STOP" ? "opt-out" : optOutType === "START" ? "opt-in" : classifyKeyword(text, keywords);
  if (kind) {
    events.push({ kind, channel, address: from, reason: `keyword ${JSON.stringify(text.trim().slice(0, 40))}`, at });
  }
  return events;
}

export default definePlugin<SmsTwilioOptions>(createSmsTwilio);
