/**
 * Customers and their declared attributes. Only what FerretDB 1.24 and MongoDB both do: `_id`
 * lookups, unique indexes, `$set`/`$setOnInsert` by path, unordered bulk writes, `$in`.
 * A customer written by an import keeps the job and line that last wrote it, which is how a
 * later row of the same file is known as a duplicate and how a resumed job knows what landed.
 */
import type { AnyBulkWriteOperation, Collection, Document } from "mongodb";
import type { Connection } from "mongoose";
import type { AttributeDeclaration } from "../audience/attributes.ts";
import type { CustomerFields } from "../audience/customer.ts";
import type { CustomerPhone } from "../audience/contact-points.ts";
import type { StoredContact } from "../domain/activity-input.ts";
import { escapeRegex } from "../audience/filters.ts";
import type { ExistingCustomer, MappedRow } from "../audience/csv-mapping.ts";
import { isDuplicateKey } from "./write-errors.ts";
import { refreshPlannerStatistics } from "./connection.ts";

export interface CustomerDoc {
  _id: string;
  firstName?: string;
  lastName?: string;
  email?: string;
  phones?: CustomerPhone[];
  timezone?: string;
  attributes?: Record<string, unknown>;
  importJobId?: string;
  importLine?: number;
  createdAt: Date;
  updatedAt: Date;
}

/** The name of the index on a declared attribute, if it has one. */
function attributeIndexName(d: Pick<AttributeDeclaration, "name" | "unique" | "indexed">): string | undefined {
  if (d.unique) return `attr_${d.name}_unique`;
  return d.indexed ? `attr_${d.name}` : undefined;
}

export interface AttributeDoc extends AttributeDeclaration {
  _id: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface CustomerQuery {
  q?: string;
  /** Equality on `attributes.<name>`, values already typed. */
  attributes?: Record<string, unknown>;
  after?: string;
  limit: number;
}

interface WriteErrorLike {
  index?: number;
  code?: number;
  errmsg?: string;
  err?: { code?: number; index?: number; errmsg?: string };
}

/** The write errors of a failed bulk write, or undefined when it failed otherwise. */
export function bulkWriteErrors(err: unknown): { index: number; code: number; message: string }[] | undefined {
  const list = (err as { writeErrors?: WriteErrorLike[] | WriteErrorLike }).writeErrors;
  if (!list) return undefined;
  return (Array.isArray(list) ? list : [list]).map((we) => ({
    index: we.index ?? we.err?.index ?? -1,
    code: we.code ?? we.err?.code ?? 0,
    message: we.errmsg ?? we.err?.errmsg ?? "",
  }));
}

/** The document an import row creates (`set` paths like `attributes.x` nested). */
function importDoc(row: MappedRow, jobId: string, now: Date): CustomerDoc {
  const doc: Record<string, unknown> = { _id: row.id };
  for (const [key, value] of Object.entries(row.set)) {
    if (key.startsWith("attributes.")) ((doc.attributes ??= {}) as Record<string, unknown>)[key.slice(11)] = value;
    else doc[key] = value;
  }
  return {
    ...(doc as unknown as CustomerDoc),
    importJobId: jobId,
    importLine: row.line,
    createdAt: now,
    updatedAt: now,
  };
}

export class CustomerStore {
  readonly customers: Collection<CustomerDoc>;
  private readonly attributes: Collection<AttributeDoc>;
  /** The connection, for the stores an import also reads (its DNC lists). */
  readonly conn: Connection;

  constructor(conn: Connection) {
    this.conn = conn;
    this.customers = conn.collection<CustomerDoc>("customers");
    this.attributes = conn.collection<AttributeDoc>("customer_attributes");
  }

  /** What intake fills in from stored customers (first phone, email, name, zone), by id. */
  async contactsOf(ids: readonly string[]): Promise<Map<string, StoredContact>> {
    const found = new Map<string, StoredContact>();
    for (let i = 0; i < ids.length; i += 1000) {
      const docs = await this.customers
        .find(
          { _id: { $in: ids.slice(i, i + 1000) } },
          { projection: { email: 1, phones: 1, firstName: 1, lastName: 1, timezone: 1 } },
        )
        .toArray();
      for (const d of docs) {
        const phone = d.phones?.[0]?.number;
        found.set(d._id, {
          ...(d.email ? { email: d.email } : {}),
          ...(phone ? { phone } : {}),
          ...(d.firstName ? { firstName: d.firstName } : {}),
          ...(d.lastName ? { lastName: d.lastName } : {}),
          ...(d.timezone ? { timezone: d.timezone } : {}),
        });
      }
    }
    return found;
  }

  /** Indexes for search; one per attribute declared unique (a unique one) or indexed. */
  async ensureIndexes(): Promise<void> {
    await this.customers.createIndex({ email: 1 }, { name: "email" });
    await this.customers.createIndex({ "phones.number": 1 }, { name: "phones_number" });
    await this.customers.createIndex({ importJobId: 1, importLine: 1 }, { name: "import_line" });
    for (const d of await this.declarations()) await this.attributeIndex(d);
  }

