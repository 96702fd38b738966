/**
 * Private to the cisco-cce plugin: Outbound Option call results (Dialer_Detail `CallResult`)
 * and import-list `callStatus` values in the canonical vocabulary. Pure, no I/O.
 */
import { outcome, unknownCallResult, type CiscoResultMapping } from "../cisco-common/results.ts";

/**
 * Every Dialer_Detail CallResult code (0-33). Codes that say the dialer never reached the
 * customer for reasons of the contact centre (agent, dialer, Campaign Manager) are no call
 * outcome: the attempt FAILED, retryable, so the hub's journey may try again or fall back.
 * CALLBACK_REQUESTED is a customer event, not a voice outcome: 14 (the customer asked) is a
 * call that reached the customer, CONNECTED; 15 (a machine asked) is ANSWERING_MACHINE; both
 * keep reasonCode CALLBACK_REQUESTED and the raw code.
 */
export const CISCO_CALL_RESULTS: Record<number, CiscoResultMapping> = {
  0: { kind: "status", status: "FAILED", reasonCode: "NOT_ATTEMPTED", reason: "not attempted", retryable: true },
  2: outcome("NETWORK_ERROR", "dial error"),
  3: outcome("INVALID_NUMBER", "number not in service"),
  4: outcome("NETWORK_ERROR", "no ringback"),
  5: outcome("INVALID_NUMBER", "operator intercept"),
  6: outcome("NETWORK_ERROR", "no dial tone"),
  7: outcome("INVALID_NUMBER", "invalid number"),
  8: outcome("NO_ANSWER", "no answer"),
  9: outcome("BUSY", "busy"),
  10: outcome("CONNECTED", "answered and connected to an agent"),
  11: outcome("FAX", "fax machine"),
  12: outcome("ANSWERING_MACHINE", "answering machine"),
  13: { kind: "status", status: "FAILED", reasonCode: "DIALER_STOPPED", reason: "dialer stopped", retryable: true },
  14: outcome("CONNECTED", "customer requested a callback", { reasonCode: "CALLBACK_REQUESTED" }),
  15: outcome("ANSWERING_MACHINE", "machine requested a callback", { reasonCode: "CALLBACK_REQUESTED" }),
  16: outcome("ABANDONED", "abandoned by the dialer"),
  17: {
    kind: "status",
    status: "FAILED",
    reasonCode: "NO_AGENT_FOR_CALLBACK",
    reason: "failed to reserve an agent for the callback",
    retryable: true,
  },
  18: {
    kind: "status",
    status: "FAILED",
    reasonCode: "AGENT_REJECTED",
    reason: "agent rejected the preview call",
    retryable: true,
  },
  19: {
    kind: "status",
    status: "CANCELLED",
    reasonCode: "AGENT_CLOSED",
    reason: "agent rejected the preview call and closed the record",
    retryable: false,
  },
  20: outcome("ABANDONED", "abandoned to IVR"),
  21: outcome("ABANDONED", "customer dropped within the abandon time"),
  22: outcome("ANSWERING_MACHINE", "network answering machine"),
  23: outcome("INVALID_NUMBER", "wrong number"),
  24: outcome("INVALID_NUMBER", "wrong person answered"),
  25: {
    kind: "status",
    status: "FAILED",
    reasonCode: "RETURNED_UNATTEMPTED",
    reason: "returned without an attempt",
    retryable: true,
  },
  26: {
    kind: "status",
    status: "BLOCKED",
    reasonCode: "DNC",
    reason: "number on the Do Not Call list",
    retryable: false,
  },
  27: outcome("NETWORK_ERROR", "network disconnect while ringing"),
  28: outcome("NETWORK_ERROR", "dead air"),
  29: outcome("NETWORK_ERROR", "SIP error"),
  30: outcome("NETWORK_ERROR", "SIP error"),
  31: outcome("NETWORK_ERROR", "SIP error"),
  32: {
    kind: "status",
    status: "FAILED",
    reasonCode: "DIALER_LOST_CAMPAIGN_MANAGER",
    reason: "dialer lost the Campaign Manager",
    retryable: true,
  },
  33: {
    kind: "status",
    status: "FAILED",
    reasonCode: "AGENT_TIMEOUT",
    reason: "agent timed out accepting the call",
    retryable: true,
  },
};

/** The mapping of a CallResult code; an unknown code is a retryable failure that names it. */
export function mapCallResult(code: number): CiscoResultMapping {
  return CISCO_CALL_RESULTS[code] ?? unknownCallResult(code);
}

/**
 * Import-list callStatus, as a letter (`C`) or spelled out (`closed`, as some releases list it).
 * Only closed (C) and max attempts (M) end a contact: A active, B callback, J agent rejected,
 * P pending, R retry, S personal callback and U unknown leave Cisco more attempts.
 */
const CLOSED_STATUSES = new Set(["c", "closed", "m", "max attempts", "maxattempts", "max_attempts"]);

export function isClosedCallStatus(callStatus: string): boolean {
  return CLOSED_STATUSES.has(callStatus.trim().toLowerCase());
}
