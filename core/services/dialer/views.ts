/** How the dialer's API shows campaigns and agents, and the ids it accepts. */
import { agentStatus, type AgentRecord } from "../../dialer/agents.ts";
import type { DialerCampaignDoc } from "../../store/dialer.ts";
import { ValidationError } from "../errors.ts";

export interface CampaignView {
  id: string;
  state: DialerCampaignDoc["state"];
  createdAt: Date;
  updatedAt: Date;
  /** Stale or deleted DNC lists the campaign names (core/dialer/dnc.ts); empty when none. */
  warnings: string[];
  [key: string]: unknown;
}

export function campaignView(doc: DialerCampaignDoc, warnings: string[]): CampaignView {
  return {
    id: doc._id,
    ...doc.spec,
    state: doc.state,
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt,
    warnings,
  };
}

export function agentView(agent: AgentRecord, now: Date) {
  return {
    id: agent._id,
    endpoint: agent.endpoint,
    queues: agent.queues,
    state: agentStatus(agent, now),
    presence: agent.presence,
    seizedBy: agent.seizedBy ?? null,
    callId: agent.callId ?? null,
    updatedAt: agent.updatedAt,
  };
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

export function checkId(id: string, what: string): void {
  if (!ID_PATTERN.test(id))
    throw new ValidationError(`invalid ${what} id`, [
      { path: "/id", message: "must be 1-100 letters, digits, '_', '.' or '-', starting with a letter or digit" },
    ]);
}