  /** After an import or an index change: the planner's statistics (see refreshPlannerStatistics). */
  refreshPlannerStatistics(): Promise<void> {
    return refreshPlannerStatistics(this.conn, this.customers.collectionName);
  }

  /** The index a declaration asks for: unique (which filters use too), plain when `indexed`. */
  private async attributeIndex(d: AttributeDeclaration): Promise<void> {
    if (d.unique) await this.uniqueIndex(d.name);
    else if (d.indexed)
      await this.customers.createIndex({ [`attributes.${d.name}`]: 1 }, { name: attributeIndexName(d) });
  }

  private async uniqueIndex(name: string): Promise<void> {
    // sparse: customers without the attribute do not collide with each other.
    await this.customers.createIndex(
      { [`attributes.${name}`]: 1 },
      { name: attributeIndexName({ name, unique: true }), unique: true, sparse: true },
    );
  }

  async declarations(): Promise<AttributeDeclaration[]> {
    const docs = await this.attributes.find({}).sort({ _id: 1 }).toArray();
    return docs.map(({ name, type, values, required, unique, indexed }) => ({
      name,
      type,
      ...(values ? { values } : {}),
      required: required === true,
      unique: unique === true,
      indexed: indexed === true,
    }));
  }

  getDeclaration(name: string): Promise<AttributeDoc | null> {
    return this.attributes.findOne({ _id: name });
  }

  /**
   * Stores a declaration, its index first: a declaration the data breaks (a unique index it
   * refuses) is not stored, and the index it had is put back. One key has one index in both
   * stores, so a change of kind drops the old index before making the new one.
   */
  async putDeclaration(d: AttributeDeclaration, now: Date): Promise<{ doc: AttributeDoc; created: boolean }> {
    const before = await this.attributes.findOne({ _id: d.name });
    const old = before ? attributeIndexName(before) : undefined;
    if (old && old !== attributeIndexName(d)) await this.customers.dropIndex(old).catch(() => undefined);
    try {
      await this.attributeIndex(d);
    } catch (err) {
      if (before) await this.attributeIndex(before).catch(() => undefined);
      throw err;
    }
    const doc: AttributeDoc = { _id: d.name, ...d, createdAt: before?.createdAt ?? now, updatedAt: now };
    await this.attributes.replaceOne({ _id: d.name }, doc, { upsert: true });
    // An optimisation: the declaration stands whether or not the statistics could be refreshed.
    if (attributeIndexName(d) !== old) await this.refreshPlannerStatistics().catch(() => undefined);
    return { doc, created: !before };
  }

  get(id: string): Promise<CustomerDoc | null> {
    return this.customers.findOne({ _id: id });
  }

  /** Creates or replaces a customer (the API's PUT); keeps its creation date. */
  async put(
    id: string,
    fields: CustomerFields,
    now: Date,
  ): Promise<{ doc: CustomerDoc; created: boolean } | { clash: string }> {
    for (let round = 0; round < 2; round++) {
      const before = await this.customers.findOne({ _id: id }, { projection: { createdAt: 1 } });
      const doc: CustomerDoc = { _id: id, ...fields, createdAt: before?.createdAt ?? now, updatedAt: now };
      try {
        if (before) {
          if ((await this.customers.replaceOne({ _id: id }, doc)).matchedCount === 1) return { doc, created: false };
        } else {
          await this.customers.insertOne(doc);
          return { doc, created: true };
        }
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        // FerretDB's duplicate-key message names no index: find the unique attribute that clashes.
        const clash = await this.uniqueClash(id, fields.attributes);
        if (clash) return { clash };
      }
      // Created or deleted by another request in between: look again.
    }
    throw new Error(`customer ${id} kept changing under this write`);
  }

  /** The unique attribute of `attributes` another customer already has, if any. */
  async uniqueClash(id: string, attributes: Record<string, unknown> | undefined): Promise<string | undefined> {
    for (const d of await this.declarations()) {
      const v = attributes?.[d.name];
      if (!d.unique || v === undefined) continue;
      const other = await this.customers.findOne(
        { [`attributes.${d.name}`]: v, _id: { $ne: id } },
        { projection: { _id: 1 } },
      );
      if (other) return d.name;
    }
    return undefined;
  }

  async remove(id: string): Promise<boolean> {
    return (await this.customers.deleteOne({ _id: id })).deletedCount === 1;
  }

