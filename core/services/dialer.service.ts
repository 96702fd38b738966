/**
 * `dialer`: the internal voice dialer. Voice attempts routed to an instance that drives a switch
 * (a plugin with `voice` control) become contacts of a dialer campaign; each running campaign is
 * paced by exactly one node at a time (its term, claimed by unique insert; dialer-store.ts), which
 * seizes agents of the campaign's queue, asks the campaign's pacing policy (core/pacing, the code
 * the simulator runs) how many calls to place, dials them after the compliance check, bridges a
 * human answer to a seized agent within 2 s or abandons it, and reports every step to the
 * activity's attempt (ccm.ingest), so results land on the conversation like any channel's.
 *
 * Decisions are pure (core/dialer, core/pacing, core/regulation). The glue is in dialer/: the
 * node's shared state (node.ts), its calls (call-flow.ts), the pulse (pacing.ts), agent
 * seizure (seizure.ts), the steps kept through an outage (recorder.ts) and the API's views
 * (views.ts); this file is the service: its API actions and lifecycle.
 */
import { type Context, type ServiceSchema, Service, type ServiceBroker } from "moleculer";
import type { SendRequest } from "@dialmesh/sdk";
import { AGENT_PRESENCES, type AgentPresence } from "../dialer/agents.ts";
import { parseCampaign } from "../dialer/campaign.ts";
import { campaignDncWarnings } from "../dialer/dnc.ts";
import { unknownListDetails } from "../compliance/dnc.ts";
import { autoDialAt, maySkip } from "../dialer/preview.ts";
import type { DialerCampaignDoc } from "../store/dialer.ts";
import type { SendOutcome } from "../ccm/ports.ts";
import { createCallFlow } from "./dialer/call-flow.ts";
import { createDialerNode } from "./dialer/node.ts";
import { createPacer } from "./dialer/pacing.ts";
import { createCallStepRecorder } from "./dialer/recorder.ts";
import { createSeizure } from "./dialer/seizure.ts";
import { agentView, campaignView, checkId } from "./dialer/views.ts";
import { ConflictError, NotFoundError, ValidationError } from "./errors.ts";
import { runtimeOf, sdkLogger, type HubRuntime } from "./runtime.ts";

export type { CampaignView } from "./dialer/views.ts";

export function dialerService(runtime: HubRuntime): ServiceSchema {
  const node = createDialerNode(runtime);
  const recorder = createCallStepRecorder(node);
  const flow = createCallFlow(node, recorder);
  const pacer = createPacer(node, recorder, flow, createSeizure(node));
  const { store, rules, owned, report } = node;
  const { pulseMs } = runtime.config.dialer;
  let timer: NodeJS.Timeout | undefined;

  async function previewOf(agentId: string) {
    const agent = await store.getAgent(agentId);
    if (!agent) throw new NotFoundError(`agent ${agentId}`);
    const offer = agent.previewContactId ? await store.getContact(agent.previewContactId) : null;
    if (!offer || offer.status !== "agent_pending" || !offer.offeredAt)
      throw new NotFoundError(`preview for agent ${agentId}`);
    const campaign = await campaignOr404(offer.campaignId);
    return { agent, offer, campaign };
  }

  /** Each campaign's DNC warnings (stale or deleted lists), with one read of the lists they name. */
  async function dncWarnings(docs: readonly DialerCampaignDoc[]): Promise<string[][]> {
    const named = [...new Set(docs.flatMap((d) => d.spec.dncLists ?? []))];
    const states = named.length ? await runtime.dnc.currentStates(named) : [];
    const now = new Date();
    return docs.map((d) => campaignDncWarnings(d.spec.dncLists ?? [], states, now));
  }

  async function viewOf(doc: DialerCampaignDoc) {
    return campaignView(doc, (await dncWarnings([doc]))[0]!);
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
          const details = [];
          if (!runtime.registry.wantedInstances.some((w) => w.id === parsed.spec.voicePlugin))
            details.push({ path: "/voicePlugin", message: `no plugin instance "${parsed.spec.voicePlugin}"` });
          const lists = parsed.spec.dncLists ?? [];
          if (lists.length) details.push(...unknownListDetails(lists, await runtime.dnc.existing(lists), ""));
          if (details.length) throw new ValidationError("invalid dialer campaign", details);
          const { created, doc } = await store.putCampaign(id, parsed.spec, new Date());
          ctx.meta.$statusCode = created ? 201 : 200;
          if (created) ctx.meta.$location = `/api/v1/dialer/campaigns/${id}`;
          return viewOf(doc);
        },
      },
      getCampaign: {
        visibility: "published",
        async handler(ctx: Context<{ id: string }>) {
          return viewOf(await campaignOr404(ctx.params.id));
        },
      },
      listCampaigns: {
        visibility: "published",
        async handler() {
          const docs = await store.listCampaigns();
          const warnings = await dncWarnings(docs);
          return { campaigns: docs.map((d, i) => campaignView(d, warnings[i]!)) };
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
          const [counts, [warnings]] = await Promise.all([store.contactCounts(ctx.params.id), dncWarnings([doc])]);
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
            warnings,
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
      node.logger = sdkLogger(this.logger);
      node.broker = this.broker;
    },
    async started() {
      await store.ensureIndexes();
      timer = setInterval(() => void pacer.pulse(), pulseMs);
      timer.unref();
    },
    async stopped() {
      pacer.stop();
      clearInterval(timer);
      flow.unsubscribeAll();
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
