/**
 * Folding vendor status events into an activity: each event moves its attempt forward only
 * if `canAdvance` allows (late or repeated callbacks change nothing); when the latest attempt
 * ends badly, the activity is due again for its retry or fallback. Pure.
 */
import { decideNext, type PlanOptions } from "../domain/activity-plan.ts";
import { canAdvance, isFailure, isVoiceOutcome, type AttemptStatus } from "@dialmesh/sdk";
import type { ActivityDoc, AttemptDoc, TimelineEventDoc } from "../store/models.ts";
import { nextRunFor, snapshotOf } from "./snapshot.ts";

export type StatusEvent = Pick<
  TimelineEventDoc,
  "attemptId" | "status" | "at" | "reasonCode" | "reason" | "raw" | "retryAfterMs" | "talkSeconds" | "agentId"
> & {
  retryable?: boolean;
};

export interface Fold {
  updates: { index: number; set: Partial<AttemptDoc> }[];
  activitySet: Partial<ActivityDoc>;
  /** The activity as it is after the fold. */
  activity: ActivityDoc;
}

/** Undefined when no event changes anything. Events are applied in vendor time order. */
export function foldStatuses(
  activity: ActivityDoc,
  events: StatusEvent[],
  now: Date,
  plan: PlanOptions,
): Fold | undefined {
  const attempts = activity.attempts.map((a) => ({ ...a }));
  const changed = new Set<number>();
  const sorted = [...events].sort((a, b) => a.at.getTime() - b.at.getTime());
  for (const e of sorted) {
    const index = attempts.findIndex((a) => a.id === e.attemptId);
    const attempt = attempts[index];
    if (!attempt || !e.status) continue;
    const next = e.status as AttemptStatus;
    if (attempt.status !== "DISPATCHING" && !canAdvance(attempt.status, next)) continue;
    Object.assign(attempt, {
      status: next,
      raw: e.raw,
      ...(e.reasonCode !== undefined ? { reasonCode: e.reasonCode } : {}),
      ...(e.reason !== undefined ? { reason: e.reason } : {}),
      ...(e.retryAfterMs !== undefined ? { retryAfterMs: e.retryAfterMs } : {}),
      ...(e.talkSeconds !== undefined ? { talkSeconds: e.talkSeconds } : {}),
      ...(e.agentId !== undefined ? { agentId: e.agentId } : {}),
      ...(e.retryable !== undefined
        ? { retryable: e.retryable }
        : isVoiceOutcome(next)
          ? { retryable: next === "NO_ANSWER" || next === "BUSY" }
          : {}),
    });
    changed.add(index);
  }
  if (changed.size === 0) return undefined;
  const latest = attempts.at(-1)!;
  const after: ActivityDoc = {
    ...activity,
    attempts,
    status: latest.status === "DISPATCHING" ? activity.status : latest.status,
  };
  const activitySet: Partial<ActivityDoc> = { status: after.status };
  if (
    changed.has(attempts.length - 1) &&
    (isFailure(latest.status) || (isVoiceOutcome(latest.status) && latest.status !== "CONNECTED"))
  ) {
    activitySet.nextRunAt = nextRunFor(decideNext(snapshotOf(after), now, plan), now);
  }
  return {
    updates: [...changed].map((index) => {
      const a = attempts[index]!;
      return {
        index,
        set: {
          status: a.status,
          raw: a.raw,
          reasonCode: a.reasonCode,
          reason: a.reason,
          retryable: a.retryable,
          ...(a.retryAfterMs !== undefined ? { retryAfterMs: a.retryAfterMs } : {}),
          ...(a.talkSeconds !== undefined ? { talkSeconds: a.talkSeconds } : {}),
          ...(a.agentId !== undefined ? { agentId: a.agentId } : {}),
        },
      };
    }),
    activitySet,
    activity: { ...after, ...activitySet },
  };
}