  /** One page in id order after the cursor: `q` matches a name or email prefix, or a phone. */
  list(query: CustomerQuery, phone?: string): Promise<CustomerDoc[]> {
    const filter: Document = {};
    if (query.q) {
      const prefix = new RegExp(`^${escapeRegex(query.q)}`, "i");
      filter.$or = [
        { firstName: prefix },
        { lastName: prefix },
        { email: new RegExp(`^${escapeRegex(query.q.toLowerCase())}`) },
        ...(phone ? [{ "phones.number": phone }] : []),
      ];
    }
    for (const [name, value] of Object.entries(query.attributes ?? {})) filter[`attributes.${name}`] = value;
    if (query.after) filter._id = { $gt: query.after };
    return this.customers.find(filter).sort({ _id: 1 }).limit(query.limit).toArray();
  }

  /** Which of `ids` exist, with the import job and line that last wrote each. */
  async existing(ids: string[]): Promise<Map<string, ExistingCustomer>> {
    const docs = await this.customers
      .find({ _id: { $in: ids } }, { projection: { importJobId: 1, importLine: 1 } })
      .toArray();
    return new Map(
      docs.map((d) => [
        d._id,
        {
          ...(d.importJobId ? { importJobId: d.importJobId } : {}),
          ...(d.importLine ? { importLine: d.importLine } : {}),
        },
      ]),
    );
  }

  /**
   * Writes the rows of an import batch. Rows whose customer did not exist go in one unordered
   * insertMany (the store's fastest write); those that lost an insert race to another node, and
   * rows of existing customers, are unordered upserts by their deterministic `_id`. Returns what
   * landed and the rows a unique attribute refused.
   */
  async writeImportRows(
    writes: { row: MappedRow; exists: boolean }[],
    jobId: string,
    now: Date,
  ): Promise<{ inserted: number; updated: number; refused: { row: MappedRow; reason: string }[] }> {
    const fresh = writes.filter((w) => !w.exists).map((w) => w.row);
    let upserts = writes.filter((w) => w.exists).map((w) => w.row);
    let inserted = 0;
    if (fresh.length) {
      const docs = fresh.map((row) => importDoc(row, jobId, now));
      try {
        inserted += (await this.customers.insertMany(docs, { ordered: false })).insertedCount;
      } catch (err) {
        const errors = bulkWriteErrors(err);
        if (!errors || errors.some((e) => e.code !== 11000)) throw err;
        inserted += fresh.length - errors.length;
        upserts = [...upserts, ...errors.map((e) => fresh[e.index]!)];
      }
    }
    const out = await this.upsertImportRows(upserts, jobId, now);
    return { ...out, inserted: inserted + out.inserted };
  }

  private async upsertImportRows(
    rows: MappedRow[],
    jobId: string,
    now: Date,
  ): Promise<{ inserted: number; updated: number; refused: { row: MappedRow; reason: string }[] }> {
    let pending = rows;
    let inserted = 0;
    let updated = 0;
    const refused: { row: MappedRow; reason: string }[] = [];
    for (let round = 0; round < 2 && pending.length > 0; round++) {
      const ops: AnyBulkWriteOperation<CustomerDoc>[] = pending.map((row) => ({
        updateOne: {
          filter: { _id: row.id },
          update: {
            $set: { ...row.set, importJobId: jobId, importLine: row.line, updatedAt: now },
            $setOnInsert: { createdAt: now },
          },
          upsert: true,
        },
      }));
      try {
        const res = await this.customers.bulkWrite(ops, { ordered: false });
        inserted += res.upsertedCount;
        updated += res.matchedCount;
        pending = [];
      } catch (err) {
        const errors = bulkWriteErrors(err);
        if (!errors) throw err;
        const result = (err as { result?: { upsertedCount?: number; matchedCount?: number } }).result;
        inserted += result?.upsertedCount ?? 0;
        updated += result?.matchedCount ?? 0;
        const retry: MappedRow[] = [];
        for (const e of errors) {
          const row = pending[e.index];
          if (!row || e.code !== 11000) throw err;
          retry.push(row);
        }
        // A first duplicate key is an insert race lost to another node (the retry updates);
        // a second one is a unique attribute another customer has.
        if (round === 1)
          for (const row of retry) {
            const attrs = Object.fromEntries(
              Object.entries(row.set)
                .filter(([k]) => k.startsWith("attributes."))
                .map(([k, v]) => [k.slice(11), v]),
            );
            const clash = await this.uniqueClash(row.id, attrs);
            refused.push({
              row,
              reason: clash
                ? `attributes.${clash} is unique and another customer has this value`
                : "refused by a unique index",
            });
          }
        pending = round === 1 ? [] : retry;
      }
    }
    return { inserted, updated, refused };
  }

  /** Lines of `jobId` after `line` that reached the store (what an interrupted job landed). */
  async linesLandedAfter(jobId: string, line: number): Promise<number[]> {
    const docs = await this.customers
      .find({ importJobId: jobId, importLine: { $gt: line } }, { projection: { importLine: 1 } })
      .toArray();
    return docs.map((d) => d.importLine!).sort((a, b) => a - b);
  }
}
