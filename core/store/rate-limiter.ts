/**
 * A send-rate limit shared by every hub node: fixed one-second windows counted with `$inc`
 * on one document per key and second. Windows are purged by a job, not a TTL index
 * (FerretDB has none).
 */
import type { RateLimiter } from "../sdk/plugin.ts";
import type { Models } from "./models.ts";

export class SharedRateLimiter implements RateLimiter {
  private readonly models: Models;
  private readonly now: () => number;
  constructor(models: Models, now: () => number = Date.now) {
    this.models = models;
    this.now = now;
  }

  async acquire(key: string, perSecond: number): Promise<void> {
    if (!(perSecond > 0)) return;
    for (;;) {
      const t = this.now();
      const second = Math.floor(t / 1000);
      const doc = await this.models.RateWindow.findOneAndUpdate(
        { _id: `${key}@${second}` },
        { $inc: { n: 1 }, $setOnInsert: { expiresAt: new Date((second + 60) * 1000) } },
        { upsert: true, returnDocument: "after" },
      ).lean();
      if (doc && doc.n <= perSecond) return;
      await new Promise((r) => setTimeout(r, (second + 1) * 1000 - t + 1));
    }
  }

  async purge(before: Date): Promise<number> {
    const res = await this.models.RateWindow.deleteMany({ expiresAt: { $lt: before } });
    return res.deletedCount;
  }
}
