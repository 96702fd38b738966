/** The suppression list: normalised addresses never to be contacted, with why and since when. */
import { normalizeAddress } from "@dialmesh/sdk";
import type { Models, SuppressionDoc } from "./models.ts";

export class SuppressionStore {
  private readonly models: Models;
  constructor(models: Models) {
    this.models = models;
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
    return this.models.Suppression.findById(normalizeAddress(address) ?? address).lean<SuppressionDoc>();
  }

  list(limit: number, after?: string): Promise<SuppressionDoc[]> {
    return this.models.Suppression.find(after ? { _id: { $gt: after } } : {})
      .sort({ _id: 1 })
      .limit(limit)
      .lean<SuppressionDoc[]>();
  }
}
