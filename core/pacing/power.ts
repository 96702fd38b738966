/**
 * Power: a fixed number of calls per free agent (the "INIT = x calls" of a power campaign).
 * Calls already ringing count against the target, so a ratio of 2 keeps two lines per free
 * agent rather than adding two on every decision.
 */
import { dialsOnly, pendingCalls, readyAgents, type PacingPolicy } from "./types.ts";

export interface PowerOptions {
  /** Lines per free agent, >= 1. */
  ratio: number;
}

export const DEFAULT_POWER: PowerOptions = { ratio: 2 };

export function createPowerPolicy(options: PowerOptions = DEFAULT_POWER): PacingPolicy<null> {
  if (!(options.ratio >= 1)) throw new RangeError(`power ratio must be >= 1, got ${options.ratio}`);
  return {
    name: "power",
    initialMemory: () => null,
    decide(snapshot) {
      const lines = Math.round(options.ratio * readyAgents(snapshot));
      return { decision: dialsOnly(lines - pendingCalls(snapshot)), memory: null };
    },
  };
}
