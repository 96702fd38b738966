/** The suppression list: normalised addresses never to be contacted, with why and since when. */
import { normalizeAddress } from "@dialmesh/sdk";
import type { Models, SuppressionDoc } from "./models.ts";
import { Batcher } from "./batcher.ts";

export class SuppressionStore {
  private readonly models: Models;
  /** The check before every attempt: concurrent lookups as one `$in` query. */
  private readonly lookups: Batcher<string, SuppressionDoc | null>;
  constructor(models: Models) {
    this.models = models;
    this.lookups = new Batcher(async (ids) => {
      const found = await this.models.Suppression.find({ _id: { $in: [...new Set(ids)] } }).lean<SuppressionDoc[]>();
      const byId = new Map(found.map((d) => [d._id, d]));
      return ids.map((id) => byId.get(id) ?? null);
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
    const res = await this.models.Suppression.deleteOne({ _id: id });
    return res.deletedCount === 1;
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
