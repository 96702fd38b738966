/** `filters`: saved customer filters (PUT/GET/DELETE, list) and their live preview. */
import { type Context, type ServiceSchema, Service, type ServiceBroker } from "moleculer";
import { checkWhere, compileFilter, parseFilter } from "../audience/filters.ts";
import { CustomerStore } from "../store/customers.ts";
import { FilterStore, type FilterDoc } from "../store/filters.ts";
import { customerView } from "./customers.service.ts";
import { ConflictError, NotFoundError, ValidationError, withQueryDeadline, type HttpMeta } from "./errors.ts";
import { parseLimit } from "./query.ts";
import { runtimeOf, type HubRuntime } from "./runtime.ts";

const filterView = (d: FilterDoc) => ({
  id: d._id,
  ...(d.name !== undefined ? { name: d.name } : {}),
  ...(d.description !== undefined ? { description: d.description } : {}),
  where: d.where,
  createdAt: d.createdAt,
  updatedAt: d.updatedAt,
});

export function filtersService(runtime: HubRuntime): ServiceSchema {
  const store = new FilterStore(runtime.store.conn);
  const customers = new CustomerStore(runtime.store.conn);
  const found = async (id: string) => {
    const doc = await store.get(id);
    if (!doc) throw new NotFoundError(`filter ${id}`);
    return doc;
  };
  return {
    name: "filters",
    async started() {
      await store.ensureIndexes();
    },
    actions: {
      async put(ctx: Context<Record<string, unknown> & { id: string }, HttpMeta>) {
        const { id, ...body } = ctx.params;
        const out = parseFilter(id, body, await customers.declarations());
        if ("details" in out) throw new ValidationError("Invalid filter", out.details);
        const { doc, created } = await store.put(id, out.filter, new Date());
        ctx.meta.$statusCode = created ? 201 : 200;
        if (created) ctx.meta.$location = `/api/v1/filters/${encodeURIComponent(id)}`;
        return filterView(doc);
      },
      async get(ctx: Context<{ id: string }>) {
        return filterView(await found(ctx.params.id));
      },
      async remove(ctx: Context<{ id: string }>) {
        if (!(await store.remove(ctx.params.id))) throw new NotFoundError(`filter ${ctx.params.id}`);
        return { id: ctx.params.id, deleted: true };
      },
      async list(ctx: Context<{ after?: string; limit?: string }>) {
        const limit = parseLimit(ctx.params.limit, { default: 50, max: 500 });
        const page = await store.list(ctx.params.after || undefined, limit + 1);
        const more = page.length > limit;
        const shown = more ? page.slice(0, limit) : page;
        return { filters: shown.map(filterView), next: more ? shown.at(-1)!._id : null };
      },
      /** Evaluated now against the customers as they are (and the declarations as they are). */
      async preview(ctx: Context<{ id: string; limit?: string }>) {
        const limit = parseLimit(ctx.params.limit, { default: 10, max: 100 });
        const doc = await found(ctx.params.id);
        const declarations = await customers.declarations();
        // An attribute re-declared (or its enum changed) since the filter was saved.
        const details = checkWhere(doc.where, declarations);
        if (details.length)
          throw new ConflictError(`filter ${doc._id} no longer fits the declared attributes: PUT it again`, details);
        const query = compileFilter(doc.where, declarations, new Date());
        const timeoutMs = runtime.config.api.previewTimeoutMs;
        const { count, sample } = await withQueryDeadline(
          store.preview(query, limit, timeoutMs),
          timeoutMs,
          () =>
            `the preview of filter ${doc._id} took longer than ${timeoutMs / 1000} s: its conditions are ` +
            "evaluated customer by customer; an equality on an attribute declared indexed is answered from " +
            "the index (docs/audience.md, Indexes)",
        );
        return { count, sample: sample.map(customerView) };
      },
    },
  };
}

/** The service as startHub and moleculer-runner create it, with the node's runtime from its broker. */
export default class FiltersService extends Service {
  constructor(broker: ServiceBroker) {
    super(broker);
    this.parseServiceSchema(filtersService(runtimeOf(broker)));
  }
}
