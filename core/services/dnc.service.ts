/**
 * `dnc`: DNC lists and their entries (/api/v1/dnc-lists). A change is broadcast as
 * `dnc.lists.changed` so every node drops its cached state of the list (core/store/dnc.ts).
 */
import type { Readable } from "node:stream";
import { type Context, type ServiceSchema, Service, type ServiceBroker } from "moleculer";
import { CsvFormatError } from "../audience/csv-source.ts";
import { checkWhere, compileFilter, parseFilter, type FilterNode } from "../audience/filters.ts";
import {
  DEFAULT_DNC_MAX_AGE_DAYS,
  isStale,
  listAgeDays,
  listedAddresses,
  listingKeys,
  parseDncEntries,
  parseDncEntry,
  staleWarning,
  type DncEntry,
} from "../compliance/dnc.ts";
import { parseDncCsvOptions, scanDncCsv, type DncCsvOptions } from "../compliance/dnc-csv.ts";
import { CustomerStore, type CustomerDoc } from "../store/customers.ts";
import type { DncListDoc } from "../store/dnc.ts";
import { FilterStore } from "../store/filters.ts";
import { customerView } from "./customers.service.ts";
import type { ValidationDetail } from "../validation/json-schema.ts";
import { ConflictError, NotFoundError, ValidationError, type HttpMeta, type UploadMeta } from "./errors.ts";
import { ImportSpool, unreadableCsv, type SpooledUpload } from "./import-spool.ts";
import { parseLimit } from "./query.ts";
import { runtimeOf, type HubRuntime } from "./runtime.ts";

/** Ids go into entry keys as `<list>:<entry>`: no `:`. */
const LIST_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

function checkId(id: string): void {
  if (!LIST_ID.test(id))
    throw new ValidationError("Invalid DNC list id", [
      { path: "/id", message: "must be 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit" },
    ]);
}

export function dncListView(d: DncListDoc, entries: number, now: Date) {
  const stale = isStale(d, now, DEFAULT_DNC_MAX_AGE_DAYS);
  return {
    id: d._id,
    name: d.name,
    source: d.source,
    lastRefreshedAt: d.lastRefreshedAt,
    ageDays: listAgeDays(d, now),
    stale,
    ...(stale
      ? { warning: staleWarning({ id: d._id, lastRefreshedAt: d.lastRefreshedAt }, DEFAULT_DNC_MAX_AGE_DAYS) }
      : {}),
    entries,
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
  };
}

function parseListBody(body: Record<string, unknown>): { name: string; source: string } {
  const details: ValidationDetail[] = [];
  for (const key of Object.keys(body))
    if (key !== "name" && key !== "source")
      details.push({ path: `/${key}`, message: "is not a field of a DNC list (name, source)" });
  const { name, source } = body;
  if (typeof name !== "string" || !name.trim())
    details.push({ path: "/name", message: "is required: a non-empty string" });
  if (source !== undefined && (typeof source !== "string" || !source.trim()))
    details.push({
      path: "/source",
      message: 'must be a non-empty string (where the list comes from, e.g. "FTC national registry")',
    });
  if (details.length) throw new ValidationError("Invalid DNC list", details);
  return { name: (name as string).trim(), source: typeof source === "string" ? source.trim() : "api" };
}

/** The addresses of a customer a DNC list can hold: its phones and its email. */
const addressesOf = (c: Pick<CustomerDoc, "phones" | "email">): string[] => [
  ...(c.phones ?? []).map((p) => p.number),
  ...(c.email ? [c.email] : []),
];

/** Lists up to this many entries are read into memory for a scrub; larger ones are looked up. */
const SCRUB_IN_MEMORY_ENTRIES = 500_000;
/** A CSV load's 400 lists its first bad lines (its message counts them all). */
const LISTED_BAD_LINES = 100;
/** Entries a CSV load inserts at once (one unordered insert; the next batch is read meanwhile). */
const CSV_BATCH = 1_000;

