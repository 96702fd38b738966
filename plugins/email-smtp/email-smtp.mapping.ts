/**
 * Private to the email-smtp plugin: how SMTP replies, nodemailer errors and DSN reports map
 * onto the canonical vocabulary.
 *
 * | What happened                                   | Canonical                                  |
 * | ----------------------------------------------- | ------------------------------------------ |
 * | the configured server accepted the message (2xx) | `SENT`                                    |
 * | 5xx reply (RCPT TO, MAIL FROM, DATA)            | `FAILED`, not retryable, `SMTP_<code>`     |
 * | 4xx reply                                       | retryable, `SMTP_<code>`, retryAfterMs hint |
 * | connection refused / DNS / connect or greeting timeout | retryable, `SMTP_CONNECTION`        |
 * | connection reset / socket timeout mid-session   | `OUTCOME_UNKNOWN`, not retryable (the server may have the message) |
 * | authentication refused (535, EAUTH)             | retryable, `SMTP_AUTH` (a config problem: the operator fixes it, the messages wait) |
 * | 5xx to the greeting / EHLO / STARTTLS            | retryable, `SMTP_<code>` (the session, not the message, was refused) |
 * | invalid recipient address                       | `FAILED`, not retryable, `INVALID_ADDRESS` |
 * | DSN `Action: delivered` / `expanded`            | `DELIVERED`                                |
 * | DSN `Action: failed`                            | `FAILED`, not retryable                    |
 * | DSN `Action: delayed` / `relayed`               | no event (the attempt stays `SENT`)        |
 */
import type { CanonicalEvent } from "@dialmesh/sdk";
import { PluginError } from "@dialmesh/sdk";
import type { DsnRecipient } from "./dsn-report.ts";

/** Backoff hints (ms) for transient failures. */
export const RETRY_AFTER_MS = {
  /** 421: the server is shutting down or overloaded. */
  serviceUnavailable: 60_000,
  /** 450/451 (greylisting, local error) and other 4xx. */
  transient: 5 * 60_000,
  /** 452: insufficient storage / too many recipients. */
  storage: 15 * 60_000,
  /** Connection refused, reset, timed out, DNS. */
  connection: 30_000,
  /** Authentication refused: wait for the operator. */
  auth: 5 * 60_000,
} as const;

const CONNECTION_CODES = new Set([
  "ECONNECTION",
  "ETIMEDOUT",
  "ESOCKET",
  "EDNS",
  "ECONNREFUSED",
  "ECONNRESET",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
  "ETLS",
  "EPROTOCOL",
]);

