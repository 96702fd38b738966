/** `customers`: customers and their declared attributes (PUT/GET/DELETE, list with search and attribute filters). */
import { type Context, type ServiceSchema, Service, type ServiceBroker } from "moleculer";
import { parseDeclaration, type AttributeDeclaration, coerceCell } from "../audience/attributes.ts";
import { normalizeCustomer } from "../audience/customer.ts";
import { normalizeCustomerPhone } from "../audience/contact-points.ts";
import { loadPhoneZoneTable } from "../regulation/load.ts";
import { CustomerStore, type AttributeDoc, type CustomerDoc } from "../store/customers.ts";
import { ConflictError, NotFoundError, ValidationError, type HttpMeta } from "./errors.ts";
import { parseLimit } from "./query.ts";
import { runtimeOf, type HubRuntime } from "./runtime.ts";
import type { ValidationDetail } from "../validation/json-schema.ts";
import { isDuplicateKey } from "../store/write-errors.ts";

export function customerView(d: CustomerDoc) {
  return {
    id: d._id,
    ...(d.firstName ? { firstName: d.firstName } : {}),
    ...(d.lastName ? { lastName: d.lastName } : {}),
    ...(d.email ? { email: d.email } : {}),
    phones: d.phones ?? [],
    ...(d.timezone ? { timezone: d.timezone } : {}),
    attributes: d.attributes ?? {},
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
  };
}

const attributeView = (d: AttributeDoc) => ({
  name: d._id,
  type: d.type,
  ...(d.values ? { values: d.values } : {}),
  required: d.required === true,
  unique: d.unique === true,
  indexed: d.indexed === true,
  createdAt: d.createdAt,
  updatedAt: d.updatedAt,
});

/** `?attributes.segment=gold`: the value typed as its declaration says, or why it cannot be. */
export function attributeFilters(
  query: Record<string, unknown>,
  declarations: readonly AttributeDeclaration[],
): { filters: Record<string, unknown> } | { details: ValidationDetail[] } {
  const filters: Record<string, unknown> = {};
  const details: ValidationDetail[] = [];
  const byName = new Map(declarations.map((d) => [d.name, d]));
  for (const [key, raw] of Object.entries(query)) {
    if (!key.startsWith("attributes.")) continue;
    const name = key.slice("attributes.".length);
    const d = byName.get(name);
    if (!d) {
      details.push({ path: `/query/${key}`, message: `${name} is not a declared attribute` });
      continue;
    }
    const v = coerceCell(d, String(raw));
    if ("error" in v) details.push({ path: `/query/${key}`, message: v.error });
    else if ("value" in v) filters[name] = v.value;
    else details.push({ path: `/query/${key}`, message: "must not be empty" });
  }
  return details.length ? { details } : { filters };
}

export function customersService(runtime: HubRuntime): ServiceSchema {
  const store = new CustomerStore(runtime.store.conn);
  const zones = loadPhoneZoneTable();
  return {
    name: "customers",
    async started() {
      await store.ensureIndexes();
      // Once a node, here (the imports service makes the same indexes): a store filled before
      // the statistics were kept has none until its next import.
      await store.refreshPlannerStatistics().catch(() => undefined);
    },
    actions: {
      async put(ctx: Context<Record<string, unknown> & { id: string }, HttpMeta>) {
        const { id, ...body } = ctx.params;
        const declarations = await store.declarations();
        const out = normalizeCustomer(id, body, { declarations, defaultRegion: undefined, zones });
        if ("details" in out) throw new ValidationError("Invalid customer", out.details);
        const put = await store.put(id, out.customer, new Date());
        if ("clash" in put)
          throw new ConflictError(`attributes.${put.clash} is unique and another customer has this value`, {
            path: `/attributes/${put.clash}`,
          });
        ctx.meta.$statusCode = put.created ? 201 : 200;
        if (put.created) ctx.meta.$location = `/api/v1/customers/${encodeURIComponent(id)}`;
        return customerView(put.doc);
      },
      async get(ctx: Context<{ id: string }>) {
        const doc = await store.get(ctx.params.id);
        if (!doc) throw new NotFoundError(`customer ${ctx.params.id}`);
        return customerView(doc);
      },
      async remove(ctx: Context<{ id: string }>) {
        if (!(await store.remove(ctx.params.id))) throw new NotFoundError(`customer ${ctx.params.id}`);
        return { id: ctx.params.id, deleted: true };
      },
      /** GET /api/v1/customers: id order, paged by cursor (`after` = last id of the page). */
      async list(ctx: Context<Record<string, unknown>>) {
        const q = ctx.params;
        const limit = parseLimit(q.limit, { default: 50, max: 500 });
        const details: ValidationDetail[] = [];
        const known = new Set(["q", "after", "limit"]);
        for (const key of Object.keys(q))
          if (!known.has(key) && !key.startsWith("attributes."))
            details.push({
              path: `/query/${key}`,
              message: "is not a known parameter (q, after, limit, attributes.<name>)",
            });
        // The search becomes a regex, whose pattern BSON cannot carry with a NUL in it.
        if (typeof q.q === "string" && [...q.q].some((c) => c.charCodeAt(0) < 0x20))
          details.push({ path: "/query/q", message: "must be text without control characters" });
        const filters = attributeFilters(q, await store.declarations());
        if ("details" in filters) details.push(...filters.details);
        if (details.length) throw new ValidationError("Invalid query parameters", details);
        const text = typeof q.q === "string" && q.q.trim() ? q.q.trim() : undefined;
        const phone = text ? normalizeCustomerPhone(text, "", undefined, zones)?.number : undefined;
        const page = await store.list(
          {
            ...(text ? { q: text } : {}),
            attributes: "filters" in filters ? filters.filters : {},
            ...(typeof q.after === "string" && q.after ? { after: q.after } : {}),
            limit: limit + 1,
          },
          phone,
        );
        const more = page.length > limit;
        const shown = more ? page.slice(0, limit) : page;
        return { customers: shown.map(customerView), next: more ? shown.at(-1)!._id : null };
      },
      async putAttribute(ctx: Context<Record<string, unknown> & { name: string }, HttpMeta>) {
        const { name, ...body } = ctx.params;
        const out = parseDeclaration(name, body);
        if ("details" in out) throw new ValidationError("Invalid attribute declaration", out.details);
        try {
          const { doc, created } = await store.putDeclaration(out.declaration, new Date());
          ctx.meta.$statusCode = created ? 201 : 200;
          if (created) ctx.meta.$location = `/api/v1/attributes/${name}`;
          return attributeView(doc);
        } catch (err) {
          if (isDuplicateKey(err))
            throw new ConflictError(`customers already share values of ${name}: it cannot be unique`);
          throw err;
        }
      },
      async getAttribute(ctx: Context<{ name: string }>) {
        const doc = await store.getDeclaration(ctx.params.name);
        if (!doc) throw new NotFoundError(`attribute ${ctx.params.name}`);
        return attributeView(doc);
      },
      async listAttributes() {
        const docs = await store.declarations();
        return { attributes: docs };
      },
    },
  };
}

/** The service as startHub and moleculer-runner create it, with the node's runtime from its broker. */
export default class CustomersService extends Service {
  constructor(broker: ServiceBroker) {
    super(broker);
    this.parseServiceSchema(customersService(runtimeOf(broker)));
  }
}
