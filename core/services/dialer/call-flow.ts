/**
 * The calls of this node: their events from the switch (placed, answered, AMD's verdict,
 * bridged, ended), a person bridged to a ready agent or the IVR within 2 s or abandoned with
 * the information message, and each call's end and result recorded on its contact and activity.
 */
import type { CallEvent, VoiceControl } from "@dialmesh/sdk";
import type { AgentRecord } from "../../dialer/agents.ts";
import { isReadyFor } from "../../dialer/agents.ts";
import { retryRule } from "../../dialer/campaign.ts";
import { CONNECT_WITHIN_S } from "../../dialer/calls.ts";
import type { DialerNode } from "./node.ts";
import type { CallStepRecorder } from "./recorder.ts";

export interface CallFlow {
  /** Listens to every voice instance's call events (again after a reload). */
  subscribe(): void;
  unsubscribeAll(): void;
  /** Gives the campaign's waiting calls to its ready agents, oldest call first. */
  connectWaiting(campaignId: string, pluginId: string): Promise<void>;
  abandonIfWaiting(pluginId: string, callId: string): Promise<void>;
}

export function createCallFlow(node: DialerNode, recorder: CallStepRecorder): CallFlow {
  const { runtime, store, calls, owned, agentCache, busyAgents, amdPending } = node;
  const { record } = recorder;
  const { voiceOf, report } = node;
  /** Per instance: the voice control this node listens to (a reload brings a new one), and how to stop. */
  const subscriptions = new Map<string, { voice: VoiceControl; off: () => void }>();

  /**
   * Listens to the call events of every voice instance on this node, once each; an instance
   * reloaded, or disabled and enabled again, is a new one to listen to.
   */
  function subscribe(): void {
    for (const [id, host] of runtime.registry.hosts) {
      const voice = host.voice;
      const current = subscriptions.get(id);
      if (!voice || current?.voice === voice) continue;
      current?.off();
      const off = voice.onCallEvent((event) => {
        void onCallEvent(id, event).catch((err: Error) =>
          node.logger.error("call event failed", { callId: event.callId, type: event.type, error: err.message }),
        );
      });
      subscriptions.set(id, { voice, off });
    }
  }

  async function onCallEvent(pluginId: string, event: CallEvent): Promise<void> {
    const call = calls.get(event.callId);
    if (!call) return; // another node's call, or one this node no longer follows
    const atMs = event.at.getTime();
    switch (event.type) {
      case "dialing":
        await record(`call ${call.callId} placed`, () =>
          report(pluginId, [
            {
              kind: "status",
              vendorId: call.contactId,
              activityId: call.activityId,
              status: "SENT",
              raw: "dialing",
              at: event.at,
            },
          ]),
        );
        return;
      case "answered": {
        // With answering-machine detection on, the call is connected only after the verdict.
        if (event.amdPending) {
          amdPending.add(event.callId);
          return;
        }
        return answered(pluginId, event.callId, atMs);
      }
      case "amd":
        if (!amdPending.delete(event.callId)) return;
        if (event.verdict === "MACHINE") {
          await voiceOf(pluginId)?.hangup(event.callId);
          return;
        }
        return answered(pluginId, event.callId, atMs);
      case "bridged":
        calls.bridged(event.callId, call.agentId);
        return;
      case "ended":
        amdPending.delete(event.callId);
        await ended(pluginId, event);
        return;
    }
  }

  /** A person answered (the switch's answer, or AMD's HUMAN/NOTSURE verdict): IVR, the agent, or wait. */
  async function answered(pluginId: string, callId: string, atMs: number): Promise<void> {
    const call = calls.answered(callId, atMs);
    if (!call) return;
    const c = owned.get(call.campaignId);
    runtime.metrics.dialer.human(call.campaignId);
    if (c?.spec.mode === "agentless") {
      await bridge(pluginId, callId, c.spec.ivr!.extension, undefined);
      return;
    }
    const reserved = call.agentId ? agentCache.get(call.agentId) : undefined;
    if (reserved) {
      // Preview: the call is the agent's own; it is on the line at once.
      await bridge(pluginId, callId, reserved.endpoint, reserved);
      return;
    }
    c?.stats.liveAnswered((atMs - c.startedAtMs) / 1000);
    await connectWaiting(call.campaignId, pluginId);
    setTimeout(() => void abandonIfWaiting(pluginId, callId), CONNECT_WITHIN_S * 1000).unref();
  }

  async function bridge(pluginId: string, callId: string, endpoint: string, agent: AgentRecord | undefined) {
    const voice = voiceOf(pluginId);
    if (!voice) return;
    // The bridge first: the customer is waiting (2 s at most); the agent's record follows.
    if (agent) busyAgents.add(agent._id);
    calls.bridged(callId, agent?._id);
    await voice.bridge(callId, endpoint);
    if (agent) await store.agentOnCall(agent._id, callId);
  }

  /** Gives the campaign's waiting calls to its ready agents, oldest call first. */
  async function connectWaiting(campaignId: string, pluginId: string): Promise<void> {
    const now = new Date();
    for (const call of calls.waiting(campaignId)) {
      const agent = [...agentCache.values()].find((a) => isReadyFor(a, campaignId, now) && !busyAgents.has(a._id));
      if (!agent) return;
      const c = owned.get(campaignId);
      c?.stats.connected((Date.now() - c.startedAtMs) / 1000, (call.answeredAt! - call.dialedAt) / 1000);
      await bridge(pluginId, call.callId, agent.endpoint, agent);
    }
  }

  async function abandonIfWaiting(pluginId: string, callId: string): Promise<void> {
    const call = calls.get(callId);
    if (!call || call.state !== "waiting") return;
    const c = owned.get(call.campaignId);
    c?.stats.abandoned((Date.now() - (c?.startedAtMs ?? Date.now())) / 1000);
    await voiceOf(pluginId)?.abandon(callId);
  }

  async function ended(pluginId: string, event: Extract<CallEvent, { type: "ended" }>): Promise<void> {
    const call = calls.remove(event.callId);
    if (!call) return;
    const now = new Date();
    const c = owned.get(call.campaignId);
    const wrapUpS = c?.spec.wrapUpS ?? 5;
    if (call.agentId) {
      busyAgents.delete(call.agentId);
      c?.stats.handled(event.talkSeconds, wrapUpS);
    } else if (c && event.outcome !== "CONNECTED") {
      c.stats.failed((now.getTime() - c.startedAtMs) / 1000, (now.getTime() - call.dialedAt) / 1000);
    }
    runtime.metrics.dialer.result(call.campaignId, event.outcome, event.cause);
    await record(`call ${call.callId} ended ${event.outcome}`, async () => {
      const spec = c?.spec ?? (await store.getCampaign(call.campaignId))?.spec;
      if (call.agentId)
        await store.agentOnCall(call.agentId, null, new Date(now.getTime() + (spec?.wrapUpS ?? 5) * 1000));
      await store.finish(
        { _id: call.contactId, phone: call.phone },
        "ended",
        { outcome: event.outcome, resultDescription: event.cause, agentId: call.agentId ?? null },
        now,
      );
      const rule = spec ? retryRule(spec, event.outcome, call.attemptNumber) : { retryable: false };
      await report(pluginId, [
        {
          kind: "call-result",
          vendorId: call.contactId,
          activityId: call.activityId,
          outcome: event.outcome,
          raw: event.cause,
          at: event.at,
          talkSeconds: event.talkSeconds,
          ...(call.agentId ? { agentId: call.agentId } : {}),
          retryable: rule.retryable,
          ...(rule.retryAfterMs !== undefined ? { retryAfterMs: rule.retryAfterMs } : {}),
        },
      ]);
    });
  }

  return {
    subscribe,
    unsubscribeAll: () => {
      for (const { off } of subscriptions.values()) off();
      subscriptions.clear();
    },
    connectWaiting,
    abandonIfWaiting,
  };
}
