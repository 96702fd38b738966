/**
 * Private to the sms-twilio plugin: Twilio message statuses and error codes in the canonical
 * vocabulary, and SMS segment counting (Twilio's throughput is in segments per second).
 * Pure, no I/O.
 */
import type { AttemptStatus } from "@dialmesh/sdk";

/** Every value of Twilio's Message `status`. */
export const TWILIO_MESSAGE_STATUSES = [
  "queued",
  "sending",
  "sent",
  "failed",
  "delivered",
  "undelivered",
  "receiving",
  "received",
  "accepted",
  "scheduled",
  "read",
  "partially_delivered",
  "canceled",
] as const;
export type TwilioMessageStatus = (typeof TWILIO_MESSAGE_STATUSES)[number];

/**
 * Outbound statuses in the canonical vocabulary. `receiving`/`received` belong to inbound
 * messages (customer replies), so they have no outbound status: undefined.
 * `accepted` (Messaging Service), `scheduled` and `sending` are all still on Twilio's side:
 * QUEUED. `partially_delivered` means some parts reached the handset: DELIVERED, with the
 * raw value kept.
 */
export const TWILIO_STATUS_MAP: Record<TwilioMessageStatus, AttemptStatus | undefined> = {
  accepted: "QUEUED",
  scheduled: "QUEUED",
  queued: "QUEUED",
  sending: "QUEUED",
  sent: "SENT",
  delivered: "DELIVERED",
  partially_delivered: "DELIVERED",
  read: "READ",
  failed: "FAILED",
  undelivered: "FAILED",
  canceled: "CANCELLED",
  receiving: undefined,
  received: undefined,
};

export function isTwilioStatus(raw: string): raw is TwilioMessageStatus {
  return (TWILIO_MESSAGE_STATUSES as readonly string[]).includes(raw);
}

export function mapTwilioStatus(raw: string): AttemptStatus | undefined {
  const key = raw.trim().toLowerCase();
  return isTwilioStatus(key) ? TWILIO_STATUS_MAP[key] : undefined;
}

export interface TwilioErrorInfo {
  /** Canonical reason key, used as the PluginError code. */
  code: string;
  reason: string;
  retryable: boolean;
  status: "FAILED" | "BLOCKED";
  optOut: boolean;
  /** Suggested wait before a retry. */
  retryAfterMs?: number;
}

type Entry = Omit<TwilioErrorInfo, "optOut" | "status"> & { optOut?: boolean; status?: "FAILED" | "BLOCKED" };

/** Twilio error codes (API responses and the ErrorCode of status callbacks). */
const TWILIO_ERRORS: Record<number, Entry> = {
  // Account and request errors (synchronous)
  20003: { code: "AUTH_FAILED", reason: "authentication failed: check accountSid and authToken", retryable: false },
  20404: { code: "NOT_FOUND", reason: "resource not found (check accountSid and baseUrl)", retryable: false },
  20429: { code: "RATE_LIMITED", reason: "too many concurrent requests", retryable: true, retryAfterMs: 1000 },
  20500: { code: "VENDOR_ERROR", reason: "Twilio internal error", retryable: true, retryAfterMs: 5000 },
  20503: { code: "VENDOR_UNAVAILABLE", reason: "Twilio service unavailable", retryable: true, retryAfterMs: 5000 },
  21211: { code: "INVALID_NUMBER", reason: "invalid 'To' phone number", retryable: false },
  21212: { code: "INVALID_SENDER", reason: "invalid 'From' number", retryable: false },
  21408: { code: "REGION_NOT_ENABLED", reason: "sending to this region is not enabled", retryable: false },
  21602: { code: "NO_CONTENT", reason: "message body is required", retryable: false },
  21603: { code: "INVALID_SENDER", reason: "a 'From' number is required", retryable: false },
  21604: { code: "INVALID_NUMBER", reason: "a 'To' number is required", retryable: false },
  21606: {
    code: "INVALID_SENDER",
    reason: "the 'From' number is not a valid sender for this account",
    retryable: false,
  },
  21610: {
    code: "OPTED_OUT",
    reason: "recipient opted out (replied STOP)",
    retryable: false,
    status: "BLOCKED",
    optOut: true,
  },
  21612: { code: "UNROUTABLE", reason: "Twilio cannot route to this number", retryable: false },
  21614: { code: "NOT_MOBILE", reason: "'To' is not a mobile number", retryable: false },
  21617: { code: "BODY_TOO_LONG", reason: "message body exceeds 1600 characters", retryable: false },
  // Delivery errors (asynchronous: ErrorCode of failed/undelivered callbacks)
  30001: { code: "QUEUE_OVERFLOW", reason: "sender queue overflow", retryable: true, retryAfterMs: 60_000 },
  30002: { code: "ACCOUNT_SUSPENDED", reason: "Twilio account suspended", retryable: false },
  30003: { code: "UNREACHABLE", reason: "destination handset unreachable (off or out of coverage)", retryable: true },
  30004: { code: "MESSAGE_BLOCKED", reason: "message blocked by the recipient or the carrier", retryable: false },
  30005: { code: "UNKNOWN_NUMBER", reason: "unknown destination handset (number does not exist)", retryable: false },
  30006: { code: "LANDLINE", reason: "landline or unreachable carrier", retryable: false },
  30007: { code: "FILTERED", reason: "filtered by the carrier (spam or content violation)", retryable: false },
  30008: { code: "UNKNOWN_ERROR", reason: "unknown delivery error", retryable: true },
  30009: { code: "MISSING_SEGMENT", reason: "a message segment went missing", retryable: true },
  30010: { code: "PRICE_EXCEEDS_MAX", reason: "message price exceeds MaxPrice", retryable: false },
  63016: {
    code: "WINDOW_CLOSED",
    reason: "WhatsApp: outside the 24-hour customer-service window; an approved template is required",
    retryable: false,
  },
};

