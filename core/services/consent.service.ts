/**
 * `consents`: a customer's consent records and objections (/api/v1/customers/:id/consents and
 * /objections). Insert-only: a withdrawal is a new record with `granted: false`; an objection
 * cannot be removed through the API. A customer need not be stored yet: a consent or an
 * objection may arrive before the customer is imported, and is honoured once they are.
 */
import { type Context, type ServiceSchema, Service, type ServiceBroker } from "moleculer";
import { currentConsents, parseConsent, parseObjection } from "../compliance/consent.ts";
import type { ConsentDoc } from "../store/consent.ts";
import type { ValidationDetail } from "../validation/json-schema.ts";
import { ValidationError, type HttpMeta } from "./errors.ts";
import { runtimeOf, type HubRuntime } from "./runtime.ts";

type Body = Record<string, unknown> & { id: string };

function recordView(d: ConsentDoc) {
  const { _id, customerId, ...record } = d;
  return { id: _id, customerId, ...record };
}

function stored<T>(parsed: { record: T } | { details: ValidationDetail[] }, what: string): T {
  if ("details" in parsed) throw new ValidationError(`Invalid ${what}`, parsed.details);
  return parsed.record;
}

export function consentService(runtime: HubRuntime): ServiceSchema {
  const store = runtime.consents;
  return {
    name: "consents",
    async started() {
      await store.ensureIndexes();
    },
    actions: {
      async record(ctx: Context<Body, HttpMeta>) {
        const { id, ...body } = ctx.params;
        const doc = await store.add(id, stored(parseConsent(body, new Date()), "consent"));
        ctx.meta.$statusCode = 201;
        ctx.meta.$location = `/api/v1/customers/${encodeURIComponent(id)}/consents`;
        return recordView(doc);
      },
      async object(ctx: Context<Body, HttpMeta>) {
        const { id, ...body } = ctx.params;
        const doc = await store.add(id, stored(parseObjection(body, new Date()), "objection"));
        ctx.meta.$statusCode = 201;
        ctx.meta.$location = `/api/v1/customers/${encodeURIComponent(id)}/consents`;
        return recordView(doc);
      },
      /** The history, oldest first, and what counts now. */
      async list(ctx: Context<{ id: string }>) {
        const records = (await store.forCustomers([ctx.params.id])).get(ctx.params.id) ?? [];
        const objections = records.filter((r) => r.kind === "objection");
        return {
          customerId: ctx.params.id,
          current: [...currentConsents(records).values()].map((r) => ({
            channel: r.channel,
            purpose: r.purpose,
            granted: r.granted,
            source: r.source,
            ...(r.evidence ? { evidence: r.evidence } : {}),
            at: r.at,
          })),
          objection: objections.length ? { purpose: "marketing", since: objections[0]!.at } : null,
          history: records.map(recordView),
        };
      },
    },
  };
}

/** The service as startHub and moleculer-runner create it, with the node's runtime from its broker. */
export default class ConsentService extends Service {
  constructor(broker: ServiceBroker) {
    super(broker);
    this.parseServiceSchema(consentService(runtimeOf(broker)));
  }
}
