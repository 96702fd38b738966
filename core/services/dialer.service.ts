/**
 * `dialer`: the internal voice dialer. Voice attempts routed to an instance that drives a switch
 * (a plugin with `voice` control) become contacts of a dialer campaign; each running campaign is
 * paced by exactly one node at a time (its term, claimed by unique insert; dialer-store.ts), which
 * seizes agents of the campaign's queue, asks the campaign's pacing policy (core/pacing, the code
 * the simulator runs) how many calls to place, dials them after the compliance check, bridges a
 * human answer to a seized agent within 2 s or abandons it, and reports every step to the
 * activity's attempt (ccm.ingest), so results land on the conversation like any channel's.
 *
 * Decisions are pure (core/dialer, core/pacing, core/regulation); this file is the glue.
 */
import { randomUUID } from "node:crypto";
import { type Context, type ServiceSchema, Service, type ServiceBroker } from "moleculer";
import type { CallEvent, CanonicalEvent, Logger, SendRequest, VoiceControl } from "@dialmesh/sdk";
import { isPluginError } from "@dialmesh/sdk";
import {
  AGENT_PRESENCES,
  agentStatus,
  campaignForAgent,
  isReadyFor,
  isSeizable,
  pacingActivity,
  seizeLimit,
  type AgentPresence,
  type AgentRecord,
} from "../dialer/agents.ts";
import { parseCampaign, policyFor, retryRule, type DialerCampaignSpec } from "../dialer/campaign.ts";
import { LiveCalls, CONNECT_WITHIN_S } from "../dialer/calls.ts";
import type { DialerContact } from "../dialer/contacts.ts";
import { agentlessWanted, dialBudget } from "../dialer/pulse.ts";
import { autoDialAt, maySkip, previewStep } from "../dialer/preview.ts";
import { createPolicy, PacingStatisticsTracker, type PacingPolicy } from "../pacing/index.ts";
import { checkCall } from "../regulation/index.ts";
import { loadPhoneZoneTable, loadRegulationTable } from "../regulation/load.ts";
import { DialerStore, type DialerCampaignDoc } from "../store/dialer.ts";
import { suppressionApplies } from "../store/suppressions.ts";
import type { SendOutcome } from "../ccm/ports.ts";
import { ConflictError, NotFoundError, ValidationError } from "./errors.ts";
import { runtimeOf, sdkLogger, type HubRuntime } from "./runtime.ts";

/** A campaign this node paces: its term and the policy's memory and statistics. */
interface OwnedCampaign {
  term: number;
  spec: DialerCampaignSpec;
  policy: PacingPolicy | undefined;
  memory: unknown;
  stats: PacingStatisticsTracker;
  startedAtMs: number;
  tokens: number;
  lastPulseMs: number;
}

export interface CampaignView {
  id: string;
  state: DialerCampaignDoc["state"];
  createdAt: Date;
  updatedAt: Date;
  [key: string]: unknown;
}

function campaignView(doc: DialerCampaignDoc): CampaignView {
  return { id: doc._id, ...doc.spec, state: doc.state, createdAt: doc.createdAt, updatedAt: doc.updatedAt };
}

