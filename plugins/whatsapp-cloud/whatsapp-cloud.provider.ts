/**
 * whatsapp-cloud: WhatsApp through Meta's official Cloud API (Graph API over HTTP, fetch).
 *
 * - Free-form text inside the 24-hour customer-service window (from `request.lastInboundAt`,
 *   else the hub's conversation lookup); an approved template outside it (the activity's
 *   `content.template`, else the `defaultTemplate` option); TEMPLATE_REQUIRED otherwise.
 * - Throughput: `ctx.rateLimiter` under `whatsapp-cloud:<phoneNumberId>` (default 80/s).
 * - Webhooks: GET verification handshake (`hub.verify_token`); POSTs verified with
 *   `X-Hub-Signature-256` over the raw body; `statuses[]` -> status events, `messages[]` ->
 *   replies plus opt-out/opt-in events for keywords.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { normalizePhone, isPluginError, isError } from "@dialmesh/sdk";
import { classifyKeyword, compileKeywords, type CompiledKeywords, type OptOutKeywords } from "@dialmesh/sdk";
import { fillPlaceholders } from "@dialmesh/sdk";
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
  type TemplateContent,
} from "@dialmesh/sdk";
import { describeGraphError, mapCloudStatus } from "./whatsapp-cloud.mapping.ts";

export interface WhatsAppCloudOptions {
  phoneNumberId: string;
  /** Secret: Graph API access token (system user token). */
  accessToken: string;
  /** Secret: the Meta app secret, key of X-Hub-Signature-256. */
  appSecret: string;
  /** Secret: the token Meta echoes in the GET verification handshake. */
  verifyToken: string;
  /** Default v21.0. */
  apiVersion?: string;
  /** Default https://graph.facebook.com. */
  graphBaseUrl?: string;
  /** Messages per second for this number, across all nodes. Default 80. */
  maxPerSecond?: number;
  /** Template used outside the 24-hour window when the activity has none; `{{placeholders}}` are filled from the customer. */
  defaultTemplate?: TemplateContent;
  timeoutMs?: number;
  optOutKeywords?: OptOutKeywords;
}

export const DEFAULT_API_VERSION = "v21.0";
export const DEFAULT_GRAPH_BASE_URL = "https://graph.facebook.com";
export const DEFAULT_MAX_PER_SECOND = 80;
/** The customer-service window. */
export const WINDOW_MS = 24 * 60 * 60 * 1000;
/** Free-form text is only chosen when the window has at least this long left. */
export const WINDOW_SAFETY_MS = 5 * 60 * 1000;

/** Network failures where the request certainly never reached Meta: safe to retry. */
const NOT_SENT_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

interface GraphErrorBody {
  error?: {
    message?: string;
    type?: string;
    code?: number;
    error_subcode?: number;
    error_data?: { details?: string };
    fbtrace_id?: string;
  };
}
interface GraphSendBody {
  messages?: { id?: string; message_status?: string }[];
}

/** Whether the customer-service window is open at `now`, given the customer's last inbound message. */
export function windowOpen(lastInboundAt: Date | undefined, now: Date): boolean {
  if (!lastInboundAt) return false;
  const age = now.getTime() - lastInboundAt.getTime();
  return age >= -60_000 && age < WINDOW_MS - WINDOW_SAFETY_MS;
}

/** The Cloud API `template` object for a template with body text parameters. */
export function templatePayload(template: TemplateContent): Record<string, unknown> {
  const parameters = template.parameters ?? [];
  return {
    name: template.name,
    language: { code: template.language },
    ...(parameters.length
      ? { components: [{ type: "body", parameters: parameters.map((text) => ({ type: "text", text })) }] }
      : {}),
  };
}

function asDate(value: Date | string | undefined): Date | undefined {
  if (value === undefined || value === null) return undefined;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function header(request: InboundRequest, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(request.headers)) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}

function safeEqual(a: string, b: string): boolean {
  const ba = Buffer.from(a, "utf8");
  const bb = Buffer.from(b, "utf8");
  return ba.length === bb.length && timingSafeEqual(ba, bb);
}

