/**
 * Abandonment accounting per campaign, by each regulator's definition: the share of
 * live-answered calls not connected to an agent within the connect limit (2 s), over the
 * regulator's period: a rolling 30 days (US), or the calendar day, midnight to midnight
 * (UK, Canada). The UK also counts the estimated people AMD hung up on as machines, in
 * both the abandoned calls and the live answers. Pure.
 */
import type { AbandonmentRule } from "./types.ts";

/** A campaign's counts for one calendar day (in the campaign's zone); `day` is an ordinal. */
export interface DailyAbandonTally {
  day: number;
  liveAnswered: number;
  abandoned: number;
  /** Estimated people hung up on by AMD as machines that day. */
  amdFalsePositives: number;
}

export interface AbandonmentReading {
  rate: number;
  abandoned: number;
  liveAnswered: number;
  maxRate: number;
  overLimit: boolean;
}

/** Day ordinal (days since 1970-01-01) of a local calendar date "YYYY-MM-DD". */
export function dayOrdinal(isoDate: string): number {
  return Math.floor(Date.parse(`${isoDate}T00:00:00Z`) / 86_400_000);
}

/** The 2-second rule: was a live answer abandoned, given when (if ever) an agent took it? */
export function isAbandoned(rule: AbandonmentRule, answeredAt: number, agentConnectedAt: number | undefined): boolean {
  return agentConnectedAt === undefined || agentConnectedAt - answeredAt > rule.connectWithinSeconds * 1000;
}

/** The days a reading on `asOfDay` covers. */
export function periodDays(rule: AbandonmentRule, asOfDay: number): { from: number; to: number } {
  return rule.period.kind === "calendar-day"
    ? { from: asOfDay, to: asOfDay }
    : { from: asOfDay - rule.period.days + 1, to: asOfDay };
}

export function abandonmentRate(
  rule: AbandonmentRule,
  tallies: readonly DailyAbandonTally[],
  asOfDay: number,
): AbandonmentReading {
  const { from, to } = periodDays(rule, asOfDay);
  let abandoned = 0;
  let liveAnswered = 0;
  for (const t of tallies) {
    if (t.day < from || t.day > to) continue;
    const falsePositives = rule.countAmdFalsePositives ? t.amdFalsePositives : 0;
    abandoned += t.abandoned + falsePositives;
    liveAnswered += t.liveAnswered + falsePositives;
  }
  const rate = liveAnswered > 0 ? abandoned / liveAnswered : 0;
  return { rate, abandoned, liveAnswered, maxRate: rule.maxRate, overLimit: rate > rule.maxRate };
}

/** The worst reading over every day that has calls (each day's reading as of that day). */
export function worstAbandonmentRate(rule: AbandonmentRule, tallies: readonly DailyAbandonTally[]): AbandonmentReading {
  let worst: AbandonmentReading = abandonmentRate(rule, [], 0);
  for (const t of tallies) {
    const reading = abandonmentRate(rule, tallies, t.day);
    if (reading.rate > worst.rate || worst.liveAnswered === 0) worst = reading;
  }
  return worst;
}

/**
 * Estimated AMD false positives from what a dialer can see: calls AMD classified as
 * machines, and the share of those found to be people in a listening sample (Ofcom asks
 * for a reasoned estimate).
 */
export function estimateAmdFalsePositives(machineClassified: number, sampledShareHuman: number): number {
  return machineClassified * Math.min(1, Math.max(0, sampledShareHuman));
}
