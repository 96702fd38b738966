/**
 * What happens next to an activity: the scheduler's pure decision, from a snapshot of the
 * activity and the clock. Dispatching, retrying, falling back, waiting for the calling
 * window or a fallback deadline, expiring, or nothing until a vendor event arrives.
 */
import type { FallbackStep } from "../config/types.ts";
import { nextWindowOpening, type CallingWindow } from "./calling-window.ts";
import { durationMs, isStepUnnecessary } from "./fallback.ts";
import { isFailure, isSuccess, isVoiceOutcome, type ActivityStatus, type AttemptStatus } from "@dialmesh/sdk";

export interface AttemptSnapshot {
  step: number;
  retry: number;
  status: AttemptStatus | "DISPATCHING";
  dispatchedAt: Date;
  retryable?: boolean;
  retryAfterMs?: number;
}

export interface ActivitySnapshot {
  status: ActivityStatus;
  dueAt: Date;
  expiresAt?: Date;
  chain: FallbackStep[];
  attempts: AttemptSnapshot[];
  window?: { window: CallingWindow; zone: string };
}

export interface PlanOptions {
  maxRetries: number;
  retryBaseMs: number;
}

export type Decision =
  | { kind: "dispatch"; step: number; retry: number }
  | { kind: "wait"; until: Date; reason: "due" | "window" | "retry" | "fallback-deadline" }
  /** A crash left the last attempt's outcome unknown. */
  | { kind: "recover" }
  | { kind: "expire" }
  /** Nothing to do until a vendor event changes the picture. */
  | { kind: "idle" };

/** Exponential backoff for a retryable failure: base * 2^retry, or the vendor's hint. */
export function retryDelayMs(attempt: AttemptSnapshot, opts: PlanOptions): number {
  return Math.max(attempt.retryAfterMs ?? 0, opts.retryBaseMs * 2 ** attempt.retry);
}

function isUnsuccessful(status: AttemptStatus): boolean {
  return isFailure(status) || (isVoiceOutcome(status) && status !== "CONNECTED");
}

/** Dispatch at `at` or later, respecting the calling window and expiry. */
function dispatchAt(
  activity: ActivitySnapshot,
  now: Date,
  at: Date,
  step: number,
  retry: number,
  reason: "due" | "retry",
): Decision {
  let when = at;
  if (activity.window) {
    const opening = nextWindowOpening(activity.window.window, when > now ? when : now, activity.window.zone);
    if (!opening) return { kind: "expire" };
    if (opening > when) when = opening;
    if (when > now) {
      if (activity.expiresAt && when >= activity.expiresAt) return { kind: "expire" };
      return { kind: "wait", until: when, reason: opening > at ? "window" : reason };
    }
  }
  if (when > now) return { kind: "wait", until: when, reason };
  return { kind: "dispatch", step, retry };
}

export function decideNext(activity: ActivitySnapshot, now: Date, opts: PlanOptions): Decision {
  if (activity.status === "CANCELLED" || activity.status === "EXPIRED") return { kind: "idle" };
  const last = activity.attempts.at(-1);
  if (last?.status === "DISPATCHING") return { kind: "recover" };

  const succeeded = activity.attempts.some((a) => a.status !== "DISPATCHING" && isSuccess(a.status));
  if (activity.expiresAt && now >= activity.expiresAt && !succeeded) return { kind: "expire" };

  if (!last) return dispatchAt(activity, now, activity.dueAt, 0, 0, "due");

  const next = activity.chain[last.step + 1];
  if (isUnsuccessful(last.status)) {
    if (last.retryable && last.retry < opts.maxRetries) {
      const at = new Date(last.dispatchedAt.getTime() + retryDelayMs(last, opts));
      return dispatchAt(activity, now, at, last.step, last.retry + 1, "retry");
    }
    return next ? dispatchAt(activity, now, now, last.step + 1, 0, "due") : { kind: "idle" };
  }

  // The last attempt is under way or succeeded: fall back only on a deadline.
  if (!next || !next.after || isStepUnnecessary(next, last.status)) return { kind: "idle" };
  const deadline = new Date(last.dispatchedAt.getTime() + durationMs(next.after));
  if (deadline > now) return { kind: "wait", until: deadline, reason: "fallback-deadline" };
  return dispatchAt(activity, now, now, last.step + 1, 0, "due");
}
