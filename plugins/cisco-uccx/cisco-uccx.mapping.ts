/**
 * Private to the cisco-uccx plugin: UCCX outbound call results and contact call statuses in
 * the canonical vocabulary, and the final event of a contact UCCX closed. Pure, no I/O.
 *
 * Sources: the six result codes below are those `shared/reference.md` gives (reported by an
 * integrator: connected 10, busy 11, answering machine 3, fax 2, invalid 4, no answer 15);
 * Cisco's UCCX developer pages we could reach list the contact columns (`call result`,
 * `call status`, `call result 01..03`) but not the code values. Every other code is reported
 * as a retryable FAILED naming it (raw code kept), so the journey still moves on and the code
 * shows on the conversation for someone to add here.
 */
import type { CanonicalEvent } from "@dialmesh/sdk";
import {
  closedContactEvent,
  decidingCode as decidingCodeOf,
  outcome,
  unknownCallResult,
  type CiscoResultMapping,
} from "../cisco-common/results.ts";
import type { UccxContact } from "./cisco-uccx.api.ts";

export const UCCX_CALL_RESULTS: Record<number, CiscoResultMapping> = {
  // A contact closed before any call (the list shows 0 for a contact never dialed).
  0: { kind: "status", status: "FAILED", reasonCode: "NOT_ATTEMPTED", reason: "not attempted", retryable: true },
  2: outcome("FAX", "fax machine"),
  3: outcome("ANSWERING_MACHINE", "answering machine"),
  4: outcome("INVALID_NUMBER", "invalid number"),
  10: outcome("CONNECTED", "connected"),
  11: outcome("BUSY", "busy"),
  15: outcome("NO_ANSWER", "no answer"),
};

export function mapCallResult(code: number): CiscoResultMapping {
  return UCCX_CALL_RESULTS[code] ?? unknownCallResult(code);
}

/**
 * The call statuses the Admin API names (its `?q=` filter: PENDING, CALLBACK, RETRY,
 * RETRIES_WITH_DELAY, MAX_CALLS, UNKNOWN; and ACTIVE, CLOSED). Only CLOSED and MAX_CALLS end
 * a contact: the others leave UCCX more attempts.
 */
export const UCCX_CALL_STATUSES = [
  "PENDING",
  "ACTIVE",
  "CALLBACK",
  "RETRY",
  "RETRIES_WITH_DELAY",
  "MAX_CALLS",
  "CLOSED",
  "UNKNOWN",
] as const;
export type UccxCallStatus = (typeof UCCX_CALL_STATUSES)[number];

const CLOSED: ReadonlySet<UccxCallStatus> = new Set(["CLOSED", "MAX_CALLS"]);

/** `Max Calls`, `max_calls`, `MAX-CALLS` -> MAX_CALLS; undefined for anything else (a number too). */
export function callStatusOf(raw: string): UccxCallStatus | undefined {
  const name = raw
    .trim()
    .toUpperCase()
    .replace(/[\s-]+/g, "_");
  return (UCCX_CALL_STATUSES as readonly string[]).includes(name) ? (name as UccxCallStatus) : undefined;
}

export function isClosedCallStatus(raw: string): boolean {
  const status = callStatusOf(raw);
  return status !== undefined && CLOSED.has(status);
}

/** The code that decided the contact: the last result, else the last phone's. */
export function decidingCode(contact: UccxContact): number {
  return decidingCodeOf(contact.callResult, contact.phoneResults);
}

/** The final event of a closed contact (vendorId = the account number, raw = the result code). */
export function resultEvent(contact: UccxContact, at: Date): CanonicalEvent {
  const code = decidingCode(contact);
  const detail = `UCCX call status ${contact.callStatus}, ${contact.callsMade} call(s)`;
  return closedContactEvent(mapCallResult(code), { accountNumber: contact.accountNumber, code, detail }, at);
}
