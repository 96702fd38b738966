/**
 * One pulse of a campaign: how many calls to place now, from the pacing decision and the
 * campaign's limits (concurrent calls, calls per second as a token bucket). Pure.
 */
export interface DialBudgetInput {
  /** What the pacing policy asked for (or, agentless, the free lines). */
  wanted: number;
  /** Calls of the campaign up now (ringing, waiting for an agent, bridged). */
  active: number;
  maxConcurrentCalls: number;
  callsPerSecond: number;
  /** Seconds since the previous pulse. */
  elapsedSeconds: number;
  /** Unused dial tokens from the previous pulse. */
  tokens: number;
  /** Pending contacts that may be dialled now. */
  pending: number;
}

export interface DialBudget {
  dials: number;
  /** Tokens left for the next pulse. */
  tokens: number;
  /** What limited the dials, for the status and logs. */
  limitedBy: "pacing" | "maxConcurrentCalls" | "callsPerSecond" | "contacts";
}

export function dialBudget(input: DialBudgetInput): DialBudget {
  // The bucket holds one second of calls, or the time since the last pulse when pulses are slow
  // (a loaded store), up to two: a long pause is not saved up into a burst, a slow pulse does
  // not lower the rate.
  const capacity = input.callsPerSecond * Math.min(2, Math.max(1, input.elapsedSeconds));
  const tokens = Math.min(capacity, input.tokens + input.callsPerSecond * input.elapsedSeconds);
  const limits: [DialBudget["limitedBy"], number][] = [
    ["pacing", Math.max(0, Math.floor(input.wanted))],
    ["maxConcurrentCalls", Math.max(0, input.maxConcurrentCalls - input.active)],
    ["callsPerSecond", Math.floor(tokens)],
    ["contacts", Math.max(0, input.pending)],
  ];
  let [limitedBy, dials] = limits[0]!;
  for (const [name, n] of limits.slice(1)) {
    if (n < dials) {
      dials = n;
      limitedBy = name;
    }
  }
  return { dials, tokens: tokens - dials, limitedBy };
}

/** Agentless campaigns fill their lines: every free line is a call. */
export function agentlessWanted(active: number, maxConcurrentCalls: number): number {
  return Math.max(0, maxConcurrentCalls - active);
}
