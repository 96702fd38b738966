/** Builds pacing snapshots for tests: only what a test states differs from an idle campaign. */
import { logNormalCdf, logNormalFromMoments } from "./distributions.ts";
import { DURATION_BIN_SECONDS, DURATION_BINS } from "./durations.ts";
import { emptyMoments } from "./statistics.ts";
import type { AgentActivity, AgentView, CallCounts, PacingSnapshot, PacingStatistics } from "./types.ts";

const noCalls = (): CallCounts => ({ dials: 0, liveAnswers: 0, abandoned: 0 });

export function emptyStatistics(): PacingStatistics {
  return {
    total: noCalls(),
    today: noCalls(),
    lastMinute: noCalls(),
    recent: noCalls(),
    connects: 0,
    settled: { dials: 0, connects: 0 },
    secondsToConnect: emptyMoments(),
    secondsToFailure: emptyMoments(),
    talkSeconds: emptyMoments(),
    wrapSeconds: emptyMoments(),
    talkDurations: new Array<number>(DURATION_BINS).fill(0),
    wrapDurations: new Array<number>(DURATION_BINS).fill(0),
  };
}

/** `agents("ready", 3)` and friends: n agents in one activity, `secondsInActivity` each. */
export function agents(activity: AgentActivity, n: number, secondsInActivity = 0, idPrefix = activity): AgentView[] {
  return Array.from({ length: n }, (_, i) => ({ id: `${idPrefix}-${i}`, activity, secondsInActivity }));
}

export function snapshot(over: Partial<PacingSnapshot> = {}): PacingSnapshot {
  const agentViews = over.agents ?? [];
  return {
    atSeconds: 0,
    localMinuteOfDay: 10 * 60,
    callsInFlight: [],
    callsWaitingForAgent: 0,
    callsWithAgents: agentViews.filter((a) => a.activity === "talking").length,
    abandonTarget: 0.03,
    stats: emptyStatistics(),
    ...over,
    agents: agentViews,
  };
}

export function ringing(n: number, secondsSinceDial = 0): { secondsSinceDial: number }[] {
  return Array.from({ length: n }, () => ({ secondsSinceDial }));
}

/** A duration histogram of `n` lognormal durations with the given mean and sd (expected counts). */
export function histogramOf(mean: number, sd: number, n: number): number[] {
  const dist = logNormalFromMoments(mean, sd);
  return Array.from({ length: DURATION_BINS }, (_, b) =>
    Math.round(n * (logNormalCdf(dist, (b + 1) * DURATION_BIN_SECONDS) - logNormalCdf(dist, b * DURATION_BIN_SECONDS))),
  );
}
