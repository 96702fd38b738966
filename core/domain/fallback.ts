/**
 * Fallback chains: the ordered channels an activity tries. Pure, in the manner of
 * notifme-sdk's strategies, but with deadlines (`after`) and skip conditions (`unless`).
 */
import { Duration } from "luxon";
import type { FallbackPolicy, FallbackStep } from "../config/types.ts";
import { hasReached, isSuccess, type AttemptStatus } from "@dialmesh/sdk";

/**
 * The chain an activity follows: the policy's steps, led by the activity's own channel.
 * When the policy already starts with that channel it is used as is; otherwise the
 * activity's channel comes first and the policy's steps are its fallbacks.
 */
export function resolveChain(channel: string, policy: FallbackPolicy | undefined): FallbackStep[] {
  if (!policy || policy.steps.length === 0) return [{ channel }];
  if (policy.steps[0]?.channel === channel) return policy.steps.map((s) => ({ ...s }));
  return [{ channel }, ...policy.steps.map((s) => ({ ...s }))];
}

export function durationMs(iso: string): number {
  const d = Duration.fromISO(iso);
  if (!d.isValid) throw new Error(`"${iso}" is not an ISO-8601 duration`);
  return d.as("milliseconds");
}

/**
 * Whether `step` is no longer needed given the previous attempt's status: it reached the
 * step's `unless` status, or, without one, it succeeded.
 */
export function isStepUnnecessary(step: FallbackStep, previous: AttemptStatus): boolean {
  return step.unless ? hasReached(previous, step.unless) : isSuccess(previous);
}