/** Verifies `sha256=<hex>` against the HMAC-SHA256 of the raw body with the app secret. */
export function verifyHubSignature(appSecret: string, rawBody: Buffer, signature: string | undefined): boolean {
  if (!signature?.startsWith("sha256=")) return false;
  const expected = `sha256=${createHmac("sha256", appSecret).update(rawBody).digest("hex")}`;
  return safeEqual(expected, signature.trim().toLowerCase());
}

export function createWhatsAppCloud(ctx: PluginContext<WhatsAppCloudOptions>): ChannelPlugin {
  const opts = ctx.options;
  for (const key of ["phoneNumberId", "accessToken", "appSecret", "verifyToken"] as const) {
    if (!opts[key]) throw new PluginError("INVALID_OPTIONS", `whatsapp-cloud needs the ${key} option`);
  }
  const base = (opts.graphBaseUrl ?? DEFAULT_GRAPH_BASE_URL).replace(/\/+$/, "");
  const version = opts.apiVersion ?? DEFAULT_API_VERSION;
  const endpoint = `${base}/${version}/${encodeURIComponent(opts.phoneNumberId)}/messages`;
  const maxPerSecond = opts.maxPerSecond ?? DEFAULT_MAX_PER_SECOND;
  const rateKey = `whatsapp-cloud:${opts.phoneNumberId}`;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const keywords = compileKeywords(opts.optOutKeywords);
  let lastAuthFailure: string | undefined;

  async function post(payload: Record<string, unknown>): Promise<string> {
    await ctx.rateLimiter.acquire(rateKey, maxPerSecond);
    let response: Response;
    try {
      response = await fetch(endpoint, {
        method: "POST",
        headers: { authorization: `Bearer ${opts.accessToken}`, "content-type": "application/json" },
        body: JSON.stringify(payload),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw networkError(err);
    }
    const text = await response.text().catch(() => "");
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    if (!response.ok) throw graphError(response.status, body as GraphErrorBody | undefined, response.headers);
    const id = (body as GraphSendBody | undefined)?.messages?.[0]?.id;
    if (!id) {
      // Accepted but unreadable: the message may be on its way, so it must not be resent.
      throw new PluginError("OUTCOME_UNKNOWN", `Graph API answered HTTP ${response.status} without a message id`);
    }
    return id;
  }

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
    const to = phone.replace(/^\+/, "");
    // A Date may arrive as an ISO string when the request crossed the service mesh.
    const lastInboundAt =
      asDate(request.lastInboundAt) ?? asDate(await ctx.conversations.lastInboundAt("whatsapp", phone));
    const open = windowOpen(lastInboundAt, new Date());
    const template =
      request.content.template ??
      (opts.defaultTemplate
        ? {
            ...opts.defaultTemplate,
            parameters: opts.defaultTemplate.parameters?.map((p) => fillPlaceholders(p, request.customer)),
          }
        : undefined);
    const text = request.content.text;

    const common = { messaging_product: "whatsapp", recipient_type: "individual", to };
    const asTemplate = (t: TemplateContent) => ({ ...common, type: "template", template: templatePayload(t) });

    let kind: "text" | "template";
    let payload: Record<string, unknown>;
    if (open && text) {
      kind = "text";
      payload = { ...common, type: "text", text: { body: text, preview_url: false } };
    } else if (template) {
      kind = "template";
      payload = asTemplate(template);
    } else if (open) {
      throw new PluginError("NO_CONTENT", "whatsapp-cloud: the activity has neither content.text nor content.template");
    } else {
      throw new PluginError(
        "TEMPLATE_REQUIRED",
        "the WhatsApp 24-hour customer-service window is closed (no customer message in the last 24 hours) " +
          "and no template is configured: set content.template on the activity or defaultTemplate on the plugin",
      );
    }

    try {
      const id = await post(payload);
      lastAuthFailure = undefined;
      ctx.logger.debug("whatsapp message accepted", { vendorId: id, kind });
      return {
        status: "QUEUED",
        vendorId: id,
        detail: kind === "text" ? "text (inside 24 h window)" : `template ${String(template?.name)}`,
      };
    } catch (err) {
      const error = isPluginError(err) ? err : networkError(err);
      // The window closed between our check and Meta's: the text was refused, so a template is safe to send.
      if (error.code === "WINDOW_CLOSED" && kind === "text" && template) {
        ctx.logger.info("whatsapp window closed at send time; sending the template instead", {});
        try {
          const id = await post(asTemplate(template));
          return { status: "QUEUED", vendorId: id, detail: `template ${template.name} (window closed at send time)` };
        } catch (retryErr) {
          throw report(isPluginError(retryErr) ? retryErr : networkError(retryErr));
        }
      }
      throw report(error);
    }
  }

  function report(error: PluginError): PluginError {
    if (error.code === "AUTH_FAILED") lastAuthFailure = error.message;
    ctx.logger.warn("whatsapp send failed", { code: error.code, retryable: error.retryable, message: error.message });
    return error;
  }

  async function handleInbound(request: InboundRequest): Promise<InboundResult> {
    if (request.method === "GET") {
      const mode = request.query["hub.mode"];
      const token = request.query["hub.verify_token"];
      const challenge = request.query["hub.challenge"];
      if (
        mode === "subscribe" &&
        token !== undefined &&
        safeEqual(token, opts.verifyToken) &&
        challenge !== undefined
      ) {
        ctx.logger.info("whatsapp webhook verification handshake accepted", {});
        return { response: { status: 200, body: challenge, contentType: "text/plain" }, events: [] };
      }
      ctx.logger.warn("whatsapp webhook verification refused", { mode: mode ?? null, tokenGiven: token !== undefined });
      return { response: { status: 403, body: "Forbidden", contentType: "text/plain" }, events: [] };
    }
    if (!verifyHubSignature(opts.appSecret, request.rawBody, header(request, "x-hub-signature-256"))) {
      ctx.logger.warn("whatsapp webhook refused: missing or wrong X-Hub-Signature-256", {});
      return { response: { status: 403, body: "Invalid signature", contentType: "text/plain" }, events: [] };
    }
    let payload: unknown;
    try {
      payload = JSON.parse(request.rawBody.toString("utf8"));
    } catch {
      return { response: { status: 400, body: "Body is not JSON", contentType: "text/plain" }, events: [] };
    }
    const events = mapWebhook(payload, keywords, (msg, data) => ctx.logger.warn(msg, data));
    return { response: { status: 200, body: "OK", contentType: "text/plain" }, events };
  }

  return {
    send,
    handleInbound,
    async health() {
      if (lastAuthFailure) return { ok: false, detail: lastAuthFailure };
      return { ok: true, detail: `phone number ${opts.phoneNumberId}, ${maxPerSecond}/s, Graph ${version}` };
    },
  };
}

function graphError(httpStatus: number, body: GraphErrorBody | undefined, headers: Headers): PluginError {
  const e = body?.error;
  const info = describeGraphError(e?.code, httpStatus);
  const vendor = e?.code !== undefined ? `Graph error ${e.code}` : `Graph HTTP ${httpStatus}`;
  // Meta's message and details describe the request, never the token; keep them short.
  const detail = [e?.message, e?.error_data?.details].filter(Boolean).join(" — ").slice(0, 300);
  const retryAfter = Number(headers.get("retry-after"));
  const retryAfterMs = Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : info.retryAfterMs;
  return new PluginError(info.code, `${info.reason} (${vendor}${detail ? `: ${detail}` : ""})`, {
    retryable: info.retryable,
    ...(retryAfterMs !== undefined && info.retryable ? { retryAfterMs } : {}),
  });
}

function networkError(err: unknown): PluginError {
  if (isPluginError(err)) return err;
  const cause = isError(err) ? (err.cause as { code?: unknown } | undefined) : undefined;
  const code = typeof cause?.code === "string" ? cause.code : undefined;
  if (code && NOT_SENT_CODES.has(code)) {
    return new PluginError("VENDOR_UNREACHABLE", `cannot reach the Graph API (${code})`, {
      retryable: true,
      retryAfterMs: 5000,
    });
  }
  const label = code ?? (isError(err) ? err.name : "unknown error");
  return new PluginError("OUTCOME_UNKNOWN", `no answer from the Graph API (${label}); the message may have been sent`, {
    retryable: false,
  });
}

// ---------------------------------------------------------------------------------------------
// Webhook payloads

interface CloudError {
  code?: number;
  title?: string;
  message?: string;
  error_data?: { details?: string };
}
interface CloudStatus {
  id?: string;
  status?: string;
  timestamp?: string;
  recipient_id?: string;
  errors?: CloudError[];
}
interface CloudMessage {
  from?: string;
  id?: string;
  timestamp?: string;
  type?: string;
  text?: { body?: string };
  button?: { text?: string; payload?: string };
  interactive?: { button_reply?: { title?: string }; list_reply?: { title?: string } };
  errors?: CloudError[];
  [media: string]: unknown;
}
interface CloudValue {
  statuses?: CloudStatus[];
  messages?: CloudMessage[];
  errors?: CloudError[];
}
interface CloudPayload {
  object?: string;
  entry?: { changes?: { field?: string; value?: CloudValue }[] }[];
}

const MEDIA_TYPES = ["image", "audio", "video", "document", "sticker"];

function toDate(timestamp: string | undefined): Date {
  const seconds = Number(timestamp);
  return Number.isFinite(seconds) && seconds > 0 ? new Date(seconds * 1000) : new Date();
}

function messageText(m: CloudMessage): string {
  if (m.text?.body !== undefined) return m.text.body;
  if (m.button?.text !== undefined) return m.button.text;
  if (m.interactive?.button_reply?.title !== undefined) return m.interactive.button_reply.title;
  if (m.interactive?.list_reply?.title !== undefined) return m.interactive.list_reply.title;
  const media = m.type ? m[m.type] : undefined;
  if (media && typeof media === "object" && typeof (media as { caption?: unknown }).caption === "string") {
    return (media as { caption: string }).caption;
  }
  return "";
}

/** Maps a verified Cloud API webhook payload to canonical events. */
export function mapWebhook(
  payload: unknown,
  keywords: CompiledKeywords,
  warn: (msg: string, data: Record<string, unknown>) => void = () => {},
): CanonicalEvent[] {
  const body = payload as CloudPayload;
  if (body?.object !== "whatsapp_business_account" || !Array.isArray(body.entry)) return [];
  const events: CanonicalEvent[] = [];
  for (const entry of body.entry) {
    for (const change of entry?.changes ?? []) {
      if (change?.field !== "messages" || !change.value) continue;
      const value = change.value;
      for (const e of value.errors ?? []) warn("whatsapp webhook reports an error", { code: e.code, title: e.title });
      for (const s of value.statuses ?? []) {
        const status = s.status ? mapCloudStatus(s.status) : undefined;
        if (!s.id || !s.status || !status) continue;
        const event: CanonicalEvent = {
          kind: "status",
          vendorId: s.id,
          status,
          raw: s.status,
          at: toDate(s.timestamp),
        };
        const error = s.errors?.[0];
        if (status === "FAILED") {
          const info = describeGraphError(error?.code);
          if (error?.code !== undefined) event.reasonCode = String(error.code);
          event.reason = error ? `${info.reason}${error.title ? ` (${error.title})` : ""}` : "failed";
          event.retryable = info.retryable;
        }
        events.push(event);
      }
      for (const m of value.messages ?? []) {
        if (!m.from || !m.id) continue;
        const from = normalizePhone(`+${m.from.replace(/^\+/, "")}`) ?? `+${m.from.replace(/^\+/, "")}`;
        const text = messageText(m);
        const media: string[] = [];
        const mediaObj = m.type && MEDIA_TYPES.includes(m.type) ? m[m.type] : undefined;
        if (mediaObj && typeof mediaObj === "object" && typeof (mediaObj as { id?: unknown }).id === "string") {
          media.push((mediaObj as { id: string }).id);
        }
        const at = toDate(m.timestamp);
        events.push({
          kind: "reply",
          channel: "whatsapp",
          from,
          text,
          ...(media.length ? { media } : {}),
          vendorId: m.id,
          at,
        });
        const kind = text ? classifyKeyword(text, keywords) : undefined;
        if (kind) {
          events.push({
            kind,
            channel: "whatsapp",
            address: from,
            reason: `keyword ${JSON.stringify(text.trim().slice(0, 40))}`,
            at,
          });
        }
      }
    }
  }
  return events;
}

export default definePlugin<WhatsAppCloudOptions>(createWhatsAppCloud);
