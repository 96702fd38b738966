/**
 * Pacing: how many outbound calls to place now. Every policy is a pure function of a
 * snapshot of the campaign (agents, calls in flight, live statistics) plus the policy's own
 * memory from its previous decision, so the dialer service and the simulator run the same
 * code: both build a snapshot, call `decide`, and keep the returned memory for next time.
 */

export const POLICY_NAMES = [
  "preview",
  "progressive",
  "power",
  "predictive",
  "oracle",
  "vicidial-hard-limit",
  "vicidial-tapered",
  "vicidial-average",
] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];

/**
 * What an agent is doing. `previewing`: looking at a contact before dialling it (preview);
 * `dialing`: waiting on a call the agent placed itself; `paused`: logged in but on a break
 * or otherwise not taking calls.
 */
export type AgentActivity = "ready" | "previewing" | "dialing" | "talking" | "wrapping" | "paused";

export interface PreviewView {
  secondsShown: number;
  skipsUsed: number;
  /** The agent's own choice once made; absent while the agent is still reading. */
  choice?: "dial" | "skip";
}

export interface AgentView {
  id: string;
  activity: AgentActivity;
  secondsInActivity: number;
  /** Present while the agent is previewing a contact. */
  preview?: PreviewView;
}

/** A pool call (not owned by an agent) that has been dialled and not yet answered or failed. */
export interface CallInFlight {
  secondsSinceDial: number;
}

export interface CallCounts {
  /** Pool calls placed. */
  dials: number;
  /** Calls answered by a person (as classified by the dialer), including abandoned ones. */
  liveAnswers: number;
  /** Live answers not connected to an agent within the 2-second limit. */
  abandoned: number;
}

/** Running mean and variance (Welford); `m2` is the sum of squared deviations. */
export interface Moments {
  count: number;
  mean: number;
  m2: number;
}

/** Live statistics of the campaign, as kept by `statistics.ts`. */
export interface PacingStatistics {
  /** Since the campaign started. */
  total: CallCounts;
  /** Since local midnight (VICIdial's "today"). */
  today: CallCounts;
  /** The last 60 seconds. */
  lastMinute: CallCounts;
  /** The last 15 minutes: what predictive steers its abandonment on. */
  recent: CallCounts;
  /** Answered calls handed to the agent queue (live, or machines when not screened out). */
  connects: number;
  /**
   * Pool calls dialled long enough ago that they have surely connected or failed, and how
   * many of them connected: the unbiased base for the connect rate (counting calls still
   * ringing would miss the slow outcomes, and counting only finished calls would see the
   * quick failures first).
   */
  settled: { dials: number; connects: number };
  /** Seconds from dial to hand-over to the queue, over connected settled calls. */
  secondsToConnect: Moments;
  /** Seconds from dial to the end of settled calls that did not connect (no answer, busy, machine...). */
  secondsToFailure: Moments;
  /** Agent handle times of connected calls. */
  talkSeconds: Moments;
  wrapSeconds: Moments;
  /** Completed talk and wrap-up times as histograms of 5-second bins (durations.ts). */
  talkDurations: readonly number[];
  wrapDurations: readonly number[];
}

export interface PacingSnapshot {
  /** Monotonic seconds since the campaign started. */
  atSeconds: number;
  /** Local time of day of the dialer, in minutes after midnight (VICIdial's server time). */
  localMinuteOfDay: number;
  agents: AgentView[];
  callsInFlight: CallInFlight[];
  /** Answered calls waiting for an agent (each becomes abandoned after 2 s). */
  callsWaitingForAgent: number;
  /** Answered calls currently bridged to an agent. */
  callsWithAgents: number;
  /** Abandonment the campaign must stay under, as a fraction of live answers (0.03). */
  abandonTarget: number;
  /**
   * The share of live answers the regulator counts as abandoned that the dialer cannot see
   * (under the UK's rule, the people AMD hangs up on), already deducted from
   * `abandonTarget`. Its own binomial noise is part of the regulator's rate, so policies
   * widen their margin for it. Absent: nothing unseen.
   */
  unseenAbandonShare?: number;
  stats: PacingStatistics;
  /**
   * Filled by the simulator only, for the `oracle` policy: seconds from now until each busy
   * (talking or wrapping) agent is ready for a call again, by agent id, from the talk and
   * wrap-up times the simulation has already drawn. A busy agent missing from it goes on a
   * break next. The dialer service leaves it out: no live dialer knows when a call will end.
   */
  knownSecondsUntilFree?: Readonly<Record<string, number>>;
}

export interface PacingDecision {
  /** New pool calls to place now; the first free agent takes whichever answers. */
  dials: number;
  /** Preview: agents whose previewed contact is dialled now (the call is theirs). */
  agentDials: string[];
  /** Preview: agents whose previewed contact is skipped (returned for a later attempt). */
  agentSkips: string[];
}

export interface PacingStep<Memory> {
  decision: PacingDecision;
  memory: Memory;
  /** Short human-readable explanation, for logs. */
  reason?: string;
}

/**
 * A pacing policy. `Memory` is plain serialisable data (the dialer service may persist it);
 * `decide` must not mutate the memory it is given.
 */
export interface PacingPolicy<Memory = unknown> {
  readonly name: PolicyName;
  initialMemory(): Memory;
  decide(snapshot: PacingSnapshot, memory: Memory): PacingStep<Memory>;
}

export function dialsOnly(dials: number): PacingDecision {
  return { dials: Math.max(0, Math.floor(dials)), agentDials: [], agentSkips: [] };
}

/** Agents counted as available to take a pool call now. */
export function readyAgents(snapshot: PacingSnapshot): number {
  let n = 0;
  for (const agent of snapshot.agents) if (agent.activity === "ready") n++;
  return n;
}

/** Calls the dialer already expects to need an agent for: in flight plus waiting. */
export function pendingCalls(snapshot: PacingSnapshot): number {
  return snapshot.callsInFlight.length + snapshot.callsWaitingForAgent;
}
