import { test, beforeAll, afterAll } from "@jest/globals";
import assert from "node:assert/strict";
import { openStore, type Store } from "../../core/store/connection.ts";
import { SharedRateLimiter } from "../../core/store/rate-limiter.ts";
import { freshDatabaseUrl } from "../support/mongo.ts";

let store: Store;
beforeAll(async () => {
  store = await openStore(freshDatabaseUrl("rate"));
});
afterAll(async () => store?.close());

test("two limiters on one database (two nodes) never admit more than perSecond in any second", async () => {
  const nodes = [new SharedRateLimiter(store.models), new SharedRateLimiter(store.models)];
  const start = Date.now();
  // 40 sends at 10/s across two nodes, all asking at once.
  await Promise.all(Array.from({ length: 40 }, (_, i) => nodes[i % 2]!.acquire("sms:+15550001", 10)));
  const elapsed = Date.now() - start;
  // Every admission holds its own slot of its own second: 40 slots, at most 10 per second.
  const slots = await store.models.RateWindow.find({ _id: { $regex: "^sms:\\+15550001@" } }).lean();
  assert.equal(slots.length, 40, "each admission took a distinct slot: no two nodes shared one");
  const perSecond = new Map<string, number>();
  for (const s of slots) {
    const second = s._id.split("@")[1]!.split("#")[0]!;
    perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
  }
  assert.ok(Math.max(...perSecond.values()) <= 10, `admitted per second: ${[...perSecond.values()].join(",")}`);
  assert.ok(perSecond.size >= 4, "40 at 10/s spans at least four seconds");
  assert.ok(elapsed >= 2000, `40 at 10/s cannot all pass within ${elapsed} ms`);
});
