/**
 * email-smtp: email through an SMTP server with nodemailer's pooled transport.
 *
 * - send: one message per attempt, Message-ID `<attemptId@messageIdDomain>` (deterministic,
 *   so a crash-recovery resend carries the same id and receivers can drop the duplicate);
 *   acceptance by the configured server is SENT; 5xx is FAILED (not retryable, `SMTP_<code>`);
 *   4xx and connection errors are retryable with a backoff hint. DSNs (success, failure,
 *   delay; headers only; ENVID = attemptId) are requested when the server advertises DSN.
 * - handleInbound: an MTA (or a mailbox hook) posts the DSN report to /webhooks/<instanceId>,
 *   signed `X-Dialmesh-Signature: sha256=<hex HMAC-SHA256(rawBody, inboundSecret)>`; delivered
 *   gives DELIVERED, failed gives FAILED. Without `inboundSecret` every request is refused.
 * - Secrets (`auth.pass`, `inboundSecret`) are never logged and are scrubbed from errors.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import nodemailer from "nodemailer";
import type {
  CanonicalEvent,
  InboundRequest,
  InboundResult,
  PluginHealth,
  SendRequest,
  SendResult,
} from "@dialmesh/sdk";
import { PluginError, definePlugin, isPluginError } from "@dialmesh/sdk";
import { redactText, secretValues } from "@dialmesh/sdk";
import { parseDsnReport } from "./dsn-report.ts";
import { dsnToEvent, smtpErrorToPluginError } from "./email-smtp.mapping.ts";

export interface EmailSmtpOptions {
  host: string;
  port?: number;
  secure?: boolean;
  auth?: { user: string; pass: string };
  from: string;
  replyTo?: string;
  returnPath?: string;
  maxConnections?: number;
  maxMessages?: number;
  rateDelta?: number;
  rateLimit?: number;
  maxPerSecond?: number;
  requestDsn?: boolean;
  inboundSecret?: string;
  messageIdDomain?: string;
  tls?: { rejectUnauthorized?: boolean; servername?: string };
  connectionTimeout?: number;
  greetingTimeout?: number;
  socketTimeout?: number;
}

/** The secret option paths, as plugin.json declares them. */
const SECRET_OPTIONS = ["auth.pass", "inboundSecret"];

/**
 * `<attemptId@domain>`. Characters that may not appear in a Message-ID's left part (RFC 5322
 * dot-atom; dots too, to keep it simple) are written `=XX`, so the mapping stays one-to-one.
 */
export function messageIdFor(attemptId: string, domain = "dialmesh"): string {
  const left = Array.from(Buffer.from(attemptId, "utf8"))
    .map((b) => {
      const c = String.fromCharCode(b);
      return /[A-Za-z0-9_-]/.test(c) ? c : `=${b.toString(16).toUpperCase().padStart(2, "0")}`;
    })
    .join("");
  return `<${left}@${domain}>`;
}

/** `sha256=<hex>` of the HMAC-SHA256 of `body` with `secret`. */
export function signatureFor(body: Buffer | string, secret: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

function header(headers: Record<string, string | undefined>, name: string): string | undefined {
  const direct = headers[name];
  if (direct !== undefined) return direct;
  const lower = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === lower) return value;
  return undefined;
}

