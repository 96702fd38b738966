/**
 * `ccm`, the channel manager: routes attempts to plugins (`connector.<id>`), and folds
 * vendor events back into activities, conversations and webhooks.
 */
import path from "node:path";
import { type Context, type ServiceSchema, Service, type ServiceBroker } from "moleculer";
import { Dispatcher } from "../ccm/dispatcher.ts";
import { EventIngester } from "../ccm/ingest.ts";
import type { AttemptState, EventPublisher, Peers, Routing, SendOutcome } from "../ccm/ports.ts";
import { OutcomeJournal } from "../store/outcome-journal.ts";
import { suppressionApplies } from "../store/suppressions.ts";
import type { CanonicalEvent, InboundRequest, InboundResult } from "@dialmesh/sdk";
import type { ActivityDoc } from "../store/models.ts";
import { NotFoundError } from "./errors.ts";
import { sdkLogger, type HubRuntime, runtimeOf } from "./runtime.ts";
import type { PluginRegistry } from "../plugins/registry.ts";
import { consentBlock } from "../compliance/consent.ts";
import { loadPhoneZoneTable, loadRegulationTable } from "../regulation/load.ts";
import { createDncCheck } from "./dnc-check.ts";

function reviveEvent(e: CanonicalEvent): CanonicalEvent {
  return { ...e, at: e.at instanceof Date ? e.at : new Date(e.at as unknown as string) };
}

/** How often journaled vendor answers are offered to the database again. */
const JOURNAL_REPLAY_MS = 1_000;