/**
 * What a Twilio error means. `code` is Twilio's error code (number or numeric string), when
 * known; `httpStatus` the HTTP status of an API response.
 */
export function describeTwilioError(code: number | string | undefined, httpStatus?: number): TwilioErrorInfo {
  const numeric = code === undefined || code === "" ? undefined : Number(code);
  const entry = numeric !== undefined && Number.isFinite(numeric) ? TWILIO_ERRORS[numeric] : undefined;
  if (entry) return { status: "FAILED", optOut: false, ...entry };
  if (httpStatus === 429) {
    return {
      code: "RATE_LIMITED",
      reason: "too many requests",
      retryable: true,
      status: "FAILED",
      optOut: false,
      retryAfterMs: 1000,
    };
  }
  if (httpStatus === 401 || httpStatus === 403) {
    return { code: "AUTH_FAILED", reason: "authentication failed", retryable: false, status: "FAILED", optOut: false };
  }
  if (httpStatus !== undefined && httpStatus >= 500) {
    return {
      code: "VENDOR_ERROR",
      reason: `Twilio HTTP ${httpStatus}`,
      retryable: true,
      status: "FAILED",
      optOut: false,
    };
  }
  if (httpStatus !== undefined) {
    return {
      code: "VENDOR_REJECTED",
      reason: `Twilio refused the request (HTTP ${httpStatus})`,
      retryable: false,
      status: "FAILED",
      optOut: false,
    };
  }
  return { code: "DELIVERY_FAILED", reason: "delivery failed", retryable: false, status: "FAILED", optOut: false };
}

// GSM 03.38 basic character set, and the extension table (each extension char costs 2 septets).
const GSM_BASIC =
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM_EXTENDED = "^{}\\[~]|€\f";

/**
 * Number of SMS segments Twilio bills and paces for `text`: GSM-7 160 (153 per part when
 * concatenated), otherwise UCS-2 70 (67 per part, counted in UTF-16 code units).
 */
export function countSegments(text: string): number {
  let septets = 0;
  let gsm = true;
  for (const ch of text) {
    if (GSM_BASIC.includes(ch)) septets += 1;
    else if (GSM_EXTENDED.includes(ch)) septets += 2;
    else {
      gsm = false;
      break;
    }
  }
  if (gsm) return septets <= 160 ? 1 : Math.ceil(septets / 153);
  const units = text.length;
  return units <= 70 ? 1 : Math.ceil(units / 67);
}

/** The longest wait a `Retry-After` is followed for (a larger one is a vendor's typo or an outage). */
const MAX_RETRY_AFTER_MS = 10 * 60_000;

/**
 * A `Retry-After` header (RFC 9110: delay-seconds or an HTTP date) as milliseconds from
 * `nowMs`, or undefined when absent or unreadable.
 */
export function retryAfterMs(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  const ms = /^\d+$/.test(text) ? Number(text) * 1000 : Date.parse(text) - nowMs;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}
