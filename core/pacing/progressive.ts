/** Progressive: one call per free agent, never more calls than free agents. */
import { dialsOnly, pendingCalls, readyAgents, type PacingPolicy } from "./types.ts";

export function createProgressivePolicy(): PacingPolicy<null> {
  return {
    name: "progressive",
    initialMemory: () => null,
    decide(snapshot) {
      const dials = readyAgents(snapshot) - pendingCalls(snapshot);
      return { decision: dialsOnly(dials), memory: null };
    },
  };
}
