/**
 * The live calls of the campaigns this node runs: what each call is doing, for the pacing
 * snapshot (ringing, waiting for an agent, with an agent) and for the 2-second rule (an answered
 * call no agent took in time is abandoned). Pure: the clock is passed in.
 */
import type { CallInFlight } from "../pacing/types.ts";

export type LiveCallState = "ringing" | "waiting" | "bridged";

export interface LiveCall {
  callId: string;
  contactId: string;
  activityId: string;
  campaignId: string;
  /** The number dialled, and which attempt of the activity the call is (for the retry rules). */
  phone: string;
  attemptNumber: number;
  dialedAt: number;
  state: LiveCallState;
  answeredAt?: number;
  agentId?: string;
}

/** Seconds an answered call may wait for an agent before it counts as abandoned (47 CFR 64.1200(a)(7)). */
export const CONNECT_WITHIN_S = 2;

export class LiveCalls {
  private readonly calls = new Map<string, LiveCall>();

  add(call: Omit<LiveCall, "state">): void {
    this.calls.set(call.callId, { ...call, state: "ringing" });
  }

  get(callId: string): LiveCall | undefined {
    return this.calls.get(callId);
  }

  answered(callId: string, atMs: number): LiveCall | undefined {
    const call = this.calls.get(callId);
    if (!call || call.state !== "ringing") return undefined;
    call.state = "waiting";
    call.answeredAt = atMs;
    return call;
  }

  bridged(callId: string, agentId: string | undefined): void {
    const call = this.calls.get(callId);
    if (!call) return;
    call.state = "bridged";
    if (agentId) call.agentId = agentId;
  }

  remove(callId: string): LiveCall | undefined {
    const call = this.calls.get(callId);
    this.calls.delete(callId);
    return call;
  }

  of(campaignId: string): LiveCall[] {
    return [...this.calls.values()].filter((c) => c.campaignId === campaignId);
  }

  /** Answered calls of a campaign still waiting for an agent, oldest first. */
  waiting(campaignId: string): LiveCall[] {
    return this.of(campaignId)
      .filter((c) => c.state === "waiting")
      .sort((a, b) => (a.answeredAt ?? 0) - (b.answeredAt ?? 0));
  }

  /** Waiting calls past the 2-second limit at `nowMs`: to be abandoned. */
  overdue(campaignId: string, nowMs: number): LiveCall[] {
    return this.waiting(campaignId).filter((c) => nowMs - (c.answeredAt ?? nowMs) >= CONNECT_WITHIN_S * 1000);
  }

  /** The pacing snapshot's view of a campaign's calls. */
  snapshot(
    campaignId: string,
    nowMs: number,
  ): { callsInFlight: CallInFlight[]; callsWaitingForAgent: number; callsWithAgents: number; active: number } {
    const calls = this.of(campaignId);
    return {
      callsInFlight: calls
        .filter((c) => c.state === "ringing")
        .map((c) => ({ secondsSinceDial: (nowMs - c.dialedAt) / 1000 })),
      callsWaitingForAgent: calls.filter((c) => c.state === "waiting").length,
      callsWithAgents: calls.filter((c) => c.state === "bridged").length,
      active: calls.length,
    };
  }
}
