/**
 * Private to the voice-freeswitch plugin: FreeSWITCH hangup causes and what the plugin saw of
 * a call (answered, bridged, abandoned, mod_amd's verdict) in the canonical voice outcomes.
 * Pure, no I/O. The raw cause is always kept beside the outcome by the caller.
 */
import type { AmdVerdict, VoiceOutcome } from "@dialmesh/sdk";

/** Causes of a call that never reached anyone, by outcome (Q.850 names as FreeSWITCH spells them). */
export const UNANSWERED_CAUSES: Record<string, VoiceOutcome> = {
  USER_BUSY: "BUSY",
  CALL_REJECTED: "BUSY",
  NO_ANSWER: "NO_ANSWER",
  NO_USER_RESPONSE: "NO_ANSWER",
  SUBSCRIBER_ABSENT: "NO_ANSWER",
  PROGRESS_TIMEOUT: "NO_ANSWER",
  // The hub cancelled a ringing call (hangup(), or its own ring timeout).
  ORIGINATOR_CANCEL: "NO_ANSWER",
  ALLOTTED_TIMEOUT: "NO_ANSWER",
  UNALLOCATED_NUMBER: "INVALID_NUMBER",
  INVALID_NUMBER_FORMAT: "INVALID_NUMBER",
  NO_ROUTE_DESTINATION: "INVALID_NUMBER",
  NUMBER_CHANGED: "INVALID_NUMBER",
  NORMAL_TEMPORARY_FAILURE: "NETWORK_ERROR",
  DESTINATION_OUT_OF_ORDER: "NETWORK_ERROR",
  RECOVERY_ON_TIMER_EXPIRE: "NETWORK_ERROR",
  NORMAL_CIRCUIT_CONGESTION: "NETWORK_ERROR",
  SWITCH_CONGESTION: "NETWORK_ERROR",
  NETWORK_OUT_OF_ORDER: "NETWORK_ERROR",
};

/** `-ERR` causes of an originate that mean the call was never placed: dial() rejects. */
export const NOT_PLACED_CAUSES = {
  /** The configured gateway does not exist: fix the configuration, do not retry. */
  INVALID_GATEWAY: { code: "INVALID_GATEWAY", retryable: false },
  /** The gateway exists but is down (registration failed, ping failed): retry later. */
  GATEWAY_DOWN: { code: "GATEWAY_DOWN", retryable: true },
} as const;

export type NotPlacedCause = keyof typeof NOT_PLACED_CAUSES;

export function isNotPlacedCause(cause: string): cause is NotPlacedCause {
  return Object.hasOwn(NOT_PLACED_CAUSES, cause);
}

/** What the plugin knows of a call when it ends. */
export interface CallFacts {
  /** FreeSWITCH Hangup-Cause, or the cause of the originate's -ERR. */
  cause: string;
  answered: boolean;
  bridged: boolean;
  /** The hub called abandon(): no agent took the call. */
  abandoned: boolean;
  amdVerdict?: AmdVerdict;
}

/**
 * The canonical outcome of an ended call. An answered call is judged by what happened after
 * the answer (the cause of an answered call is nearly always NORMAL_CLEARING): a machine is a
 * machine, a bridge is a connection, an answer nobody took is abandoned.
 */
export function mapCallOutcome(facts: CallFacts): VoiceOutcome {
  if (facts.answered) {
    if (facts.amdVerdict === "MACHINE") return "ANSWERING_MACHINE";
    if (facts.bridged) return "CONNECTED";
    return "ABANDONED";
  }
  return UNANSWERED_CAUSES[facts.cause.trim().toUpperCase()] ?? "NETWORK_ERROR";
}

/** `+OK <uuid>` / `-ERR <CAUSE>` of a BACKGROUND_JOB body. */
export function parseJobResult(body: string): { ok: true; uuid: string } | { ok: false; cause: string } {
  const text = body.trim();
  if (text.startsWith("+OK")) return { ok: true, uuid: text.slice(3).trim() };
  const cause = text.replace(/^-ERR\s*/, "").trim();
  return { ok: false, cause: cause.length > 0 ? cause : "UNKNOWN" };
}

/** Whether `sofia status gateway <gw>` says the gateway exists and is up. */
export function parseGatewayStatus(body: string): "UP" | "DOWN" | "UNKNOWN_GATEWAY" {
  if (/Invalid Gateway/i.test(body)) return "UNKNOWN_GATEWAY";
  const status = /^Status\s+(\S+)/m.exec(body)?.[1];
  return status?.toUpperCase() === "UP" ? "UP" : "DOWN";
}

/** `+14155550100;ext=123` -> the number to dial and the digits to send after the answer. */
export function splitExtension(to: string): { number: string; extension?: string } {
  const match = /^([^;]+);ext=([0-9*#]+)$/i.exec(to.trim());
  if (!match) return { number: to.trim() };
  return { number: match[1] as string, extension: match[2] as string };
}
