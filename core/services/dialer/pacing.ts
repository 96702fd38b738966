/**
 * The pulse of the campaigns this node paces: take or keep each running campaign's term (one
 * node per term, by unique insert), end what a dead term left, and for each campaign ask its
 * pacing policy (core/pacing, the simulator's code) how many calls to place, then dial that
 * many due contacts after the compliance check (suppression, the campaign's DNC lists, calling
 * hours in every candidate zone, attempt limits, the 72-hour rule). Preview campaigns offer
 * contacts to agents instead, after the same check.
 */
import { randomUUID } from "node:crypto";
import type { VoiceControl } from "@dialmesh/sdk";
import { isPluginError } from "@dialmesh/sdk";
import { isReadyFor, pacingActivity, type AgentRecord } from "../../dialer/agents.ts";
import { policyFor, type DialerCampaignSpec } from "../../dialer/campaign.ts";
import type { DialerContact } from "../../dialer/contacts.ts";
import { agentlessWanted, dialBudget } from "../../dialer/pulse.ts";
import { autoDialAt, previewStep } from "../../dialer/preview.ts";
import { createPolicy, PacingStatisticsTracker } from "../../pacing/index.ts";
import { checkCall } from "../../regulation/index.ts";
import type { DialerCampaignDoc } from "../../store/dialer.ts";
import { suppressionApplies } from "../../store/suppressions.ts";
import { createDncCheck } from "../dnc-check.ts";
import type { CallFlow } from "./call-flow.ts";
import type { DialerNode, OwnedCampaign } from "./node.ts";
import type { CallStepRecorder } from "./recorder.ts";

/** Why a contact is not dialled: `DNC` (reason `DNC:<list>`, as the channel manager gives) or `COMPLIANCE`. */
interface Block {
  reasonCode: "COMPLIANCE" | "DNC";
  reason: string;
}

export interface Pacer {
  /** One pulse of every campaign (skipped while the previous one runs, or once stopping). */
  pulse(): Promise<void>;
  stop(): void;
}

