/**
 * `ccm`, the channel manager: routes attempts to plugins (`connector.<id>`), and folds
 * vendor events back into activities, conversations and webhooks.
 */
import { type Context, type ServiceSchema, Service, type ServiceBroker } from "moleculer";
import { Dispatcher } from "../ccm/dispatcher.ts";
import { EventIngester } from "../ccm/ingest.ts";
import type { EventPublisher, Routing, SendOutcome } from "../ccm/ports.ts";
import type { CanonicalEvent, InboundRequest, InboundResult } from "@dialmesh/sdk";
import type { ActivityDoc } from "../store/models.ts";
import { NotFoundError } from "./errors.ts";
import { sdkLogger, type HubRuntime, runtimeOf } from "./runtime.ts";
import type { PluginRegistry } from "../plugins/registry.ts";

function reviveEvent(e: CanonicalEvent): CanonicalEvent {
  return { ...e, at: e.at instanceof Date ? e.at : new Date(e.at as unknown as string) };
}

export function ccmService(runtime: HubRuntime, registry: PluginRegistry): ServiceSchema {
  let dispatcher: Dispatcher;
  let ingester: EventIngester;

  return {
    name: "ccm",
    actions: {
      dispatch: {
        visibility: "public",
        handler(ctx: Context<{ activity: ActivityDoc }>) {
          return dispatcher.process(ctx.params.activity);
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
      const plan = {
        maxRetries: runtime.config.scheduler.maxRetries,
        retryBaseMs: runtime.config.scheduler.retryBaseMs,
      };
      const honour = runtime.config.compliance.honourSuppressionOn;
      dispatcher = new Dispatcher({
        activities: runtime.activities,
        conversations: runtime.conversations,
        routing,
        compliance: {
          blockReason: async (channel, address) => {
            if (honour && !honour.includes(channel)) return undefined;
            const entry = await runtime.suppressions.find(address);
            return entry
              ? `${address} is on the suppression list since ${entry.createdAt.toISOString()} (${entry.reason})`
              : undefined;
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
