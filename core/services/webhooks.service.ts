/** `webhooks`: subscriptions and the outbox that delivers signed notifications to them. */
import { parseLimit } from "./query.ts";
import { type Context, type ServiceSchema, Service, type ServiceBroker } from "moleculer";
import { WebhookOutbox, type WebhookEvent } from "../webhooks/outbox.ts";
import { WebhookValidationError } from "../webhooks/validate.ts";
import { NotFoundError, ValidationError, type HttpMeta } from "./errors.ts";
import { sdkLogger, type HubRuntime, runtimeOf } from "./runtime.ts";

export function webhooksService(runtime: HubRuntime): ServiceSchema {
  const { webhooks } = runtime.config;
  let outbox: WebhookOutbox;

  async function guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof WebhookValidationError) throw new ValidationError(err.message, err.details);
      throw err;
    }
  }

  return {
    name: "webhooks",
    actions: {
      publish: {
        visibility: "public",
        handler(ctx: Context<WebhookEvent>) {
          return outbox.enqueue(ctx.params);
        },
      },
      async subscribe(ctx: Context<unknown, HttpMeta>) {
        const created = await guard(() => outbox.createSubscription(ctx.params));
        ctx.broadcast("webhooks.subscriptions.changed", {});
        ctx.meta.$statusCode = 201;
        ctx.meta.$location = `/api/v1/webhooks/${created.id}`;
        return created;
      },
      async list() {
        return { subscriptions: await outbox.listSubscriptions() };
      },
      async remove(ctx: Context<{ id: string }>) {
        if (!(await outbox.deleteSubscription(ctx.params.id)))
          throw new NotFoundError(`webhook subscription ${ctx.params.id}`);
        ctx.broadcast("webhooks.subscriptions.changed", {});
        return { deleted: ctx.params.id };
      },
      async deadLetters(ctx: Context<{ subscriptionId?: string; limit?: string }>) {
        const limit = parseLimit(ctx.params.limit, { default: 100, max: 1000 });
        return {
          deadLetters: await outbox.listDeadLetters({
            ...(ctx.params.subscriptionId ? { subscriptionId: ctx.params.subscriptionId } : {}),
            limit,
          }),
        };
      },
      async replay(ctx: Context<{ id?: string; subscriptionId?: string }>) {
        const n = await outbox.replay(
          ctx.params.id ?? {
            all: true,
            ...(ctx.params.subscriptionId ? { subscriptionId: ctx.params.subscriptionId } : {}),
          },
        );
        if (ctx.params.id && n === 0) throw new NotFoundError(`dead letter ${ctx.params.id}`);
        return { replayed: n };
      },
      async backlog() {
        return outbox.backlog();
      },
    },
    events: {
      // Another node added or removed a subscription: its next event reads them again.
      "webhooks.subscriptions.changed"() {
        outbox?.invalidateSubscriptions();
      },
    },
    async started() {
      outbox = new WebhookOutbox(runtime.store.conn, {
        allowPrivateNetworks: webhooks.allowPrivateNetworks,
        maxAttempts: webhooks.maxAttempts,
        pollIntervalMs: webhooks.pollIntervalMs,
        nodeId: runtime.nodeId,
        secrets: runtime.secrets,
        logger: sdkLogger(this.logger),
        ...(runtime.config.webhooks.backoff ? { backoff: runtime.config.webhooks.backoff } : {}),
      });
      await outbox.init();
      outbox.start();
    },
    async stopped() {
      await outbox?.stop();
    },
  };
}

/** The service as startHub and moleculer-runner create it, with the node's runtime from its broker. */
export default class WebhooksService extends Service {
  constructor(broker: ServiceBroker) {
    super(broker);
    const runtime = runtimeOf(broker);
    this.parseServiceSchema(webhooksService(runtime));
  }
}
