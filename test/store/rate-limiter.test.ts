import { test, beforeAll, afterAll } from "@jest/globals";
import assert from "node:assert/strict";
import { openStore, type Store } from "../../core/store/connection.ts";
import { SharedRateLimiter } from "../../core/store/rate-limiter.ts";
import { escapeRegex } from "../../core/audience/filters.ts";
import { freshDatabaseUrl } from "../support/mongo.ts";

let store: Store;
beforeAll(async () => {
  store = await openStore(freshDatabaseUrl("rate"));
});
afterAll(async () => store?.close());

/** The slots taken under a key prefix, counted per window (the part between `@` and `#`). */
async function slotsPerWindow(prefix: string): Promise<{ slots: number; perWindow: Map<string, number> }> {
  const slots = await store.models.RateWindow.find({ _id: { $regex: `^${escapeRegex(prefix)}@` } }).lean();
  const perWindow = new Map<string, number>();
  for (const s of slots) {
    const window = s._id.split("@")[1]!.split("#")[0]!;
    perWindow.set(window, (perWindow.get(window) ?? 0) + 1);
  }
  return { slots: slots.length, perWindow };
}

test("two limiters on one database (two nodes) never admit more than perSecond in any second", async () => {
  const nodes = [new SharedRateLimiter(store.models), new SharedRateLimiter(store.models)];
  const start = Date.now();
  // 40 sends at 10/s across two nodes, all asking at once.
  await Promise.all(Array.from({ length: 40 }, (_, i) => nodes[i % 2]!.acquire("sms:+15550001", 10)));
  const elapsed = Date.now() - start;
  // Every admission holds its own slot of its own second: 40 slots, at most 10 per second.
  const { slots, perWindow: perSecond } = await slotsPerWindow("sms:+15550001");
  assert.equal(slots, 40, "each admission took a distinct slot: no two nodes shared one");
  assert.ok(Math.max(...perSecond.values()) <= 10, `admitted per second: ${[...perSecond.values()].join(",")}`);
  assert.ok(perSecond.size >= 4, "40 at 10/s spans at least four seconds");
  assert.ok(elapsed >= 2000, `40 at 10/s cannot all pass within ${elapsed} ms`);
});

test("a limit over a longer window (Five9's per-minute imports): at most perWindow in each window, across nodes", async () => {
  const nodes = [new SharedRateLimiter(store.models), new SharedRateLimiter(store.models)];
  // 9 imports at 3 per 250 ms window across two nodes; the per-second limit of the same key is apart.
  await Promise.all(Array.from({ length: 9 }, (_, i) => nodes[i % 2]!.acquire("five9:acct:async", 3, 250)));
  await nodes[0]!.acquire("five9:acct:async", 1);
  const { slots, perWindow } = await slotsPerWindow("five9:acct:async/250ms");
  assert.equal(slots, 9, "each admission took a distinct slot");
  assert.ok(Math.max(...perWindow.values()) <= 3, `admitted per window: ${[...perWindow.values()].join(",")}`);
  assert.ok(perWindow.size >= 3, "9 at 3 a window span at least three windows");
  const windows = [...perWindow.keys()].map(Number);
  assert.ok(
    windows.every((w) => w * 250 <= Date.now()),
    "window numbers count 250 ms windows since the epoch",
  );
  assert.equal(
    await store.models.RateWindow.countDocuments({ _id: { $regex: "^five9:acct:async@" } }),
    1,
    "the per-second slot of the key is its own",
  );
});
