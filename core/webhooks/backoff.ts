/**
 * Retry schedule for webhook deliveries: exponential backoff with jitter and a cap. Pure.
 *
 * With the defaults (8 attempts, 30 s base, factor 2, 30 min cap, ±20 % jitter) the retries
 * come about 30 s, 1, 2, 4, 8, 16 and 30 min after each failed attempt: the eighth and last
 * attempt is made roughly an hour after the first.
 */

export interface BackoffPolicy {
  /** Total attempts, the first included. After the last failed one the delivery is dead. */
  maxAttempts: number;
  /** Delay after the first failed attempt, in ms. */
  baseDelayMs: number;
  /** Growth per further attempt. */
  factor: number;
  /** No delay exceeds this, jitter included, in ms. */
  maxDelayMs: number;
  /** Spread of the random jitter, as a fraction of the delay (0 = none, 0.2 = ±20 %). */
  jitter: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffPolicy> = Object.freeze({
  maxAttempts: 8,
  baseDelayMs: 30_000,
  factor: 2,
  maxDelayMs: 30 * 60_000,
  jitter: 0.2,
});

/** Checks a policy; returns what is wrong (empty when fine). */
export function backoffPolicyProblems(p: BackoffPolicy): string[] {
  const problems: string[] = [];
  if (!Number.isInteger(p.maxAttempts) || p.maxAttempts < 1) problems.push("maxAttempts must be an integer >= 1");
  if (!(p.baseDelayMs >= 0) || !Number.isFinite(p.baseDelayMs)) problems.push("baseDelayMs must be a number >= 0");
  if (!(p.factor >= 1) || !Number.isFinite(p.factor)) problems.push("factor must be a number >= 1");
  if (!(p.maxDelayMs >= p.baseDelayMs) || !Number.isFinite(p.maxDelayMs))
    problems.push("maxDelayMs must be a number >= baseDelayMs");
  if (!(p.jitter >= 0 && p.jitter <= 1)) problems.push("jitter must be between 0 and 1");
  return problems;
}

/**
 * Delay before the next attempt after `failedAttempts` failures (1 = the first attempt failed).
 * `random` returns a number in [0, 1) (injectable for tests).
 */
export function retryDelayMs(
  failedAttempts: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const n = Math.max(1, Math.floor(failedAttempts));
  const raw = Math.min(policy.maxDelayMs, policy.baseDelayMs * policy.factor ** (n - 1));
  const spread = raw * policy.jitter;
  const jittered = raw - spread + 2 * spread * random();
  return Math.max(0, Math.min(policy.maxDelayMs, Math.round(jittered)));
}

export type RetryDecision = { kind: "retry"; at: Date; delayMs: number } | { kind: "dead" };

/** What to do after a failed attempt: retry at a time, or give up (dead letter). */
export function afterFailure(
  failedAttempts: number,
  now: Date,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): RetryDecision {
  if (failedAttempts >= policy.maxAttempts) return { kind: "dead" };
  const delayMs = retryDelayMs(failedAttempts, policy, random);
  return { kind: "retry", at: new Date(now.getTime() + delayMs), delayMs };
}
