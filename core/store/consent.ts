/**
 * Consent records and objections (`consents`): insert-only, each record a new document, so the
 * history is what was recorded and when; the latest consent per (channel, purpose) counts and
 * an objection is never removed (core/compliance/consent.ts decides). The checks before
 * attempts made at about the same time read all their customers' records in one
 * `customerId: {$in}` query. Only what FerretDB 1.24 and MongoDB both do.
 */
import type { Collection } from "mongodb";
import type { Connection } from "mongoose";
import type { CustomerConsentRecord } from "../compliance/consent.ts";
import { newId } from "../domain/ids.ts";
import { Batcher } from "./batcher.ts";
import type { KeyedHash } from "../privacy/keyed-hash.ts";

export type ConsentDoc = CustomerConsentRecord & { _id: string; customerId: string };

export class ConsentStore {
  readonly records: Collection<ConsentDoc>;
  /** Concurrent checks' lookups, as one query: each customer's records, oldest first. */
  private readonly lookups: Batcher<string, ConsentDoc[]>;

  /**
   * `hash`: an erased customer's objection is kept under the keyed hash of their id
   * (core/store/privacy.ts); the check reads it too, so a customer id that comes back is still
   * not sent marketing.
   */
  constructor(conn: Connection, hash?: KeyedHash) {
    this.records = conn.collection<ConsentDoc>("consents");
    this.lookups = new Batcher(async (ids) => {
      const byCustomer = await this.forCustomers(hash ? [...ids, ...ids.map(hash)] : ids);
      return ids.map((id) => [...(byCustomer.get(id) ?? []), ...(hash ? (byCustomer.get(hash(id)) ?? []) : [])]);
    });
  }

  async ensureIndexes(): Promise<void> {
    await this.records.createIndex({ customerId: 1, at: 1 }, { name: "customer_at" });
  }

  async add(customerId: string, record: CustomerConsentRecord): Promise<ConsentDoc> {
    const doc = { ...record, _id: newId("cns"), customerId } as ConsentDoc;
    await this.records.insertOne(doc);
    return doc;
  }

  /** Each customer's records, oldest first (ties of `at` by `_id`, which is time-sortable to the millisecond). */
  async forCustomers(ids: readonly string[]): Promise<Map<string, ConsentDoc[]>> {
    const out = new Map<string, ConsentDoc[]>();
    if (ids.length === 0) return out;
    const docs = await this.records
      .find({ customerId: { $in: [...new Set(ids)] } })
      .sort({ at: 1, _id: 1 })
      .toArray();
    for (const d of docs) {
      const list = out.get(d.customerId);
      if (list) list.push(d);
      else out.set(d.customerId, [d]);
    }
    return out;
  }

  /** One customer's records for the check before an attempt, batched with concurrent checks. */
  lookup(customerId: string): Promise<ConsentDoc[]> {
    return this.lookups.call(customerId);
  }
}
