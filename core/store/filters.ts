/**
 * Saved customer filters (`customer_filters`) and their live evaluation over `customers`. A
 * filter is stored as written (relative dates unresolved) and compiled at each preview, so a
 * customer written after the filter was saved matches at once.
 */
import type { Collection, Document } from "mongodb";
import type { Connection } from "mongoose";
import type { FilterDefinition } from "../audience/filters.ts";
import type { CustomerDoc } from "./customers.ts";

export interface FilterDoc extends FilterDefinition {
  _id: string;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * Indexes on customer facts that filters commonly use (email and phones.number the customer
 * store already has). Attributes are free-form: those declared `indexed` or `unique` have one.
 */
export const FILTER_INDEXES: { name: string; key: Record<string, 1> }[] = [
  { name: "created_at", key: { createdAt: 1 } },
  { name: "updated_at", key: { updatedAt: 1 } },
  { name: "last_name", key: { lastName: 1 } },
  { name: "timezone", key: { timezone: 1 } },
];

export class FilterStore {
  private readonly filters: Collection<FilterDoc>;
  private readonly customers: Collection<CustomerDoc>;
  private readonly conn: Connection;

  constructor(conn: Connection) {
    this.conn = conn;
    this.filters = conn.collection<FilterDoc>("customer_filters");
    this.customers = conn.collection<CustomerDoc>("customers");
  }

  async ensureIndexes(): Promise<void> {
    for (const { name, key } of FILTER_INDEXES) await this.customers.createIndex(key, { name });
  }

  get(id: string): Promise<FilterDoc | null> {
    return this.filters.findOne({ _id: id });
  }

  /** Creates or replaces a filter; keeps its creation date. */
  async put(id: string, filter: FilterDefinition, now: Date): Promise<{ doc: FilterDoc; created: boolean }> {
    const before = await this.filters.findOne({ _id: id }, { projection: { createdAt: 1 } });
    const doc: FilterDoc = { _id: id, ...filter, createdAt: before?.createdAt ?? now, updatedAt: now };
    const res = await this.filters.replaceOne({ _id: id }, doc, { upsert: true });
    return { doc, created: res.upsertedCount === 1 };
  }

  async remove(id: string): Promise<boolean> {
    return (await this.filters.deleteOne({ _id: id })).deletedCount === 1;
  }

  list(after: string | undefined, limit: number): Promise<FilterDoc[]> {
    return this.filters
      .find(after ? { _id: { $gt: after } } : {})
      .sort({ _id: 1 })
      .limit(limit)
      .toArray();
  }

  /**
   * How many customers the compiled query matches now, and `limit` of them (sorted by id). The
   * count is the `count` command, not `countDocuments` (an aggregation): both stores answer it
   * from an index, FerretDB with 04-sqlite-field-pushdown.patch in SQL. The sample is not the
   * first `limit` by id: sorting every match to take the first ones costs what the filter
   * matches on FerretDB, which sorts in memory.
   */
  async preview(query: Document, limit: number, maxTimeMS: number): Promise<{ count: number; sample: CustomerDoc[] }> {
    const [counted, sample] = await Promise.all([
      this.conn.db!.command({ count: this.customers.collectionName, query, maxTimeMS }),
      this.customers.find(query, { maxTimeMS }).limit(limit).toArray(),
    ]);
    sample.sort((a, b) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0));
    return { count: (counted as { n: number }).n, sample };
  }
}
