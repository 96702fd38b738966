/** `conversations`: one per customer per campaign (or per activity), with its ordered timeline. */
import { parseLimit } from "./query.ts";
import { type Context, type ServiceSchema, Service, type ServiceBroker } from "moleculer";
import { NotFoundError, ValidationError } from "./errors.ts";
import { runtimeOf, type HubRuntime } from "./runtime.ts";

export function conversationsService(runtime: HubRuntime): ServiceSchema {
  return {
    name: "conversations",
    actions: {
      async list(ctx: Context<{ customerId?: string; limit?: string }>) {
        if (!ctx.params.customerId)
          throw new ValidationError("customerId is required", [
            { path: "/customerId", message: "query parameter is required" },
          ]);
        const limit = parseLimit(ctx.params.limit, { default: 50, max: 500 });
        const list = await runtime.conversations.listByCustomer(ctx.params.customerId, limit);
        return { conversations: list.map(({ _id, ...rest }) => ({ id: _id, ...rest })) };
      },
      async get(ctx: Context<{ id: string }>) {
        const conv = await runtime.conversations.get(ctx.params.id);
        if (!conv) throw new NotFoundError(`conversation ${ctx.params.id}`);
        const { _id, timeline, ...rest } = conv;
        return {
          id: _id,
          ...rest,
          timeline: timeline.map(({ _id: eventId, conversationId: _c, ...e }) => ({ id: eventId, ...e })),
        };
      },
    },
  };
}

/** The service as startHub and moleculer-runner create it, with the node's runtime from its broker. */
export default class ConversationsService extends Service {
  constructor(broker: ServiceBroker) {
    super(broker);
    const runtime = runtimeOf(broker);
    this.parseServiceSchema(conversationsService(runtime));
  }
}
