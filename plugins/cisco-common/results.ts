/**
 * Shared by the Cisco plugins: a dialer's call result in the canonical vocabulary (the shape of
 * each plugin's private mapping table) and the final event of a contact Cisco closed. Pure.
 */
import type { AttemptStatus, CanonicalEvent, VoiceOutcome } from "@dialmesh/sdk";

/** What a closed contact's result becomes in the hub. */
export type CiscoResultMapping =
  | {
      kind: "call-result";
      outcome: VoiceOutcome;
      /** Set when the canonical outcome alone would lose what Cisco said (a callback request). */
      reasonCode?: string;
      reason: string;
      retryable?: boolean;
    }
  | { kind: "status"; status: AttemptStatus; reasonCode: string; reason: string; retryable: boolean };

export const outcome = (
  value: VoiceOutcome,
  reason: string,
  extra: { reasonCode?: string; retryable?: boolean } = {},
): CiscoResultMapping => ({ kind: "call-result", outcome: value, reason, ...extra });

/** The code that decided a contact: its overall (last) result, else the last phone's non-zero one. */
export function decidingCode(overall: number, phoneResults: readonly number[]): number {
  if (overall !== 0) return overall;
  return [...phoneResults].reverse().find((code) => code !== 0) ?? 0;
}

/** A code the table does not know: a retryable failure that names it. */
export function unknownCallResult(code: number): CiscoResultMapping {
  return {
    kind: "status",
    status: "FAILED",
    reasonCode: "UNKNOWN_CALL_RESULT",
    reason: `unknown Cisco call result ${code}`,
    retryable: true,
  };
}

/**
 * The final event of a closed contact: vendorId = its account number, raw = the code, reason =
 * the mapping's with `detail` (call status, calls made).
 */
export function closedContactEvent(
  mapping: CiscoResultMapping,
  contact: { accountNumber: string; code: number; detail: string },
  at: Date,
): CanonicalEvent {
  const reason = `${mapping.reason} (${contact.detail})`;
  if (mapping.kind === "status") {
    return {
      kind: "status",
      vendorId: contact.accountNumber,
      status: mapping.status,
      raw: String(contact.code),
      reasonCode: mapping.reasonCode,
      reason,
      retryable: mapping.retryable,
      at,
    };
  }
  return {
    kind: "call-result",
    vendorId: contact.accountNumber,
    outcome: mapping.outcome,
    raw: String(contact.code),
    reason,
    ...(mapping.reasonCode !== undefined ? { reasonCode: mapping.reasonCode } : {}),
    // Cisco closed the contact: the campaign's own attempts and retries are used up, so the
    // journey moves to its next step rather than the hub appending the contact again.
    retryable: mapping.retryable ?? false,
    at,
  };
}
