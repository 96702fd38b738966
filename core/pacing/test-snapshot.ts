/** Builds pacing snapshots for tests: only what a test states differs from an idle campaign. */
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
    secondsToConnect: emptyMoments(),
    secondsToFailure: emptyMoments(),
    talkSeconds: emptyMoments(),
    wrapSeconds: emptyMoments(),
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
