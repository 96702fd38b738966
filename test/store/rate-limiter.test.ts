import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { openStore, type Store } from "../../core/store/connection.ts";
import { SharedRateLimiter } from "../../core/store/rate-limiter.ts";
import { freshDatabaseUrl } from "../support/mongo.ts";

let store: Store;
before(async () => {
  store = await openStore(freshDatabaseUrl("rate"));
});
after(async () => store?.close());

test("two limiters on one database (two nodes) never admit more than perSecond in any second", async () => {
  const nodes = [new SharedRateLimiter(store.models), new SharedRateLimiter(store.models)];
  const admitted: number[] = [];
  const start = Date.now();
  // 40 sends at 10/s across two nodes: at least ~3 s, never more than 10 in one wall-clock second.
  await Promise.all(
    Array.from({ length: 40 }, async (_, i) => {
      await nodes[i % 2]!.acquire("sms:+15550001", 10);
      admitted.push(Date.now());
    }),
  );
  const perSecond = new Map<number, number>();
  for (const t of admitted) perSecond.set(Math.floor(t / 1000), (perSecond.get(Math.floor(t / 1000)) ?? 0) + 1);
  assert.ok(Math.max(...perSecond.values()) <= 10, `admitted per second: ${[...perSecond.values()].join(",")}`);
  assert.ok(Date.now() - start >= 2900 - (start % 1000), "40 sends at 10/s cannot finish within 3 s");
});