/** Failures that prove no session was ever open, so the message cannot have been sent. */
const NOT_CONNECTED_CODES = new Set(["ECONNREFUSED", "EDNS", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"]);
/** nodemailer's `timeoutType` of the timeouts before the server took anything. */
const SETUP_TIMEOUTS = new Set(["CONNECT_TIMEOUT", "GREETING_TIMEOUT", "UPGRADE_TIMEOUT"]);

/** nodemailer's `command` for failures of the session rather than of one message. */
const SESSION_COMMANDS = new Set(["CONN", "EHLO", "HELO", "LHLO", "STARTTLS"]);

interface NodemailerError {
  message?: unknown;
  code?: unknown;
  originalCode?: unknown;
  responseCode?: unknown;
  response?: unknown;
  command?: unknown;
  timeoutType?: unknown;
}

/** The enhanced status code (RFC 3463) in an SMTP reply, e.g. `5.1.1`. */
export function enhancedStatus(reply: string): string | undefined {
  return /\b([245]\.\d{1,3}\.\d{1,3})\b/.exec(reply)?.[1];
}

/**
 * Maps a nodemailer failure to a PluginError. `scrub` removes secrets from any text that
 * ends up in the error message.
 */
export function smtpErrorToPluginError(err: unknown, scrub: (text: string) => string): PluginError {
  const e = (typeof err === "object" && err !== null ? err : { message: String(err) }) as NodemailerError;
  const code = typeof e.code === "string" ? e.code : undefined;
  const originalCode = typeof e.originalCode === "string" ? e.originalCode : undefined;
  const responseCode = typeof e.responseCode === "number" ? e.responseCode : undefined;
  const response = typeof e.response === "string" ? scrub(e.response.trim()) : undefined;
  const command = typeof e.command === "string" ? e.command : undefined;
  const message = scrub(typeof e.message === "string" ? e.message : "SMTP error");
  // The cause is kept for the hub's own diagnostics but carries only scrubbed text.
  const cause = { code, originalCode, responseCode, command, response };

  if (code === "EAUTH" || responseCode === 535 || responseCode === 534 || responseCode === 530) {
    return new PluginError("SMTP_AUTH", `SMTP authentication failed${response ? `: ${response}` : ""}`, {
      retryable: true,
      retryAfterMs: RETRY_AFTER_MS.auth,
      cause,
    });
  }
  if (responseCode !== undefined && responseCode >= 500 && command !== undefined && SESSION_COMMANDS.has(command)) {
    // The server refused the session (greeting, EHLO, STARTTLS), not this message: a setup
    // problem the operator fixes; the message waits.
    return new PluginError(`SMTP_${responseCode}`, `SMTP server refused the session: ${response ?? message}`, {
      retryable: true,
      retryAfterMs: RETRY_AFTER_MS.auth,
      cause,
    });
  }
  if (responseCode !== undefined && responseCode >= 500 && responseCode < 600) {
    return new PluginError(
      `SMTP_${responseCode}`,
      `SMTP ${command ?? "server"} refused the message: ${response ?? message}`,
      {
        retryable: false,
        status: "FAILED",
        cause,
      },
    );
  }
  if (responseCode !== undefined && responseCode >= 400 && responseCode < 500) {
    const retryAfterMs =
      responseCode === 421
        ? RETRY_AFTER_MS.serviceUnavailable
        : responseCode === 452
          ? RETRY_AFTER_MS.storage
          : RETRY_AFTER_MS.transient;
    return new PluginError(
      `SMTP_${responseCode}`,
      `SMTP ${command ?? "server"} deferred the message: ${response ?? message}`,
      {
        retryable: true,
        retryAfterMs,
        cause,
      },
    );
  }
  if ((code !== undefined && CONNECTION_CODES.has(code)) || (originalCode && CONNECTION_CODES.has(originalCode))) {
    const notConnected =
      NOT_CONNECTED_CODES.has(originalCode ?? code ?? "") ||
      (typeof e.timeoutType === "string" && SETUP_TIMEOUTS.has(e.timeoutType));
    if (!notConnected) {
      // The session broke after it was open: the server may have the message (a timeout
      // waiting for the answer to the final dot), so a resend could deliver it twice.
      return new PluginError(
        "OUTCOME_UNKNOWN",
        `the SMTP session broke (${originalCode ?? code}): ${message}; the server may have the message`,
        { retryable: false, cause },
      );
    }
    return new PluginError("SMTP_CONNECTION", `SMTP server unreachable (${originalCode ?? code}): ${message}`, {
      retryable: true,
      retryAfterMs: RETRY_AFTER_MS.connection,
      cause,
    });
  }
  if (code === "EENVELOPE" && command === "API") {
    // nodemailer refused the envelope before talking to the server: a malformed address.
    return new PluginError("INVALID_ADDRESS", message, { retryable: false, status: "FAILED", cause });
  }
  // Anything else (EMESSAGE, EMAXLIMIT, unknown): the hub retries with its own backoff.
  return new PluginError(code ? `SMTP_${code}` : "SMTP_ERROR", message, {
    retryable: true,
    retryAfterMs: RETRY_AFTER_MS.connection,
    cause,
  });
}

/** The SMTP reply code in a DSN Diagnostic-Code (`smtp; 550 5.1.1 User unknown`). */
function diagnosticSmtpCode(diagnostic: string | undefined): number | undefined {
  if (!diagnostic) return undefined;
  const m = /^\s*smtp\s*;\s*([2-5]\d\d)\b/i.exec(diagnostic);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/** One DSN recipient block as a canonical status event, or undefined when it changes nothing. */
export function dsnToEvent(recipient: DsnRecipient, vendorId: string, fallbackAt: Date): CanonicalEvent | undefined {
  const action = recipient.action.toLowerCase();
  const status = recipient.status ?? "";
  const raw = `${action}${status ? ` ${status}` : ""}`;
  const at = recipient.lastAttemptDate ?? fallbackAt;
  switch (action) {
    case "delivered":
    case "expanded":
      return { kind: "status", vendorId, status: "DELIVERED", raw, at };
    case "failed": {
      const smtpCode = diagnosticSmtpCode(recipient.diagnosticCode);
      return {
        kind: "status",
        vendorId,
        status: "FAILED",
        reasonCode: smtpCode !== undefined ? `SMTP_${smtpCode}` : `DSN_${status || "FAILED"}`,
        reason: recipient.diagnosticCode ?? `delivery failed (${status || "no status"})`,
        retryable: false,
        raw,
        at,
      };
    }
    default:
      // delayed: the MTA keeps trying; relayed: handed to a system that sends no DSN.
      return undefined;
  }
}
