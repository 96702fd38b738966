/**
 * A send-rate limit shared by every hub node. Each window (a second unless the caller says
 * otherwise) has `perWindow` slots; a send takes one by inserting `<key>@<window>#<slot>`
 * (a unique insert is the one atomic write FerretDB offers; a `$inc` counter would over-admit
 * under concurrency). When every slot of the window is taken, the caller waits for the next.
 * Old slots are purged by a job, not a TTL index (FerretDB has none).
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

  async acquire(key: string, perWindow: number, windowMs = 1000): Promise<void> {
    if (!(perWindow > 0)) return;
    const slots = Math.max(1, Math.floor(perWindow));
    const span = Math.max(1, Math.floor(windowMs));
    // Windows other than the second carry their length, so two limits under one key never share slots.
    const name = span === 1000 ? key : `${key}/${span}ms`;
    for (;;) {
      const t = this.now();
      const window = Math.floor(t / span);
      const hintKey = `${name}@${window}`;
      for (let slot = this.hint.get(hintKey) ?? 0; slot < slots; slot++) {
        try {
          await this.models.RateWindow.collection.insertOne({
            _id: `${hintKey}#${slot}`,
            n: 1,
            expiresAt: new Date((window + 1) * span + 60_000),
          } as never);
          this.hint.set(hintKey, slot + 1);
          if (this.hint.size > 1000) this.hint.clear();
          return;
        } catch (err) {
          if (!isDuplicateKey(err)) throw err;
        }
        if (Math.floor(this.now() / span) !== window) break;
      }
      this.hint.set(hintKey, slots);
      const wait = (window + 1) * span - this.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait + 1));
    }
  }

  async purge(before: Date): Promise<number> {
    const res = await this.models.RateWindow.deleteMany({ expiresAt: { $lt: before } });
    return res.deletedCount;
  }
}
