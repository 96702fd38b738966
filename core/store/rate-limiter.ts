/**
 * A send-rate limit shared by every hub node. Each second has `perSecond` slots; a send
 * takes one by inserting `<key>@<second>#<slot>` (a unique insert is the one atomic write
 * FerretDB offers; a `$inc` counter would over-admit under concurrency). When every slot of
 * the second is taken, the caller waits for the next. Old slots are purged by a job, not a
 * TTL index (FerretDB has none).
 */
import type { RateLimiter } from "@dialmesh/sdk";
import type { Models } from "./models.ts";
import { isDuplicateKey } from "./write-errors.ts";

export class SharedRateLimiter implements RateLimiter {
  private readonly models: Models;
  private readonly now: () => number;
  /** Next slot to try per key and second: this node skips the slots it already saw taken. */
  private readonly hint = new Map<string, number>();

  constructor(models: Models, now: () => number = Date.now) {
    this.models = models;
    this.now = now;
  }

  async acquire(key: string, perSecond: number): Promise<void> {
    if (!(perSecond > 0)) return;
    const slots = Math.max(1, Math.floor(perSecond));
    for (;;) {
      const t = this.now();
      const second = Math.floor(t / 1000);
      const hintKey = `${key}@${second}`;
      for (let slot = this.hint.get(hintKey) ?? 0; slot < slots; slot++) {
        try {
          await this.models.RateWindow.collection.insertOne({
            _id: `${hintKey}#${slot}`,
            n: 1,
            expiresAt: new Date((second + 60) * 1000),
          } as never);
          this.hint.set(hintKey, slot + 1);
          if (this.hint.size > 1000) this.hint.clear();
          return;
        } catch (err) {
          if (!isDuplicateKey(err)) throw err;
        }
        if (Math.floor(this.now() / 1000) !== second) break;
      }
      this.hint.set(hintKey, slots);
      const wait = (second + 1) * 1000 - this.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait + 1));
    }
  }

  async purge(before: Date): Promise<number> {
    const res = await this.models.RateWindow.deleteMany({ expiresAt: { $lt: before } });
    return res.deletedCount;
  }
}
