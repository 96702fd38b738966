/**
 * Attempt limits per number (e.g. Florida: at most 3 calls in 24 hours about one subject)
 * and the UK's 72-hour rule after an abandoned call. Pure: the caller passes the history.
 */
import type { AbandonmentRule, AttemptLimit } from "./types.ts";

export type AttemptVerdict = { allowed: true } | { allowed: false; reason: string; retryAt: Date };

const HOUR = 3_600_000;

/**
 * Whether one more attempt at `at` keeps within every limit, given earlier attempts to the
 * same number (for "subject" limits: the same campaign's attempts).
 */
export function checkAttemptLimits(
  limits: readonly { source: string; limit: AttemptLimit }[],
  previousAttempts: readonly Date[],
  at: Date,
): AttemptVerdict {
  let refused: { reason: string; retryAt: Date } | undefined;
  for (const { source, limit } of limits) {
    const windowStart = at.getTime() - limit.perHours * HOUR;
    const inWindow = previousAttempts
      .map((d) => d.getTime())
      .filter((t) => t > windowStart && t <= at.getTime())
      .sort((a, b) => a - b);
    if (inWindow.length >= limit.maxAttempts) {
      // The attempt that must age out before another is allowed.
      const oldestThatBlocks = inWindow[inWindow.length - limit.maxAttempts] as number;
      const retryAt = new Date(oldestThatBlocks + limit.perHours * HOUR);
      if (!refused || retryAt > refused.retryAt) {
        refused = { reason: `${source}: at most ${limit.maxAttempts} calls per ${limit.perHours} h`, retryAt };
      }
    }
  }
  return refused ? { allowed: false, ...refused } : { allowed: true };
}

/**
 * The no-repeat rule after an abandoned call (UK: 72 h), unless the repeat call is placed
 * with an agent guaranteed (preview or progressive with a reserved agent).
 */
export function checkRepeatAfterAbandon(
  rule: AbandonmentRule | undefined,
  lastAbandonedAt: Date | undefined,
  at: Date,
  agentGuaranteed: boolean,
): AttemptVerdict {
  const hours = rule?.noRepeatAfterAbandonHours;
  if (!hours || !lastAbandonedAt || agentGuaranteed) return { allowed: true };
  const retryAt = new Date(lastAbandonedAt.getTime() + hours * HOUR);
  return at < retryAt
    ? {
        allowed: false,
        reason: `no repeat call within ${hours} h of an abandoned call without a guaranteed agent`,
        retryAt,
      }
    : { allowed: true };
}
