/**
 * Private to the whatsapp-cloud plugin: Cloud API statuses and Graph error codes in the
 * canonical vocabulary. Pure, no I/O.
 */
import type { AttemptStatus } from "@dialmesh/sdk";

/** Values of `statuses[].status` in the messages webhook. */
export const CLOUD_STATUS_MAP: Record<string, AttemptStatus> = {
  sent: "SENT",
  delivered: "DELIVERED",
  read: "READ",
  /** A voice message was played: it was read. */
  played: "READ",
  failed: "FAILED",
};

export function mapCloudStatus(raw: string): AttemptStatus | undefined {
  return Object.hasOwn(CLOUD_STATUS_MAP, raw) ? CLOUD_STATUS_MAP[raw] : undefined;
}

export interface GraphErrorInfo {
  /** Canonical reason key, used as the PluginError code. */
  code: string;
  reason: string;
  retryable: boolean;
  retryAfterMs?: number;
}

/** Graph / Cloud API error codes worth telling apart. */
const GRAPH_ERRORS: Record<number, GraphErrorInfo> = {
  0: { code: "AUTH_FAILED", reason: "the access token could not be authenticated", retryable: false },
  1: { code: "VENDOR_ERROR", reason: "unknown Graph API error", retryable: true, retryAfterMs: 5000 },
  2: { code: "VENDOR_UNAVAILABLE", reason: "Graph API temporarily unavailable", retryable: true, retryAfterMs: 5000 },
  3: { code: "PERMISSION_DENIED", reason: "the app lacks the capability or permission", retryable: false },
  4: { code: "RATE_LIMITED", reason: "application request limit reached", retryable: true, retryAfterMs: 60_000 },
  10: { code: "PERMISSION_DENIED", reason: "permission not granted or removed", retryable: false },
  80007: {
    code: "RATE_LIMITED",
    reason: "WhatsApp Business account rate limit reached",
    retryable: true,
    retryAfterMs: 60_000,
  },
  100: { code: "INVALID_REQUEST", reason: "invalid parameter (check phoneNumberId and the message)", retryable: false },
  190: { code: "AUTH_FAILED", reason: "access token expired or invalid", retryable: false },
  368: { code: "ACCOUNT_RESTRICTED", reason: "temporarily blocked for policy violations", retryable: false },
  130429: { code: "RATE_LIMITED", reason: "Cloud API throughput reached", retryable: true, retryAfterMs: 1000 },
  130472: { code: "EXPERIMENT", reason: "recipient is part of a Meta marketing experiment", retryable: false },
  130497: {
    code: "ACCOUNT_RESTRICTED",
    reason: "business account restricted from messaging this country",
    retryable: false,
  },
  131000: { code: "VENDOR_ERROR", reason: "something went wrong at WhatsApp", retryable: true, retryAfterMs: 5000 },
  131005: { code: "PERMISSION_DENIED", reason: "access denied", retryable: false },
  131008: { code: "INVALID_REQUEST", reason: "a required parameter is missing", retryable: false },
  131009: { code: "INVALID_REQUEST", reason: "a parameter value is not valid", retryable: false },
  131016: { code: "VENDOR_UNAVAILABLE", reason: "WhatsApp service overloaded", retryable: true, retryAfterMs: 5000 },
  131021: { code: "INVALID_NUMBER", reason: "sender and recipient are the same number", retryable: false },
  131026: {
    code: "UNDELIVERABLE",
    reason: "message undeliverable (not a WhatsApp number, old client, or terms not accepted)",
    retryable: false,
  },
  131031: { code: "ACCOUNT_RESTRICTED", reason: "business account locked", retryable: false },
  131042: { code: "PAYMENT_REQUIRED", reason: "business eligibility / payment issue", retryable: false },
  131045: { code: "SENDER_NOT_REGISTERED", reason: "the business phone number is not registered", retryable: false },
  131047: {
    code: "WINDOW_CLOSED",
    reason: "re-engagement required: more than 24 hours since the customer's last message; send an approved template",
    retryable: false,
  },
  131048: {
    code: "SPAM_RATE_LIMITED",
    reason: "spam rate limit: too many messages were flagged",
    retryable: true,
    retryAfterMs: 3_600_000,
  },
  131049: {
    code: "MARKETING_LIMITED",
    reason: "WhatsApp held back this marketing message for the user",
    retryable: false,
  },
  131050: {
    code: "MARKETING_OPTED_OUT",
    reason: "the user stopped marketing messages from this business",
    retryable: false,
  },
  131051: { code: "UNSUPPORTED_TYPE", reason: "unsupported message type", retryable: false },
  131052: { code: "MEDIA_ERROR", reason: "media download error", retryable: false },
  131053: { code: "MEDIA_ERROR", reason: "media upload error", retryable: false },
  131056: {
    code: "PAIR_RATE_LIMITED",
    reason: "too many messages to this recipient in a short time",
    retryable: true,
    retryAfterMs: 10_000,
  },
  131057: {
    code: "ACCOUNT_MAINTENANCE",
    reason: "business account in maintenance mode",
    retryable: true,
    retryAfterMs: 60_000,
  },
  132000: { code: "TEMPLATE_INVALID", reason: "template parameter count mismatch", retryable: false },
  132001: {
    code: "TEMPLATE_INVALID",
    reason: "template does not exist in this language or is not approved",
    retryable: false,
  },
  132005: { code: "TEMPLATE_INVALID", reason: "translated template text too long", retryable: false },
  132007: { code: "TEMPLATE_INVALID", reason: "template content violates a policy", retryable: false },
  132012: { code: "TEMPLATE_INVALID", reason: "template parameter format mismatch", retryable: false },
  132015: { code: "TEMPLATE_INVALID", reason: "template paused for low quality", retryable: false },
  132016: { code: "TEMPLATE_INVALID", reason: "template disabled for low quality", retryable: false },
  133010: { code: "SENDER_NOT_REGISTERED", reason: "the business phone number is not registered", retryable: false },
};

/** What a Graph error means; `httpStatus` is used when the code is unknown. */
export function describeGraphError(code: number | string | undefined, httpStatus?: number): GraphErrorInfo {
  const numeric = code === undefined || code === "" ? undefined : Number(code);
  const known = numeric !== undefined && Number.isFinite(numeric) ? GRAPH_ERRORS[numeric] : undefined;
  if (known) return known;
  if (numeric !== undefined && numeric >= 200 && numeric <= 299) {
    return { code: "PERMISSION_DENIED", reason: "API permission not granted or removed", retryable: false };
  }
  if (httpStatus === 429)
    return { code: "RATE_LIMITED", reason: "too many requests", retryable: true, retryAfterMs: 1000 };
  if (httpStatus === 401) return { code: "AUTH_FAILED", reason: "authentication failed", retryable: false };
  if (httpStatus !== undefined && httpStatus >= 500) {
    return { code: "VENDOR_ERROR", reason: `Graph API HTTP ${httpStatus}`, retryable: true, retryAfterMs: 5000 };
  }
  if (httpStatus !== undefined) {
    return { code: "VENDOR_REJECTED", reason: `Graph API refused the request (HTTP ${httpStatus})`, retryable: false };
  }
  return { code: "DELIVERY_FAILED", reason: "delivery failed", retryable: false };
}
