/**
 * Dialer contacts (seed 000's contact model): one per voice attempt routed to the dialer, and the
 * campaign controls over them. Pure.
 */
import type { VoiceOutcome } from "@dialmesh/sdk";

/** `agent_pending`: reserved for an agent (offered in preview), not dialled yet. */
export const CONTACT_STATUSES = ["pending", "agent_pending", "dialed", "ended", "stopped", "failed"] as const;
export type ContactStatus = (typeof CONTACT_STATUSES)[number];

export interface DialerContact {
  /** The attempt's id: one contact per attempt, so a repeated hand-over stores nothing twice. */
  _id: string;
  campaignId: string;
  activityId: string;
  /** Which attempt of the activity this is (1 = the first), for the campaign's maxAttempts. */
  attemptNumber: number;
  /** E.164, possibly with `;ext=`. */
  phone: string;
  customerId: string;
  customerZone?: string;
  /** AGENT: bridged to a seized agent; IVR: to the campaign's IVR extension. */
  type: "AGENT" | "IVR";
  priority: number;
  status: ContactStatus;
  receivedAt: Date;
  /** Dial window: not before, and not after (then the contact fails, EXPIRED). */
  earliestAt: Date;
  latestAt?: Date | null;
  dialedAt?: Date | null;
  callId?: string | null;
  /** Node and ownership term that dialled it. */
  node?: string | null;
  term?: number | null;
  agentId?: string | null;
  outcome?: VoiceOutcome | "BLOCKED" | "EXPIRED" | null;
  /** The switch's raw cause, or why it failed. */
  resultDescription?: string | null;
  endedAt?: Date | null;
  /** Preview: when the contact was offered to `agentId`, and the agent's choice. */
  offeredAt?: Date | null;
  previewChoice?: "dial" | "skip" | null;
}

/** Campaign control transitions: start resets stopped contacts, stop holds pending ones. */
export const CONTROL_TRANSITIONS = {
  start: { from: "stopped", to: "pending" },
  stop: { from: "pending", to: "stopped" },
} as const satisfies Record<string, { from: ContactStatus; to: ContactStatus }>;