function signatureValid(given: string | undefined, body: Buffer, secret: string): boolean {
  if (!given) return false;
  const expected = Buffer.from(signatureFor(body, secret), "utf8");
  const actual = Buffer.from(given.trim().toLowerCase(), "utf8");
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

function json(status: number, body: Record<string, unknown>): InboundResult["response"] {
  return { status, body: JSON.stringify(body), contentType: "application/json" };
}

export default definePlugin<EmailSmtpOptions>((ctx) => {
  const options = ctx.options;
  const secrets = secretValues(options, SECRET_OPTIONS);
  const scrub = (text: string): string => redactText(text, secrets);
  const domain = options.messageIdDomain ?? "dialmesh";
  const secure = options.secure ?? false;
  const port = options.port ?? (secure ? 465 : 587);
  const requestDsn = options.requestDsn ?? true;

  const transportOptions = {
    pool: true as const,
    host: options.host,
    port,
    secure,
    ...(options.auth ? { auth: { user: options.auth.user, pass: options.auth.pass } } : {}),
    maxConnections: options.maxConnections ?? 5,
    maxMessages: options.maxMessages ?? 100,
    rateDelta: options.rateDelta ?? 1000,
    ...(options.rateLimit !== undefined ? { rateLimit: options.rateLimit } : {}),
    tls: { rejectUnauthorized: options.tls?.rejectUnauthorized ?? true, servername: options.tls?.servername },
    connectionTimeout: options.connectionTimeout ?? 10_000,
    greetingTimeout: options.greetingTimeout ?? 10_000,
    socketTimeout: options.socketTimeout ?? 60_000,
    // nodemailer's own logger prints the SMTP dialogue (AUTH included): keep it off.
    logger: false,
    debug: false,
  };
  const transporter = nodemailer.createTransport(transportOptions);
  transporter.on("error", (err: Error) => {
    ctx.logger.warn("SMTP pool error", { error: scrub(err.message) });
  });

  ctx.logger.info("email-smtp ready", {
    host: options.host,
    port,
    secure,
    user: options.auth?.user,
    maxConnections: transportOptions.maxConnections,
    requestDsn,
    inbound: options.inboundSecret ? "signed DSN reports" : "disabled (no inboundSecret)",
  });

  async function send(request: SendRequest): Promise<SendResult> {
    const to = request.customer.email?.trim();
    if (!to) {
      throw new PluginError("NO_EMAIL_ADDRESS", "the customer has no email address", { status: "FAILED" });
    }
    const { subject, text, html, template } = request.content;
    if (!text && !html) {
      throw new PluginError(
        template ? "UNSUPPORTED_CONTENT" : "EMPTY_CONTENT",
        template ? "email-smtp sends text/html content, not templates" : "the message has neither text nor html",
        { status: "FAILED" },
      );
    }
    if (options.maxPerSecond !== undefined) {
      await ctx.rateLimiter.acquire(`email-smtp:${ctx.instanceId}`, options.maxPerSecond);
    }
    const messageId = messageIdFor(request.attemptId, domain);
    const headers: Record<string, string> = {
      "X-Dialmesh-Attempt-Id": request.attemptId,
      "X-Dialmesh-Activity-Id": request.activityId,
    };
    if (request.campaignId) headers["X-Dialmesh-Campaign-Id"] = request.campaignId;
    try {
      const info = await transporter.sendMail({
        from: options.from,
        to,
        ...(options.replyTo ? { replyTo: options.replyTo } : {}),
        ...(options.returnPath ? { envelope: { from: options.returnPath, to } } : {}),
        subject: subject ?? "",
        ...(text ? { text } : {}),
        ...(html ? { html } : {}),
        messageId,
        headers,
        // Sent only when the server advertises DSN (nodemailer checks EHLO).
        ...(requestDsn
          ? {
              dsn: {
                id: request.attemptId,
                return: "headers" as const,
                notify: ["success", "failure", "delay"] as ("success" | "failure" | "delay")[],
                recipient: to,
              },
            }
          : {}),
      });
      const accepted = ((info.accepted ?? []) as unknown[]).map((a) =>
        (typeof a === "string" ? a : String((a as { address?: unknown }).address ?? "")).toLowerCase(),
      );
      if (!accepted.includes(to.toLowerCase())) {
        throw new PluginError("SMTP_NOT_ACCEPTED", "the SMTP server did not accept the recipient", {
          status: "FAILED",
        });
      }
      const response = typeof info.response === "string" ? scrub(info.response) : undefined;
      ctx.logger.debug("email accepted", { attemptId: request.attemptId, messageId, response });
      return { status: "SENT", vendorId: messageId, ...(response ? { detail: response } : {}) };
    } catch (err) {
      if (isPluginError(err)) throw err;
      const mapped = smtpErrorToPluginError(err, scrub);
      ctx.logger.warn("email not sent", {
        attemptId: request.attemptId,
        code: mapped.code,
        retryable: mapped.retryable,
        error: mapped.message,
      });
      throw mapped;
    }
  }

  async function handleInbound(request: InboundRequest): Promise<InboundResult> {
    const secret = options.inboundSecret;
    if (!secret) {
      return { response: json(403, { error: "inbound disabled: no inboundSecret configured" }), events: [] };
    }
    if (!signatureValid(header(request.headers, "x-dialmesh-signature"), request.rawBody, secret)) {
      ctx.logger.warn("DSN report refused: missing or wrong X-Dialmesh-Signature");
      return { response: json(403, { error: "invalid signature" }), events: [] };
    }
    if (request.method !== "POST") {
      return { response: json(405, { error: "POST a delivery status notification" }), events: [] };
    }
    const report = parseDsnReport(request.rawBody, header(request.headers, "content-type"));
    if (!report) {
      return { response: json(400, { error: "not a delivery status notification (RFC 3464)" }), events: [] };
    }
    const vendorId = report.envelopeId
      ? messageIdFor(report.envelopeId, domain)
      : report.messageId
        ? `<${report.messageId.replace(/^<|>$/g, "")}>`
        : undefined;
    if (!vendorId) {
      return {
        response: json(400, { error: "the report names neither an Original-Envelope-Id nor a Message-ID" }),
        events: [],
      };
    }
    const fallbackAt = report.arrivalDate ?? new Date();
    const events: CanonicalEvent[] = [];
    for (const recipient of report.recipients) {
      const event = dsnToEvent(recipient, vendorId, fallbackAt);
      if (event) events.push(event);
    }
    ctx.logger.info("DSN report", {
      vendorId,
      actions: report.recipients.map((r) => `${r.action} ${r.status ?? ""}`.trim()),
      events: events.length,
    });
    return { response: json(200, { ok: true, events: events.length }), events };
  }

  async function health(): Promise<PluginHealth> {
    try {
      await transporter.verify();
      return { ok: true, detail: `SMTP ${options.host}:${port} answers` };
    } catch (err) {
      const mapped = smtpErrorToPluginError(err, scrub);
      return { ok: false, detail: `SMTP ${options.host}:${port}: ${mapped.code} ${mapped.message}` };
    }
  }

  async function stop(): Promise<void> {
    transporter.close();
  }

  return { send, handleInbound, health, stop };
});
