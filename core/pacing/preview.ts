/**
 * Preview: each free agent is shown one contact and decides. The agent dials (the call is
 * theirs, so it can never be abandoned) or skips, up to a skip limit; when the agent has not
 * decided within the timeout the contact is dialled automatically. The pacer places no pool
 * calls. Which agents are previewing is the caller's business (it hands a contact to every
 * `ready` agent and reports it as `previewing`).
 */
import type { AgentView, PacingDecision, PacingPolicy } from "./types.ts";

export interface PreviewOptions {
  /** Skips allowed per agent; a skip beyond it is refused and the contact dialled. */
  maxSkips: number;
  /** Seconds after which an undecided preview is dialled automatically. */
  autoDialAfterSeconds: number;
}

export const DEFAULT_PREVIEW: PreviewOptions = { maxSkips: 3, autoDialAfterSeconds: 30 };

export type PreviewAction = "wait" | "dial" | "skip";

/** What to do with one agent's preview now. */
export function previewAction(agent: AgentView, options: PreviewOptions): PreviewAction {
  const preview = agent.preview;
  if (agent.activity !== "previewing" || !preview) return "wait";
  if (preview.choice === "skip") return preview.skipsUsed < options.maxSkips ? "skip" : "dial";
  if (preview.choice === "dial") return "dial";
  return preview.secondsShown >= options.autoDialAfterSeconds ? "dial" : "wait";
}

export function createPreviewPolicy(options: PreviewOptions = DEFAULT_PREVIEW): PacingPolicy<null> {
  return {
    name: "preview",
    initialMemory: () => null,
    decide(snapshot) {
      const decision: PacingDecision = { dials: 0, agentDials: [], agentSkips: [] };
      for (const agent of snapshot.agents) {
        const action = previewAction(agent, options);
        if (action === "dial") decision.agentDials.push(agent.id);
        else if (action === "skip") decision.agentSkips.push(agent.id);
      }
      return { decision, memory: null };
    },
  };
}
