/** The suppression list: normalised addresses never to be contacted, with why and since when. */
import { normalizeAddress } from "@dialmesh/sdk";
import type { Models, SuppressionDoc } from "./models.ts";
import { Batcher } from "./batcher.ts";
import type { KeyedHash } from "../privacy/keyed-hash.ts";
import type { Purpose } from "../compliance/consent.ts";

/** Whether an entry blocks an attempt for `purpose`: a purpose-limited one only blocks those. */
export function suppressionApplies(entry: SuppressionDoc, purpose: Purpose | undefined): boolean {
  return !entry.purposes || (purpose !== undefined && entry.purposes.includes(purpose));
}

export class SuppressionStore {
  private readonly models: Models;
  /** Erased customers' addresses are kept as their keyed hash (core/store/privacy.ts). */
  private readonly hash: KeyedHash | undefined;
  /** The check before every attempt: concurrent lookups, clear and hashed ids, as one `$in` query. */
  private readonly lookups: Batcher<string, SuppressionDoc | null>;
  constructor(models: Models, hash?: KeyedHash) {
    this.models = models;
    this.hash = hash;
    this.lookups = new Batcher(async (ids) => {
      const wanted = new Set(ids);
      if (hash) for (const id of ids) wanted.add(hash(id));
      const found = await this.models.Suppression.find({ _id: { $in: [...wanted] } }).lean<SuppressionDoc[]>();
      const byId = new Map(found.map((d) => [d._id, d]));
      return ids.map((id) => {
        const clear = byId.get(id);
        const hashed = hash ? byId.get(hash(id)) : undefined;
        // Both: the one that blocks every purpose.
        return (clear && !clear.purposes ? clear : hashed && !hashed.purposes ? hashed : (clear ?? hashed)) ?? null;
      });
    });
  }

  /** Adds an address; an existing entry keeps its original reason and date. */
  async add(address: string, reason: string, source: string, now: Date): Promise<SuppressionDoc> {
    const id = normalizeAddress(address);
    if (!id) throw new Error(`"${address}" is neither a phone number nor an email address`);
    const doc = await this.models.Suppression.findOneAndUpdate(
      { _id: id },
      { $setOnInsert: { reason, source, createdAt: now } },
      { upsert: true, returnDocument: "after" },
    ).lean<SuppressionDoc>();
    return doc!;
  }

  async remove(address: string): Promise<boolean> {
    const id = normalizeAddress(address) ?? address;
    const res = await this.models.Suppression.deleteMany({ _id: { $in: this.hash ? [id, this.hash(id)] : [id] } });
    return res.deletedCount > 0;
  }

  find(address: string): Promise<SuppressionDoc | null> {
    return this.lookups.call(normalizeAddress(address) ?? address);
  }

  list(limit: number, after?: string): Promise<SuppressionDoc[]> {
    return this.models.Suppression.find(after ? { _id: { $gt: after } } : {})
      .sort({ _id: 1 })
      .limit(limit)
      .lean<SuppressionDoc[]>();
  }
}
