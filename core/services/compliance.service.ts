/** `compliance`: the suppression list (by normalised phone or email), checked before every attempt. */
import { parseLimit } from "./query.ts";
import { type Context, type ServiceSchema, Service, type ServiceBroker } from "moleculer";
import { normalizeAddress } from "@dialmesh/sdk";
import { NotFoundError, ValidationError, type HttpMeta } from "./errors.ts";
import { runtimeOf, type HubRuntime } from "./runtime.ts";

export function complianceService(runtime: HubRuntime): ServiceSchema {
  return {
    name: "compliance",
    actions: {
      async check(ctx: Context<{ address: string }>) {
        const entry = await runtime.suppressions.find(ctx.params.address);
        return {
          suppressed: !!entry,
          ...(entry ? { reason: entry.reason, since: entry.createdAt } : {}),
          ...(entry?.purposes ? { purposes: entry.purposes } : {}),
        };
      },
      async suppress(ctx: Context<{ address?: unknown; reason?: unknown }, HttpMeta>) {
        const { address, reason } = ctx.params;
        if (typeof address !== "string" || !normalizeAddress(address)) {
          throw new ValidationError("Invalid suppression", [
            { path: "/address", message: "must be a phone number in international form or an email address" },
          ]);
        }
        const doc = await runtime.suppressions.add(
          address,
          typeof reason === "string" && reason ? reason : "added by an operator",
          "api",
          new Date(),
        );
        ctx.meta.$statusCode = 201;
        ctx.meta.$location = `/api/v1/suppressions/${encodeURIComponent(doc._id)}`;
        return { address: doc._id, reason: doc.reason, source: doc.source, since: doc.createdAt };
      },
      async lift(ctx: Context<{ address: string }>) {
        if (!(await runtime.suppressions.remove(ctx.params.address)))
          throw new NotFoundError(`suppression of ${ctx.params.address}`);
        return { lifted: normalizeAddress(ctx.params.address) ?? ctx.params.address };
      },
      async list(ctx: Context<{ limit?: string; after?: string }>) {
        const limit = parseLimit(ctx.params.limit, { default: 100, max: 1000 });
        const docs = await runtime.suppressions.list(limit, ctx.params.after);
        return {
          suppressions: docs.map((d) => ({ address: d._id, reason: d.reason, source: d.source, since: d.createdAt })),
        };
      },
    },
  };
}

/** The service as startHub and moleculer-runner create it, with the node's runtime from its broker. */
export default class ComplianceService extends Service {
  constructor(broker: ServiceBroker) {
    super(broker);
    const runtime = runtimeOf(broker);
    this.parseServiceSchema(complianceService(runtime));
  }
}
