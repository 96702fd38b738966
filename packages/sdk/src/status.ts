/**
 * The canonical vocabulary: one model of delivery statuses, voice outcomes and customer
 * events for every vendor. Plugins map vendor codes onto these; nothing else is stored.
 */

/** Progress of a message, in order. A lower one never overwrites a higher one. */
export const PROGRESS_STATUSES = ["QUEUED", "SENT", "DELIVERED", "READ"] as const;
export type ProgressStatus = (typeof PROGRESS_STATUSES)[number];

/** Ends of an attempt that are not a success. */
export const FAILURE_STATUSES = ["FAILED", "EXPIRED", "CANCELLED", "BLOCKED"] as const;
export type FailureStatus = (typeof FAILURE_STATUSES)[number];

/** Results of a voice call attempt; the vendor's raw code is kept beside them. */
export const VOICE_OUTCOMES = [
  "CONNECTED",
  "NO_ANSWER",
  "BUSY",
  "ANSWERING_MACHINE",
  "FAX",
  "INVALID_NUMBER",
  "ABANDONED",
  "NETWORK_ERROR",
] as const;
export type VoiceOutcome = (typeof VOICE_OUTCOMES)[number];

/** What a customer did in answer. */
export const CUSTOMER_EVENTS = ["REPLIED", "OPTED_OUT", "CALLBACK_REQUESTED"] as const;
export type CustomerEvent = (typeof CUSTOMER_EVENTS)[number];

export type AttemptStatus = ProgressStatus | FailureStatus | VoiceOutcome;
export const ATTEMPT_STATUSES: readonly AttemptStatus[] = [
  ...PROGRESS_STATUSES,
  ...FAILURE_STATUSES,
  ...VOICE_OUTCOMES,
];

/** Lifecycle of an activity before its current attempt has a vendor status. */
export type ActivityStatus = "SCHEDULED" | "DISPATCHING" | AttemptStatus;
export const ACTIVITY_STATUSES: readonly ActivityStatus[] = ["SCHEDULED", "DISPATCHING", ...ATTEMPT_STATUSES];

const PROGRESS_RANK: Record<ProgressStatus, number> = { QUEUED: 1, SENT: 2, DELIVERED: 3, READ: 4 };

export function isProgress(status: string): status is ProgressStatus {
  return (PROGRESS_STATUSES as readonly string[]).includes(status);
}
export function isFailure(status: string): status is FailureStatus {
  return (FAILURE_STATUSES as readonly string[]).includes(status);
}
export function isVoiceOutcome(status: string): status is VoiceOutcome {
  return (VOICE_OUTCOMES as readonly string[]).includes(status);
}
export function isAttemptStatus(status: string): status is AttemptStatus {
  return (ATTEMPT_STATUSES as readonly string[]).includes(status);
}

/**
 * Whether an attempt may move from `current` to `next`. Callbacks arrive late and out of
 * order, so: progress only rises; a failure may end an attempt that has not yet been
 * delivered (a late `undelivered` after `sent`), but never undoes DELIVERED or READ; a
 * terminal failure or voice outcome is final.
 */
export function canAdvance(current: AttemptStatus | undefined, next: AttemptStatus): boolean {
  if (current === undefined) return true;
  if (current === next) return false;
  if (isFailure(current) || isVoiceOutcome(current)) return false;
  // current is a progress status
  if (isProgress(next)) return PROGRESS_RANK[next] > PROGRESS_RANK[current];
  if (isFailure(next)) return PROGRESS_RANK[current] < PROGRESS_RANK.DELIVERED;
  return true; // a voice outcome ends a queued or ringing call
}

/** Statuses after which nothing more is expected from the vendor for this attempt. */
export function isFinal(status: AttemptStatus): boolean {
  return isFailure(status) || isVoiceOutcome(status) || status === "READ";
}

/** Whether the attempt reached `target` or beyond (used by fallback `unless`). */
export function hasReached(current: AttemptStatus | undefined, target: AttemptStatus): boolean {
  if (current === undefined) return false;
  if (current === target) return true;
  if (isProgress(current) && isProgress(target)) return PROGRESS_RANK[current] >= PROGRESS_RANK[target];
  return false;
}

/** Success for a channel: the message got through, or the call reached a person. */
export function isSuccess(status: AttemptStatus): boolean {
  return status === "SENT" || status === "DELIVERED" || status === "READ" || status === "CONNECTED";
}
