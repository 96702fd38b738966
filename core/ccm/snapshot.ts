/**
 * What the planner sees of a stored activity, and when the scheduler should look at it again.
 * Shared by the dispatcher and the fold (its own module so neither imports the other).
 */
import { type ActivitySnapshot, type Decision } from "../domain/activity-plan.ts";
import { windowZone } from "../domain/calling-window.ts";
import type { ActivityDoc } from "../store/models.ts";

export function snapshotOf(activity: ActivityDoc): ActivitySnapshot {
  return {
    status: activity.status,
    dueAt: activity.dueAt,
    chain: activity.chain,
    attempts: activity.attempts.map((a) => ({
      step: a.step,
      retry: a.retry,
      status: a.status,
      dispatchedAt: a.dispatchedAt,
      ...(a.retryable !== undefined ? { retryable: a.retryable } : {}),
      ...(a.retryAfterMs !== undefined ? { retryAfterMs: a.retryAfterMs } : {}),
    })),
    ...(activity.expiresAt ? { expiresAt: activity.expiresAt } : {}),
    ...(activity.window
      ? { window: { window: activity.window, zone: windowZone(activity.window, activity.customer.timezone) } }
      : {}),
  };
}

/** When the scheduler should look again after `decision`; null for never. */
export function nextRunFor(decision: Decision, now: Date): Date | null {
  switch (decision.kind) {
    case "wait":
      return decision.until;
    case "dispatch":
    case "recover":
    case "expire":
      return now;
    case "idle":
      return null;
  }
}