export function ccmService(runtime: HubRuntime, registry: PluginRegistry): ServiceSchema {
  let dispatcher: Dispatcher;
  let ingester: EventIngester;
  let journal: OutcomeJournal;
  let replayTimer: NodeJS.Timeout | undefined;

  return {
    name: "ccm",
    actions: {
      dispatch: {
        visibility: "public",
        async handler(ctx: Context<{ activity: ActivityDoc }>) {
          // Answers journaled before (a database outage, or a previous process's journal)
          // go first: their attempts must not look unanswered to this dispatch.
          if (journal.size > 0) await dispatcher.replayJournal();
          return dispatcher.process(ctx.params.activity);
        },
      },
      /** A peer asks about an attempt this node started and left DISPATCHING (see Dispatcher.recover). */
      attemptState: {
        visibility: "public",
        handler(ctx: Context<{ attemptId: string }>): AttemptState {
          return dispatcher.attemptState(ctx.params.attemptId);
        },
      },
      ingest: {
        visibility: "public",
        handler(ctx: Context<{ pluginId: string; events: CanonicalEvent[] }>) {
          return ingester.ingest(ctx.params.pluginId, ctx.params.events.map(reviveEvent));
        },
      },
      /** GET|POST /webhooks/:pluginId — the vendor's signature is the authentication. */
      async webhook(
        ctx: Context<{
          pluginId: string;
          method: "GET" | "POST";
          url: string;
          headers: Record<string, string>;
          query: Record<string, string>;
          rawBody: Buffer;
        }>,
      ) {
        const { pluginId } = ctx.params;
        if (!registry.hosts.has(pluginId)) throw new NotFoundError(`plugin ${pluginId}`);
        const request: InboundRequest = {
          method: ctx.params.method,
          url: ctx.params.url,
          headers: ctx.params.headers,
          query: ctx.params.query,
          rawBody: ctx.params.rawBody,
        };
        const result: InboundResult = await ctx.call(`connector.${pluginId}.inbound`, request);
        if (result.events.length > 0) await ingester.ingest(pluginId, result.events.map(reviveEvent));
        return result.response;
      },
    },
    started(this: Service) {
      const replay = () => {
        if (journal.size === 0) return;
        dispatcher.replayJournal().catch((err: Error) => {
          this.logger.debug("journaled answers wait for the database", { error: err.message, pending: journal.size });
        });
      };
      replay();
      replayTimer = setInterval(replay, JOURNAL_REPLAY_MS);
      replayTimer.unref();
    },
    stopped() {
      clearInterval(replayTimer);
      journal.close();
    },
    created(this: Service) {
      const broker = this.broker;
      const logger = sdkLogger(this.logger);
      const events: EventPublisher = {
        publish: async (event) => {
          await broker.call("webhooks.publish", event);
        },
      };
      const routing: Routing = {
        route: (channel, pinned) => registry.route(channel, pinned),
        idempotentSend: (pluginId) => registry.idempotentSend(pluginId),
        paced: (pluginId) => registry.paced(pluginId),
        send: async (pluginId, request) => {
          const outcome = await broker.call<SendOutcome, typeof request>(`connector.${pluginId}.send`, request);
          registry.observe(
            pluginId,
            outcome.ok
              ? { kind: "sent", at: new Date() }
              : { kind: "send-failed", error: outcome.error, at: new Date() },
          );
          return outcome;
        },
      };
      const peers: Peers = {
        attemptState: (nodeID, attemptId) =>
          broker
            .call<AttemptState, { attemptId: string }>("ccm.attemptState", { attemptId }, { nodeID, timeout: 2_000 })
            .catch(() => "unknown" as const),
      };
      journal = new OutcomeJournal(path.join(runtime.config.dataDir, "journal"), runtime.nodeId);
      const plan = {
        maxRetries: runtime.config.scheduler.maxRetries,
        retryBaseMs: runtime.config.scheduler.retryBaseMs,
      };
      const honour = runtime.config.compliance.honourSuppressionOn;
      const regulation = { rules: loadRegulationTable(), zones: loadPhoneZoneTable() };
      /** The DNC lists the activity names, in order: the first that blocks the address. */
      const dncBlock = createDncCheck({
        dnc: runtime.dnc,
        regulation,
        warn: (warning, lists) => logger.warn(warning, { lists }),
      });
      dispatcher = new Dispatcher({
        activities: runtime.activities,
        conversations: runtime.conversations,
        routing,
        compliance: {
          blockReason: async (channel, address, activity) => {
            const entry = honour && !honour.includes(channel) ? null : await runtime.suppressions.find(address);
            if (entry && suppressionApplies(entry, activity.purpose))
              return {
                reasonCode: "SUPPRESSED",
                reason: `${address} is on the suppression list since ${entry.createdAt.toISOString()} (${entry.reason})`,
              };
            const dnc = await dncBlock(address, activity.dncLists ?? []);
            if (dnc) return { reasonCode: dnc.reasonCode, reason: dnc.reason };
            // Only an activity that declares a purpose can be blocked by consent: others read nothing.
            if (!activity.purpose && !activity.requiresConsent) return undefined;
            return consentBlock(activity, channel, await runtime.consents.lookup(activity.customer.id));
          },
          suppress: async (address, reason, source) => {
            await runtime.suppressions.add(address, reason, source, new Date());
          },
        },
        events,
        metrics: runtime.metrics,
        logger,
        nodeId: runtime.nodeId,
        plan,
        leaseMs: runtime.config.scheduler.leaseMs,
        journal,
        peers,
        databaseReachable: () => runtime.store.reachable(),
        dialer: {
          enqueue: (request, pluginId, attemptNumber) =>
            broker.call<SendOutcome, { request: typeof request; pluginId: string; attemptNumber: number }>(
              "dialer.enqueue",
              { request, pluginId, attemptNumber },
            ),
        },
      });
      ingester = new EventIngester({
        activities: runtime.activities,
        conversations: runtime.conversations,
        suppressions: runtime.suppressions,
        events,
        metrics: runtime.metrics,
        logger,
        plan,
        nodeId: runtime.nodeId,
      });
    },
  };
}

/** The service as startHub and moleculer-runner create it, with the node's runtime from its broker. */
export default class CcmService extends Service {
  constructor(broker: ServiceBroker) {
    super(broker);
    const runtime = runtimeOf(broker);
    this.parseServiceSchema(ccmService(runtime, runtime.registry));
  }
}