function agentView(agent: AgentRecord, now: Date) {
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

function checkId(id: string, what: string): void {
  if (!ID_PATTERN.test(id))
    throw new ValidationError(`invalid ${what} id`, [
      { path: "/id", message: "must be 1-100 letters, digits, '_', '.' or '-', starting with a letter or digit" },
    ]);
}

export function dialerService(runtime: HubRuntime): ServiceSchema {
  const store = new DialerStore(runtime.store.conn, runtime.secrets.keyedHash);
  const rules = loadRegulationTable();
  const zones = loadPhoneZoneTable();
  const calls = new LiveCalls();
  const owned = new Map<string, OwnedCampaign>();
  /** Agents seen at the last pulse, per campaign this node paces. */
  const agentCache = new Map<string, AgentRecord>();
  /** Agents this node has put on a call and not yet seen free again (before the store says so). */
  const busyAgents = new Set<string>();
  /** Per instance: the voice control this node listens to (a reload brings a new one), and how to stop. */
  const subscriptions = new Map<string, { voice: VoiceControl; off: () => void }>();
  /** Answered calls waiting for their AMD verdict. */
  const amdPending = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let pulsing = false;
  let stopping = false;
  let logger: Logger;
  let broker: ServiceBroker;

  const { pulseMs, leaseMs } = runtime.config.dialer;

  /** The call's events onto its activity (throws when they could not be recorded). */
  async function report(pluginId: string, events: CanonicalEvent[]): Promise<void> {
    await broker.call("ccm.ingest", { pluginId, events });
  }

  /**
   * What happened to calls (a contact's end, the result on its activity) that could not be
   * written, the database being away: kept in order and written again at each pulse, so an
   * outage loses no result. A node that dies meanwhile leaves its contacts `dialed`; the next
   * term ends them NODE_LOST and never dials them again. A write that keeps failing while the
   * database is reachable is a fault of its own: logged and given up after a few tries.
   */
  const unrecorded: { what: string; write: () => Promise<void>; faults: number }[] = [];
  const MAX_FAULTS = 5;

  async function record(what: string, write: () => Promise<void>): Promise<void> {
    const entry = { what, write, faults: 0 };
    if (unrecorded.length > 0) {
      unrecorded.push(entry); // behind the older ones: a call's steps keep their order
      runtime.metrics.dialer.unrecordedSteps(unrecorded.length);
      return;
    }
    try {
      await write();
    } catch (err) {
      unrecorded.push(entry);
      noteFault(entry, err as Error);
    }
    runtime.metrics.dialer.unrecordedSteps(unrecorded.length);
  }

  function noteFault(entry: (typeof unrecorded)[number], err: Error): void {
    if (runtime.store.reachable()) entry.faults++;
    logger.warn("could not record a call step; kept to try again", { what: entry.what, error: err.message });
  }

  /** Writes the kept steps, oldest first; false while the oldest still fails. */
  async function recordKept(): Promise<boolean> {
    while (unrecorded.length > 0) {
      const entry = unrecorded[0]!;
      try {
        await entry.write();
      } catch (err) {
        noteFault(entry, err as Error);
        if (entry.faults < MAX_FAULTS) return false;
        logger.error("gave up recording a call step", { what: entry.what, error: (err as Error).message });
      }
      unrecorded.shift();
      runtime.metrics.dialer.unrecordedSteps(unrecorded.length);
    }
    return true;
  }

  function voiceOf(pluginId: string): VoiceControl | undefined {
    return runtime.registry.hosts.get(pluginId)?.voice;
  }

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
          logger.error("call event failed", { callId: event.callId, type: event.type, error: err.message }),
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

  /**
   * Seizes the available agents of the queues of the campaigns this node paces, releases the
   * ones that left (BREAK, LOGGED_OUT) and, when inbound work waits in a queue beyond its SEIZE
   * threshold, gives idle seized agents back to it (call blending).
   */
  async function seizeAgents(running: DialerCampaignDoc[], now: Date): Promise<void> {
    const mine = running.filter((c) => owned.has(c._id) && c.spec.mode !== "agentless" && c.spec.queue);
    if (mine.length === 0) return;
    const candidates = running
      .filter((c) => c.spec.mode !== "agentless" && c.spec.queue)
      .map((c) => ({ id: c._id, queue: c.spec.queue!, priority: c.spec.priority }));
    const queues = [...new Set(mine.map((c) => c.spec.queue!))];
    const agents = await store.agentsOfQueues(queues);
    const inbound = new Map((await store.inbound(queues)).map((q) => [q._id, q]));
    for (const queue of queues) {
      const members = agents.filter((a) => a.queues.includes(queue));
      const q = inbound.get(queue);
      const idleSeized = members.filter(
        (a) => a.seizedBy && owned.has(a.seizedBy) && isReadyFor(a, a.seizedBy, now) && !busyAgents.has(a._id),
      );
      const seizable = members.filter((a) => isSeizable(a, now));
      let room =
        seizeLimit(idleSeized.length + seizable.length, q?.waiting ?? 0, q?.seizeThreshold ?? 1) - idleSeized.length;
      // Inbound waits: idle seized agents go back to it, most recently seized last.
      for (const agent of idleSeized) {
        if (room >= 0) break;
        await store.release(agent._id, agent.seizedBy!);
        agent.seizedBy = null;
        room++;
      }
      for (const agent of members) {
        if (agent.seizedBy && owned.has(agent.seizedBy) && agent.presence !== "AVAILABLE" && !agent.callId) {
          await store.release(agent._id, agent.seizedBy);
          agent.seizedBy = null;
        } else if (room > 0 && isSeizable(agent, now)) {
          const target = campaignForAgent(agent, candidates, Math.random);
          if (target && owned.has(target) && (await store.seize(agent, target, runtime.nodeId, now))) {
            agent.seizedBy = target;
            agent.seizeGeneration = (agent.seizeGeneration ?? 0) + 1;
            room--;
          }
        }
        agentCache.set(agent._id, agent);
      }
    }
  }

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
      logger.info("pacing dialer campaign", { campaignId: doc._id, term });
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
    if (blocked) {
      await store.finish(contact, "failed", { outcome: "BLOCKED", resultDescription: blocked }, now);
      runtime.metrics.dialer.result(campaignId, "BLOCKED", "COMPLIANCE");
      await report(spec.voicePlugin, [
        {
          kind: "status",
          vendorId: contact._id,
          activityId: contact.activityId,
          status: "BLOCKED",
          raw: "COMPLIANCE",
          reasonCode: "COMPLIANCE",
          reason: blocked,
          retryable: false,
          at: now,
        },
      ]);
      return;
    }
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
        logger.warn("gateway down; contact back to pending", { campaignId, contactId: contact._id });
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
    const contacts = await store.dueContacts(id, now, ready.length, spec.dialingOrder);
    for (const [i, contact] of contacts.entries()) {
      const agent = ready[i]!;
      await store.offer(contact, agent._id, c.term, runtime.nodeId, now);
      agent.previewContactId = contact._id;
      await broker
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
        .catch((err: Error) => logger.warn("preview notification failed", { error: err.message }));
    }
  }

  /** Compliance before the dial: suppression, calling hours in every candidate zone, attempt limits. */
  async function blockReason(contact: DialerContact, spec: DialerCampaignSpec, now: Date): Promise<string | undefined> {
    const phone = contact.phone.split(";")[0]!;
    const suppressed = await runtime.suppressions.find(phone);
    if (suppressed && suppressionApplies(suppressed, undefined))
      return `${phone} is on the suppression list (${suppressed.reason})`;
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
    return check.allowed ? undefined : check.reasons.join("; ");
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
      logger.warn("dialer pulse failed; the next one retries", { error: (err as Error).message });
    } finally {
      pulsing = false;
    }
  }

  async function previewOf(agentId: string) {
    const agent = await store.getAgent(agentId);
    if (!agent) throw new NotFoundError(`agent ${agentId}`);
    const offer = agent.previewContactId ? await store.getContact(agent.previewContactId) : null;
    if (!offer || offer.status !== "agent_pending" || !offer.offeredAt)
      throw new NotFoundError(`preview for agent ${agentId}`);
    const campaign = await campaignOr404(offer.campaignId);
    return { agent, offer, campaign };
  }

  async function campaignOr404(id: string): Promise<DialerCampaignDoc> {
    const doc = await store.getCampaign(id);
    if (!doc) throw new NotFoundError(`dialer campaign ${id}`);
    return doc;
  }

  return {
    name: "dialer",
    actions: {
      putCampaign: {
        visibility: "published",
        async handler(
          ctx: Context<{ id: string } & Record<string, unknown>, { $statusCode?: number; $location?: string }>,
        ) {
          const { id, ...body } = ctx.params;
          checkId(id, "campaign");
          const parsed = parseCampaign(body, (code) => code in rules.jurisdictions);
          if (!parsed.ok) throw new ValidationError("invalid dialer campaign", parsed.details);
          if (!runtime.registry.wantedInstances.some((w) => w.id === parsed.spec.voicePlugin))
            throw new ValidationError("invalid dialer campaign", [
              { path: "/voicePlugin", message: `no plugin instance "${parsed.spec.voicePlugin}"` },
            ]);
          const { created, doc } = await store.putCampaign(id, parsed.spec, new Date());
          ctx.meta.$statusCode = created ? 201 : 200;
          if (created) ctx.meta.$location = `/api/v1/dialer/campaigns/${id}`;
          return campaignView(doc);
        },
      },
      getCampaign: {
        visibility: "published",
        async handler(ctx: Context<{ id: string }>) {
          return campaignView(await campaignOr404(ctx.params.id));
        },
      },
      listCampaigns: {
        visibility: "published",
        async handler() {
          return { campaigns: (await store.listCampaigns()).map(campaignView) };
        },
      },
      start: {
        visibility: "published",
        async handler(ctx: Context<{ id: string }>) {
          await campaignOr404(ctx.params.id);
          const contacts = await store.control(ctx.params.id, "start", new Date());
          return { id: ctx.params.id, state: "running", contactsResumed: contacts };
        },
      },
      stop: {
        visibility: "published",
        async handler(ctx: Context<{ id: string }>) {
          await campaignOr404(ctx.params.id);
          const contacts = await store.control(ctx.params.id, "stop", new Date());
          return { id: ctx.params.id, state: "stopped", contactsStopped: contacts };
        },
      },
      purge: {
        visibility: "published",
        async handler(ctx: Context<{ id: string }>) {
          const doc = await campaignOr404(ctx.params.id);
          const purged = await store.purge(ctx.params.id);
          const now = new Date();
          await report(
            doc.spec.voicePlugin,
            purged.map((c) => ({
              kind: "status" as const,
              vendorId: c._id,
              activityId: c.activityId,
              status: "CANCELLED" as const,
              raw: "PURGED",
              reason: "purged from the dialer campaign",
              at: now,
            })),
          );
          return { id: ctx.params.id, purged: purged.length };
        },
      },
      status: {
        visibility: "published",
        async handler(ctx: Context<{ id: string }>) {
          const doc = await campaignOr404(ctx.params.id);
          const counts = await store.contactCounts(ctx.params.id);
          const agents = (await store.listAgents()).filter((a) => a.seizedBy === ctx.params.id);
          const c = owned.get(ctx.params.id);
          const stats = c?.stats.snapshot((Date.now() - c.startedAtMs) / 1000);
          const rate = (n: { liveAnswers: number; abandoned: number } | undefined) =>
            n && n.liveAnswers > 0 ? n.abandoned / n.liveAnswers : 0;
          return {
            id: doc._id,
            state: doc.state,
            mode: doc.spec.mode,
            maxConcurrentCalls: doc.spec.maxConcurrentCalls,
            activeCalls: counts.dialed,
            contacts: counts,
            agentsSeized: agents.length,
            pacedBy: doc.ownerUntil && doc.ownerUntil > new Date() ? (doc.ownerNode ?? null) : null,
            abandonment: {
              jurisdiction: doc.spec.jurisdiction ?? "US",
              target: doc.spec.abandonTarget,
              today: rate(stats?.today),
              sinceStart: rate(stats?.total),
            },
          };
        },
      },
      putAgent: {
        visibility: "published",
        async handler(
          ctx: Context<
            { id: string; endpoint?: unknown; queues?: unknown },
            { $statusCode?: number; $location?: string }
          >,
        ) {
          const { id, endpoint, queues } = ctx.params;
          checkId(id, "agent");
          const details = [];
          if (typeof endpoint !== "string" || !/^[A-Za-z0-9_./@:+-]{1,200}$/.test(endpoint))
            details.push({ path: "/endpoint", message: "must be the agent's switch endpoint, e.g. user/1001" });
          if (
            !Array.isArray(queues) ||
            queues.length === 0 ||
            !queues.every((q) => typeof q === "string" && q.length > 0 && q.length <= 100)
          )
            details.push({ path: "/queues", message: "must be a non-empty array of queue names" });
          if (details.length > 0) throw new ValidationError("invalid agent", details);
          const now = new Date();
          const { created } = await store.putAgent(id, endpoint as string, queues as string[], now);
          ctx.meta.$statusCode = created ? 201 : 200;
          if (created) ctx.meta.$location = `/api/v1/agents/${id}`;
          return agentView((await store.getAgent(id))!, now);
        },
      },
      getAgent: {
        visibility: "published",
        async handler(ctx: Context<{ id: string }>) {
          const agent = await store.getAgent(ctx.params.id);
          if (!agent) throw new NotFoundError(`agent ${ctx.params.id}`);
          return agentView(agent, new Date());
        },
      },
      listAgents: {
        visibility: "published",
        async handler() {
          const now = new Date();
          return { agents: (await store.listAgents()).map((a) => agentView(a, now)) };
        },
      },
      setAgentState: {
        visibility: "published",
        async handler(ctx: Context<{ id: string; state?: unknown }>) {
          const { id, state } = ctx.params;
          if (typeof state !== "string" || !(AGENT_PRESENCES as readonly string[]).includes(state))
            throw new ValidationError("invalid agent state", [
              { path: "/state", message: `must be one of ${AGENT_PRESENCES.join(", ")}` },
            ]);
          const now = new Date();
          if (!(await store.setPresence(id, state as AgentPresence, now))) throw new NotFoundError(`agent ${id}`);
          return agentView((await store.getAgent(id))!, now);
        },
      },
      /** Preview: the contact offered to the agent, with when it is dialled by itself. */
      getPreview: {
        visibility: "published",
        async handler(ctx: Context<{ id: string }>) {
          const { agent, offer, campaign } = await previewOf(ctx.params.id);
          return {
            agentId: agent._id,
            campaignId: offer.campaignId,
            contactId: offer._id,
            activityId: offer.activityId,
            customerId: offer.customerId,
            phone: offer.phone,
            offeredAt: offer.offeredAt,
            autoDialAt: autoDialAt({ offeredAt: offer.offeredAt! }, campaign.spec.preview.timeoutS),
            skipsLeft: Math.max(0, campaign.spec.preview.maxSkips - (agent.skipsUsed ?? 0)),
          };
        },
      },
      previewDial: {
        visibility: "published",
        async handler(ctx: Context<{ id: string }, { $statusCode?: number }>) {
          const { agent, offer } = await previewOf(ctx.params.id);
          if (!(await store.choose(agent._id, offer._id, "dial"))) throw new ConflictError("the offer has ended");
          ctx.meta.$statusCode = 202;
          return { agentId: agent._id, contactId: offer._id, choice: "dial" };
        },
      },
      previewSkip: {
        visibility: "published",
        async handler(ctx: Context<{ id: string }, { $statusCode?: number }>) {
          const { agent, offer, campaign } = await previewOf(ctx.params.id);
          if (!maySkip(agent.skipsUsed ?? 0, campaign.spec.preview.maxSkips))
            throw new ConflictError(
              `skip limit reached (${campaign.spec.preview.maxSkips} in a row): dial this contact`,
            );
          if (!(await store.choose(agent._id, offer._id, "skip"))) throw new ConflictError("the offer has ended");
          ctx.meta.$statusCode = 202;
          return { agentId: agent._id, contactId: offer._id, choice: "skip" };
        },
      },
      /** Call blending: the inbound side reports the work waiting in a queue. */
      setInbound: {
        visibility: "published",
        async handler(ctx: Context<{ id: string; waiting?: unknown; seizeThreshold?: unknown }>) {
          const { id, waiting, seizeThreshold } = ctx.params;
          checkId(id, "queue");
          const details = [];
          if (!Number.isInteger(waiting) || (waiting as number) < 0 || (waiting as number) > 100_000)
            details.push({ path: "/waiting", message: "must be the number of inbound calls waiting (0-100000)" });
          if (seizeThreshold !== undefined && (!Number.isInteger(seizeThreshold) || (seizeThreshold as number) < 1))
            details.push({ path: "/seizeThreshold", message: "must be an integer of at least 1" });
          if (details.length > 0) throw new ValidationError("invalid inbound report", details);
          const doc = await store.setInbound(
            id,
            waiting as number,
            (seizeThreshold as number | undefined) ?? 1,
            new Date(),
          );
          return { queue: doc._id, waiting: doc.waiting, seizeThreshold: doc.seizeThreshold, updatedAt: doc.updatedAt };
        },
      },
      /** From the dispatcher (ccm): a voice attempt for an instance the dialer paces. */
      enqueue: {
        visibility: "public",
        async handler(
          ctx: Context<{ request: SendRequest; pluginId: string; attemptNumber: number }>,
        ): Promise<SendOutcome> {
          const { request, pluginId, attemptNumber } = ctx.params;
          const campaignId = request.campaignId ?? runtime.config.dialer.defaultCampaign ?? undefined;
          const campaign = campaignId ? await store.getCampaign(campaignId) : null;
          if (!campaign) {
            return {
              ok: false,
              error: {
                code: "NO_DIALER_CAMPAIGN",
                message: campaignId
                  ? `no dialer campaign "${campaignId}" (PUT /api/v1/dialer/campaigns/${campaignId})`
                  : "the activity names no campaignId and dialer.defaultCampaign is not set",
                retryable: false,
                status: "FAILED",
                optOut: false,
              },
            };
          }
          // Its results are matched to the attempt by the instance that carries it: a campaign that
          // dials through another instance would leave the attempt waiting forever.
          if (campaign.spec.voicePlugin !== pluginId) {
            return {
              ok: false,
              error: {
                code: "PLUGIN_MISMATCH",
                message:
                  `the attempt was routed to "${pluginId}" but dialer campaign "${campaign._id}" dials through ` +
                  `"${campaign.spec.voicePlugin}": pin the activity's pluginId or route voice to it`,
                retryable: false,
                status: "FAILED",
                optOut: false,
              },
            };
          }
          const now = new Date();
          await store.enqueue({
            _id: request.attemptId,
            campaignId: campaign._id,
            activityId: request.activityId,
            attemptNumber,
            phone: request.customer.phone ?? "",
            customerId: request.customer.id,
            ...(request.customer.timezone ? { customerZone: request.customer.timezone } : {}),
            type: campaign.spec.mode === "agentless" ? "IVR" : "AGENT",
            priority: campaign.spec.priority,
            status: campaign.state === "running" ? "pending" : "stopped",
            receivedAt: now,
            earliestAt: now,
          });
          runtime.metrics.dialer.loaded(campaign._id);
          return { ok: true, result: { status: "QUEUED", vendorId: request.attemptId } };
        },
      },
    },
    created(this: Service) {
      logger = sdkLogger(this.logger);
      broker = this.broker;
    },
    async started() {
      await store.ensureIndexes();
      timer = setInterval(() => void pulse(), pulseMs);
      timer.unref();
    },
    async stopped() {
      stopping = true;
      clearInterval(timer);
      for (const { off } of subscriptions.values()) off();
      for (const [id, c] of owned) await store.releaseTerm(id, c.term, runtime.nodeId).catch(() => undefined);
      await store.flush().catch(() => undefined);
    },
  };
}

/** The service as startHub and moleculer-runner create it. */
export default class DialerService extends Service {
  constructor(broker: ServiceBroker) {
    super(broker);
    this.parseServiceSchema(dialerService(runtimeOf(broker)));
  }
}