export function createPacer(
  node: DialerNode,
  recorder: CallStepRecorder,
  flow: CallFlow,
  seizure: { seizeAgents(running: DialerCampaignDoc[], now: Date): Promise<void> },
): Pacer {
  const { runtime, store, rules, zones, calls, owned, agentCache, busyAgents, leaseMs } = node;
  const { record, recordKept } = recorder;
  const { voiceOf, report } = node;
  const { subscribe, connectWaiting, abandonIfWaiting } = flow;
  const { seizeAgents } = seizure;
  let pulsing = false;
  let stopping = false;
  const dncBlock = createDncCheck({
    dnc: runtime.dnc,
    regulation: { rules, zones },
    warn: (warning, lists) => node.logger.warn(warning, { lists }),
  });

  /** Takes or keeps the campaigns this node should pace; drops the ones it lost. */
  async function ownCampaigns(running: DialerCampaignDoc[], now: Date): Promise<void> {
    const runningIds = new Set(running.map((c) => c._id));
    for (const [id, c] of owned) {
      if (!runningIds.has(id)) {
        owned.delete(id);
        await store.releaseTerm(id, c.term, runtime.nodeId);
      }
    }
    for (const doc of running) {
      const mine = owned.get(doc._id);
      if (mine) {
        if (await store.renewTerm(doc._id, mine.term, runtime.nodeId, new Date(now.getTime() + leaseMs))) {
          mine.spec = doc.spec;
          continue;
        }
        owned.delete(doc._id); // another node took the campaign: its calls here end on their own
      }
      if (doc.ownerUntil && doc.ownerUntil > now) continue;
      if (!(await store.acquireTerm(doc._id, doc.ownerTerm, runtime.nodeId, now, leaseMs))) continue;
      const term = doc.ownerTerm + 1;
      const policyName = policyFor(doc.spec.mode);
      const policy = policyName
        ? createPolicy(policyName, doc.spec.ratio ? { power: { ratio: doc.spec.ratio } } : {})
        : undefined;
      owned.set(doc._id, {
        term,
        spec: doc.spec,
        policy,
        memory: policy?.initialMemory(),
        stats: new PacingStatisticsTracker(now.getHours() * 60 + now.getMinutes(), (doc.spec.ringTimeoutS ?? 20) + 10),
        startedAtMs: now.getTime(),
        tokens: 0,
        lastPulseMs: now.getTime(),
      });
      node.logger.info("pacing dialer campaign", { campaignId: doc._id, term });
      await record(`orphans of ${doc._id} before term ${term}`, () => endOrphans(doc._id, term, now));
    }
  }

  /** Calls an earlier term placed and never finished (its node died): ended, never dialled again. */
  async function endOrphans(campaignId: string, term: number, now: Date): Promise<void> {
    await store.returnOrphanOffers(campaignId, term);
    for (const contact of await store.orphans(campaignId, term)) {
      await store.finish(
        contact,
        "ended",
        { outcome: "NETWORK_ERROR", resultDescription: "the node that placed the call stopped; not dialled again" },
        now,
      );
      const pluginId = (await store.getCampaign(campaignId))?.spec.voicePlugin ?? "";
      await report(pluginId, [
        {
          kind: "call-result",
          vendorId: contact._id,
          activityId: contact.activityId,
          outcome: "NETWORK_ERROR",
          raw: "NODE_LOST",
          reasonCode: "NODE_LOST",
          reason: "the node that placed the call stopped before its result",
          retryable: false,
          at: now,
        },
      ]);
    }
  }

  async function pulseCampaign(id: string, c: OwnedCampaign, now: Date): Promise<void> {
    const spec = c.spec;
    const voice = voiceOf(spec.voicePlugin);
    if (!voice) return; // the instance is not loaded (yet) here: contacts stay pending
    for (const call of calls.overdue(id, now.getTime())) await abandonIfWaiting(spec.voicePlugin, call.callId);
    await connectWaiting(id, spec.voicePlugin);
    if (spec.mode === "preview") return previewPulse(id, c, voice, now);

    const live = calls.snapshot(id, now.getTime());
    const atSeconds = (now.getTime() - c.startedAtMs) / 1000;
    let wanted: number;
    if (!c.policy) wanted = agentlessWanted(live.active, spec.maxConcurrentCalls);
    else {
      const agents = [...agentCache.values()]
        .filter((a) => a.seizedBy === id)
        // An agent this node just bridged is talking, whatever the last read of the store said.
        .map((a) => ({
          id: a._id,
          activity: busyAgents.has(a._id) ? ("talking" as const) : pacingActivity(a, now),
          secondsInActivity: 0,
        }));
      const step = c.policy.decide(
        {
          atSeconds,
          localMinuteOfDay: now.getHours() * 60 + now.getMinutes(),
          agents,
          callsInFlight: live.callsInFlight,
          callsWaitingForAgent: live.callsWaitingForAgent,
          callsWithAgents: live.callsWithAgents,
          abandonTarget: spec.abandonTarget,
          stats: c.stats.snapshot(atSeconds),
        },
        c.memory,
      );
      c.memory = step.memory;
      wanted = step.decision.dials;
    }
    // The contacts query below is limited to the budget: no count of the pending ones first.
    const due = Number.MAX_SAFE_INTEGER;
    const budget = dialBudget({
      wanted,
      active: live.active,
      maxConcurrentCalls: spec.maxConcurrentCalls,
      callsPerSecond: spec.callsPerSecond,
      elapsedSeconds: (now.getTime() - c.lastPulseMs) / 1000,
      tokens: c.tokens,
      pending: due,
    });
    c.tokens = budget.tokens;
    c.lastPulseMs = now.getTime();
    runtime.metrics.dialer.inProgress(id, live.active);
    const total = c.stats.snapshot(atSeconds).total;
    runtime.metrics.dialer.abandonment(id, total.liveAnswers > 0 ? total.abandoned / total.liveAnswers : 0);
    if (budget.dials === 0) return;
    const contacts = await store.dueContacts(id, now, budget.dials, spec.dialingOrder);
    await Promise.all(contacts.map((contact) => dial(id, c, contact, voice, now)));
  }

  async function dial(
    campaignId: string,
    c: OwnedCampaign,
    contact: DialerContact & { dialGeneration: number },
    voice: VoiceControl,
    now: Date,
    reservedFor?: AgentRecord,
  ): Promise<void> {
    const spec = c.spec;
    if (!(await store.claimDial(contact, runtime.nodeId, now))) {
      await store.retireStaleDialClaim(contact, new Date(now.getTime() - leaseMs));
      return;
    }
    if (contact.latestAt && contact.latestAt < now) {
      await store.finish(
        contact,
        "failed",
        { outcome: "EXPIRED", resultDescription: "past its latest dial time" },
        now,
      );
      await report(spec.voicePlugin, [
        {
          kind: "status",
          vendorId: contact._id,
          activityId: contact.activityId,
          status: "EXPIRED",
          raw: "EXPIRED",
          reason: "past its latest dial time",
          at: now,
        },
      ]);
      return;
    }
    const blocked = await blockReason(contact, spec, now);
    if (blocked) return block(campaignId, spec, contact, blocked, now);
    const callId = randomUUID();
    await store.markDialing(
      contact,
      { callId, node: runtime.nodeId, term: c.term, ...(reservedFor ? { agentId: reservedFor._id } : {}) },
      now,
    );
    if (reservedFor) busyAgents.add(reservedFor._id);
    calls.add({
      callId,
      contactId: contact._id,
      activityId: contact.activityId,
      campaignId,
      phone: contact.phone,
      attemptNumber: contact.attemptNumber,
      dialedAt: now.getTime(),
      ...(reservedFor ? { agentId: reservedFor._id } : {}),
    });
    c.stats.dialed((now.getTime() - c.startedAtMs) / 1000);
    runtime.metrics.dialer.sentForDialing(campaignId);
    try {
      await voice.dial({
        callId,
        to: contact.phone,
        ...(spec.callerId ? { callerId: spec.callerId } : {}),
        ...(spec.ringTimeoutS ? { ringTimeoutS: spec.ringTimeoutS } : {}),
        variables: { dialmesh_campaign: campaignId, dialmesh_contact: contact._id },
      });
    } catch (err) {
      calls.remove(callId);
      if (reservedFor) busyAgents.delete(reservedFor._id);
      const code = isPluginError(err) ? err.code : "NETWORK_ERROR";
      const message = (err as Error).message;
      if (code === "GATEWAY_DOWN") {
        // Not the contact's fault and no call was placed: it waits for the gateway, no attempt spent.
        await record(`contact ${contact._id} back to pending`, () =>
          store.backToPending(contact, new Date(now.getTime() + 5_000)),
        );
        node.logger.warn("gateway down; contact back to pending", { campaignId, contactId: contact._id });
        return;
      }
      const invalidGateway = code === "INVALID_GATEWAY";
      // Only "the switch cannot be reached" proves no call was placed: anything else (the
      // originate may have reached it) is not retried, or the customer could ring twice.
      const retryable = code === "NETWORK_ERROR";
      runtime.metrics.dialer.result(campaignId, "NETWORK_ERROR", code);
      await record(`call ${callId} refused ${code}`, async () => {
        await store.finish(
          contact,
          "failed",
          { outcome: "NETWORK_ERROR", resultDescription: `${code}: ${message}` },
          now,
        );
        await report(spec.voicePlugin, [
          invalidGateway
            ? {
                kind: "status",
                vendorId: contact._id,
                activityId: contact.activityId,
                status: "FAILED",
                raw: code,
                reasonCode: code,
                reason: message,
                retryable: false,
                at: now,
              }
            : {
                kind: "call-result",
                vendorId: contact._id,
                activityId: contact.activityId,
                outcome: "NETWORK_ERROR",
                raw: code,
                reasonCode: code,
                reason: message,
                retryable,
                at: now,
              },
        ]);
      });
    }
  }

  /** A contact the compliance check refused (its dial claimed): failed, never dialled, BLOCKED on its attempt. */
  async function block(
    campaignId: string,
    spec: DialerCampaignSpec,
    contact: DialerContact,
    blocked: Block,
    now: Date,
  ): Promise<void> {
    await store.finish(contact, "failed", { outcome: "BLOCKED", resultDescription: blocked.reason }, now);
    runtime.metrics.dialer.result(campaignId, "BLOCKED", blocked.reasonCode);
    await report(spec.voicePlugin, [
      {
        kind: "status",
        vendorId: contact._id,
        activityId: contact.activityId,
        status: "BLOCKED",
        raw: blocked.reasonCode,
        reasonCode: blocked.reasonCode,
        reason: blocked.reason,
        retryable: false,
        at: now,
      },
    ]);
  }

  /**
   * Preview: acts on the agents' choices (dial, skip) and on offers past their timeout, then
   * offers a due contact to every ready agent without one (and tells subscribers).
   */
  async function previewPulse(id: string, c: OwnedCampaign, voice: VoiceControl, now: Date): Promise<void> {
    const spec = c.spec;
    for (const offer of await store.offered(id)) {
      if (offer.term !== c.term || !offer.agentId || !offer.offeredAt) continue;
      const step = previewStep(
        { offeredAt: offer.offeredAt, choice: offer.previewChoice ?? null },
        now,
        spec.preview.timeoutS,
      );
      const agent = agentCache.get(offer.agentId);
      if (step === "skip") {
        await store.skip(offer, now);
        if (agent) Object.assign(agent, { previewContactId: null, skipsUsed: (agent.skipsUsed ?? 0) + 1 });
      } else if (step === "dial") {
        await store.endOffer(offer.agentId);
        if (agent) Object.assign(agent, { previewContactId: null, skipsUsed: 0 });
        await dial(id, c, { ...offer, status: "pending" }, voice, now, agent);
      }
    }
    const ready = [...agentCache.values()].filter((a) => isReadyFor(a, id, now) && !busyAgents.has(a._id));
    if (ready.length === 0) return;
    const due = await store.dueContacts(id, now, ready.length, spec.dialingOrder);
    // An agent is not shown a number the dial would refuse: it ends BLOCKED here (its dial
    // claimed, so no other node dials it), and the agent is offered another at the next pulse.
    const checked = await Promise.all(
      due.map(async (contact) => ({ contact, blocked: await blockReason(contact, spec, now) })),
    );
    const contacts: typeof due = [];
    for (const { contact, blocked } of checked) {
      if (!blocked) contacts.push(contact);
      else if (await store.claimDial(contact, runtime.nodeId, now)) await block(id, spec, contact, blocked, now);
    }
    for (const [i, contact] of contacts.entries()) {
      const agent = ready[i]!;
      await store.offer(contact, agent._id, c.term, runtime.nodeId, now);
      agent.previewContactId = contact._id;
      await node.broker
        .call("webhooks.publish", {
          id: `dialer.preview:${contact._id}:${agent._id}`,
          name: "dialer.preview",
          occurredAt: now,
          data: {
            agentId: agent._id,
            campaignId: id,
            contactId: contact._id,
            activityId: contact.activityId,
            customerId: contact.customerId,
            phone: contact.phone,
            autoDialAt: autoDialAt({ offeredAt: now }, spec.preview.timeoutS),
          },
        })
        .catch((err: Error) => node.logger.warn("preview notification failed", { error: err.message }));
    }
  }

  /**
   * Compliance before the dial: suppression, the campaign's DNC lists (in order), calling hours
   * in every candidate zone, attempt limits. A pulse checks its contacts concurrently: the
   * store groups their DNC lookups made within a few milliseconds into one `_id $in` query.
   */
  async function blockReason(contact: DialerContact, spec: DialerCampaignSpec, now: Date): Promise<Block | undefined> {
    const phone = contact.phone.split(";")[0]!;
    const suppressed = await runtime.suppressions.find(phone);
    if (suppressed && suppressionApplies(suppressed, undefined))
      return { reasonCode: "COMPLIANCE", reason: `${phone} is on the suppression list (${suppressed.reason})` };
    const dnc = await dncBlock(phone, spec.dncLists ?? []);
    if (dnc) return { reasonCode: dnc.reasonCode, reason: dnc.reason };
    // Attempt limits and the no-repeat rule after an abandoned call (UK: 72 hours) look back at
    // most a month.
    const history = await store.numberHistory(contact.phone, new Date(now.getTime() - 31 * 86_400_000));
    const check = checkCall(
      { rules, zones },
      {
        phone,
        ...(contact.customerZone ? { customerZone: contact.customerZone } : {}),
        at: now,
        previousAttempts: history.dialedAt,
        ...(history.lastAbandonedAt ? { lastAbandonedAt: history.lastAbandonedAt } : {}),
        agentGuaranteed: spec.mode === "preview",
      },
    );
    return check.allowed ? undefined : { reasonCode: "COMPLIANCE", reason: check.reasons.join("; ") };
  }

  async function pulse(): Promise<void> {
    if (pulsing || stopping) return;
    pulsing = true;
    try {
      subscribe();
      // What could not be recorded comes first: nothing is paced on a store that is away.
      if (!(await recordKept())) return;
      const now = new Date();
      const running = await store.runningCampaigns();
      await ownCampaigns(running, now);
      await seizeAgents(running, now);
      for (const [id, c] of owned) await pulseCampaign(id, c, now);
      runtime.metrics.dialer.agentsSeized(
        [...agentCache.values()].filter((a) => a.seizedBy && owned.has(a.seizedBy)).length,
      );
    } catch (err) {
      node.logger.warn("dialer pulse failed; the next one retries", { error: (err as Error).message });
    } finally {
      pulsing = false;
    }
  }

  return {
    pulse,
    stop: () => {
      stopping = true;
    },
  };
}
