/**
 * Live health of one plugin instance: its own `health()` answers, polled, and the failures of
 * its sends, counted. Pure state transitions; the plugins service feeds them.
 */
import type { SendFailure } from "../ccm/ports.ts";

export interface HealthState {
  ok: boolean;
  /** Why it is not ok (or the last health detail). */
  detail?: string;
  /** Sends in a row that failed in a way that fails over (see `canFailOver`). */
  consecutiveFailures: number;
  checkedAt?: Date;
}

export type HealthEvent =
  | { kind: "check"; ok: boolean; detail?: string; at: Date }
  | { kind: "sent"; at: Date }
  | { kind: "send-failed"; error: SendFailure; at: Date };

export const INITIAL_HEALTH: HealthState = { ok: true, consecutiveFailures: 0 };

/**
 * Failures after which the hub is sure nothing reached the vendor, so another instance may
 * carry the same attempt: a retryable refusal (503, 429, connection refused, not loaded).
 * Not a timeout or an unexpected throw: the vendor may have taken the message, and sending it
 * through another instance could reach the customer twice.
 */
const OUTCOME_UNKNOWN = new Set(["PLUGIN_TIMEOUT", "PLUGIN_ERROR"]);

export function canFailOver(error: SendFailure): boolean {
  return error.retryable && !OUTCOME_UNKNOWN.has(error.code);
}

export function nextHealth(state: HealthState, event: HealthEvent, failureThreshold: number): HealthState {
  switch (event.kind) {
    case "check":
      return {
        ok: event.ok,
        consecutiveFailures: event.ok ? 0 : state.consecutiveFailures,
        checkedAt: event.at,
        ...(event.detail ? { detail: event.detail } : {}),
      };
    case "sent": {
      // A message the vendor took proves the instance works, whatever its last check said.
      const { detail: _stale, ...rest } = state;
      return { ...rest, ok: true, consecutiveFailures: 0 };
    }
    case "send-failed": {
      if (!canFailOver(event.error)) return state;
      const consecutiveFailures = state.consecutiveFailures + 1;
      if (consecutiveFailures < failureThreshold) return { ...state, consecutiveFailures };
      return {
        ...state,
        ok: false,
        consecutiveFailures,
        detail: `${consecutiveFailures} sends in a row failed (last: ${event.error.code}: ${event.error.message})`,
      };
    }
  }
}
