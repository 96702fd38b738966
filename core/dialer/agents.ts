/**
 * Agents as the dialer holds them (there is no ACD here): the presence an agent sets, the
 * seizure by a campaign, the call it is on, and the wrap-up after it. Pure.
 */
import type { AgentActivity } from "../pacing/types.ts";

/** States an agent (or its desktop) sets through the API. */
export const AGENT_PRESENCES = ["AVAILABLE", "BREAK", "WRAP_UP", "LOGGED_OUT"] as const;
export type AgentPresence = (typeof AGENT_PRESENCES)[number];

/** What `GET /api/v1/agents/:id` shows: the presence, or what the dialer is doing with the agent. */
export type AgentStatus = AgentPresence | "SEIZED" | "TALKING";

export interface AgentRecord {
  _id: string;
  /** Where calls are bridged to, e.g. `user/1001`. */
  endpoint: string;
  queues: string[];
  presence: AgentPresence;
  /** The campaign that has seized the agent, and the seizure's generation (see DialerStore.seize). */
  seizedBy?: string | null;
  seizeGeneration?: number;
  /** The call the agent is on. */
  callId?: string | null;
  /** End of the wrap-up after the last call. */
  wrapUntil?: Date | null;
  /** Preview: the contact offered to the agent, and the offers it skipped in a row. */
  previewContactId?: string | null;
  skipsUsed?: number;
  updatedAt: Date;
}

export function agentStatus(agent: AgentRecord, now: Date): AgentStatus {
  if (agent.callId) return "TALKING";
  if (agent.wrapUntil && agent.wrapUntil > now) return "WRAP_UP";
  if (agent.presence === "AVAILABLE" && agent.seizedBy) return "SEIZED";
  return agent.presence;
}

/** Free to be seized: available, not seized, not on a call or wrapping up. */
export function isSeizable(agent: AgentRecord, now: Date): boolean {
  return agentStatus(agent, now) === "AVAILABLE";
}

/** Seized by `campaignId` and free to take a call now (not looking at a preview). */
export function isReadyFor(agent: AgentRecord, campaignId: string, now: Date): boolean {
  return agent.seizedBy === campaignId && agentStatus(agent, now) === "SEIZED" && !agent.previewContactId;
}

/** The agent as the pacing policies see it. */
export function pacingActivity(agent: AgentRecord, now: Date): AgentActivity {
  switch (agentStatus(agent, now)) {
    case "TALKING":
      return "talking";
    case "WRAP_UP":
      return "wrapping";
    case "SEIZED":
      return "ready";
    default:
      return "paused";
  }
}

export interface SeizingCampaign {
  id: string;
  queue: string;
  priority: number;
}

/**
 * The campaign an available agent is seized for: among running campaigns of the agent's queues,
 * the highest priority; equal priorities at random (`random` in [0, 1)). Undefined for none.
 */
export function campaignForAgent(
  agent: Pick<AgentRecord, "queues">,
  campaigns: readonly SeizingCampaign[],
  random: () => number,
): string | undefined {
  const eligible = campaigns.filter((c) => agent.queues.includes(c.queue));
  if (eligible.length === 0) return undefined;
  const top = Math.max(...eligible.map((c) => c.priority));
  const best = eligible.filter((c) => c.priority === top);
  return best[Math.min(best.length - 1, Math.floor(random() * best.length))]!.id;
}

/**
 * Call blending's SEIZE threshold: outbound may hold at most the agents left over once the
 * inbound work waiting is covered. Agents beyond that are released to inbound.
 */
export function seizeLimit(availableAgents: number, inboundWaiting: number, threshold: number): number {
  if (inboundWaiting < threshold) return availableAgents;
  return Math.max(0, availableAgents - inboundWaiting);
}