export function dncService(runtime: HubRuntime): ServiceSchema {
  const store = runtime.dnc;
  const customers = new CustomerStore(runtime.store.conn);
  const filters = new FilterStore(runtime.store.conn);

  /** The `where` of a scrub: a saved filter's (checked as a preview checks it) or an inline one. */
  async function scrubWhere(params: Record<string, unknown>): Promise<FilterNode> {
    const details: ValidationDetail[] = [];
    for (const key of Object.keys(params))
      if (!["id", "filter", "where", "limit"].includes(key))
        details.push({ path: `/${key}`, message: "is not a field of a scrub (filter or where)" });
    const { filter, where } = params;
    if ((filter === undefined) === (where === undefined))
      details.push({ path: "", message: 'give either "filter" (a saved filter id) or "where" (a filter condition)' });
    else if (filter !== undefined && typeof filter !== "string")
      details.push({ path: "/filter", message: "must be the id of a saved filter" });
    if (details.length) throw new ValidationError("Invalid scrub", details);
    const declarations = await customers.declarations();
    if (typeof filter === "string") {
      const doc = await filters.get(filter);
      if (!doc)
        throw new ValidationError("Invalid scrub", [{ path: "/filter", message: `no filter "${filter}" is saved` }]);
      const stale = checkWhere(doc.where, declarations);
      if (stale.length)
        throw new ConflictError(`filter ${doc._id} no longer fits the declared attributes: PUT it again`, stale);
      return doc.where;
    }
    const parsed = parseFilter("scrub", { where }, declarations);
    if ("details" in parsed) throw new ValidationError("Invalid scrub", parsed.details);
    return parsed.filter.where;
  }
  const changed = (ctx: Context, id: string) => ctx.broadcast("dnc.lists.changed", { id });
  /** CSV uploads, spooled to the data dir: the file is read twice and never held in memory. */
  const spool = new ImportSpool(runtime.config.dataDir, runtime.nodeId, "dnc-uploads");

  async function* cellsOf(spooled: SpooledUpload, options: DncCsvOptions) {
    try {
      yield* scanDncCsv(spooled.open(), options);
    } catch (err) {
      throw err instanceof CsvFormatError ? unreadableCsv(err, "loaded") : err;
    }
  }

  /**
   * A CSV load (text/csv body): all or nothing, so a first pass over the spooled file checks
   * every line and a second one writes, CSV_BATCH entries an insert.
   */
  async function loadCsv(ctx: Context<Record<string, unknown> & { id: string }, UploadMeta>) {
    const { id, ...query } = ctx.params;
    const stream = ctx.stream as Readable | null;
    const refuse = (e: unknown): never => {
      stream?.resume();
      throw e;
    };
    if (!stream) throw new ValidationError("No upload", [{ path: "/file", message: "send the CSV as the body" }]);
    await existing(id).catch(refuse);
    const parsed = parseDncCsvOptions(query);
    if ("details" in parsed) return refuse(new ValidationError("Invalid CSV load", parsed.details));
    const { options } = parsed;
    const spooled = await spool.write(stream, ctx.meta.upload?.contentLength);
    try {
      let bad = 0;
      let entries = 0;
      let blank = 0;
      const details: ValidationDetail[] = [];
      for await (const cell of cellsOf(spooled, options)) {
        if ("entry" in cell) entries++;
        else if ("blank" in cell) blank++;
        else if (++bad <= LISTED_BAD_LINES) details.push({ path: `/file/line/${cell.line}`, message: cell.error });
      }
      if (bad)
        throw new ValidationError(
          `${bad} bad line${bad === 1 ? "" : "s"}; nothing was stored${bad > LISTED_BAD_LINES ? ` (the first ${LISTED_BAD_LINES} are listed)` : ""}`,
          details,
        );
      if (entries === 0)
        throw new ValidationError("The CSV has no entries", [
          { path: "/file", message: "has no entries: a number, an email or a prefix a line (or in the ?column=)" },
        ]);

      let added = 0;
      let failure: unknown;
      let pending: Promise<void> = Promise.resolve();
      let batch: DncEntry[] = [];
      const flush = async () => {
        await pending;
        if (failure !== undefined) throw failure;
        const entriesOfBatch = batch;
        batch = [];
        // Handled at once: a failed insert surfaces at the next flush, never as an unhandled rejection.
        pending = store.insertEntries(id, entriesOfBatch).then(
          (n) => void (added += n),
          (err: unknown) => void (failure = err),
        );
      };
      for await (const cell of cellsOf(spooled, options))
        if ("entry" in cell && batch.push(cell.entry) === CSV_BATCH) await flush();
      await flush();
      await pending;
      if (failure !== undefined) throw failure;
      const now = new Date();
      await store.markRefreshed(id, now);
      changed(ctx, id);
      return { id, added, existing: entries - added, blank, lastRefreshedAt: now };
    } finally {
      await spooled.remove();
    }
  }

  async function existing(id: string): Promise<DncListDoc> {
    const doc = await store.getList(id);
    if (!doc) throw new NotFoundError(`DNC list ${id}`);
    return doc;
  }

  /** A JSON load: `{"entries": [...]}`. */
  async function addJson(ctx: Context<{ id: string; entries?: unknown }>) {
    await existing(ctx.params.id);
    const parsed = parseDncEntries(ctx.params.entries);
    if ("details" in parsed)
      throw new ValidationError(
        `${parsed.details.length} bad entr${parsed.details.length === 1 ? "y" : "ies"}; nothing was stored`,
        parsed.details.slice(0, 1000),
      );
    const now = new Date();
    const result = await store.addEntries(ctx.params.id, parsed.entries, now);
    changed(ctx, ctx.params.id);
    return { id: ctx.params.id, ...result, lastRefreshedAt: now };
  }

  return {
    name: "dnc",
    async started() {
      await spool.clearLeftovers();
      await store.ensureIndexes();
    },
    actions: {
      async put(ctx: Context<Record<string, unknown> & { id: string }, HttpMeta>) {
        const { id, ...body } = ctx.params;
        checkId(id);
        const now = new Date();
        const { doc, created } = await store.putList(id, parseListBody(body), now);
        changed(ctx, id);
        ctx.meta.$statusCode = created ? 201 : 200;
        if (created) ctx.meta.$location = `/api/v1/dnc-lists/${id}`;
        return dncListView(doc, await store.entryCount(id), now);
      },
      async get(ctx: Context<{ id: string }>) {
        const doc = await existing(ctx.params.id);
        return dncListView(doc, await store.entryCount(doc._id), new Date());
      },
      async list() {
        const now = new Date();
        const docs = await store.allLists();
        const counts = await Promise.all(docs.map((d) => store.entryCount(d._id)));
        return { dncLists: docs.map((d, i) => dncListView(d, counts[i]!, now)) };
      },
      async remove(ctx: Context<{ id: string }>) {
        if (!(await store.removeList(ctx.params.id))) throw new NotFoundError(`DNC list ${ctx.params.id}`);
        changed(ctx, ctx.params.id);
        return { id: ctx.params.id, deleted: true };
      },
      /**
       * POST entries, JSON or a CSV (the body streamed, see the gateway's dnc-lists route): all
       * or nothing; a load of the list, so it is marked refreshed.
       */
      addEntries: {
        async handler(ctx: Context<Record<string, unknown> & { id: string; entries?: unknown }, UploadMeta>) {
          if (ctx.meta.upload) return loadCsv(ctx);
          return addJson(ctx);
        },
      },
      /**
       * POST scrub: the customers of a filter with a phone or email on the list (what a scrub
       * would remove), counted, and the first `limit` by id with their listed addresses.
       */
      async scrub(ctx: Context<Record<string, unknown> & { id: string }>) {
        const doc = await existing(ctx.params.id);
        const limit = parseLimit(ctx.params.limit, { default: 10, max: 100 });
        const now = new Date();
        const query = compileFilter(await scrubWhere(ctx.params), await customers.declarations(), now);
        const [list] = await store.currentStates([doc._id]);
        if (!list) throw new NotFoundError(`DNC list ${doc._id}`);
        const inMemory = await store.exactKeysOf(doc._id, SCRUB_IN_MEMORY_ENTRIES);
        let count = 0;
        const sample: { customer: ReturnType<typeof customerView>; addresses: string[] }[] = [];
        const scrubBatch = async (batch: CustomerDoc[]) => {
          const keys = listingKeys([list], batch.flatMap(addressesOf));
          const exact = inMemory ?? (await store.existingKeys(keys));
          for (const c of batch) {
            const listed = listedAddresses(list, addressesOf(c), exact);
            if (listed.length === 0) continue;
            count++;
            if (sample.length < limit) sample.push({ customer: customerView(c), addresses: listed });
          }
        };
        let batch: CustomerDoc[] = [];
        for await (const c of customers.customers.find(query).sort({ _id: 1 }).batchSize(1000))
          if (batch.push(c) === 1000) {
            await scrubBatch(batch);
            batch = [];
          }
        await scrubBatch(batch);
        return { count, sample };
      },
      async entries(ctx: Context<{ id: string; limit?: string; after?: string }>) {
        await existing(ctx.params.id);
        const limit = parseLimit(ctx.params.limit, { default: 100, max: 1000 });
        const entries = await store.listEntries(ctx.params.id, limit + 1, ctx.params.after || undefined);
        const more = entries.length > limit;
        const shown = more ? entries.slice(0, limit) : entries;
        return { entries: shown, next: more ? shown.at(-1)! : null };
      },
      async removeEntry(ctx: Context<{ id: string; value: string }>) {
        const entry = parseDncEntry(ctx.params.value);
        if ("error" in entry)
          throw new ValidationError("Invalid DNC entry", [{ path: "/value", message: entry.error }]);
        if (!(await store.removeEntry(ctx.params.id, entry)))
          throw new NotFoundError(`entry ${ctx.params.value} of DNC list ${ctx.params.id}`);
        changed(ctx, ctx.params.id);
        return { id: ctx.params.id, removed: ctx.params.value };
      },
    },
    events: {
      // A list changed here or on another node: the next check reads its state again.
      "dnc.lists.changed"(ctx: Context<{ id?: string }>) {
        store.invalidate(ctx.params.id);
      },
    },
  };
}

/** The service as startHub and moleculer-runner create it, with the node's runtime from its broker. */
export default class DncService extends Service {
  constructor(broker: ServiceBroker) {
    super(broker);
    this.parseServiceSchema(dncService(runtimeOf(broker)));
  }
}
