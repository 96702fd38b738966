import { test } from "@jest/globals";
import assert from "node:assert/strict";
import { Batcher } from "./batcher.ts";

test("concurrent calls become one run; each caller gets its own result", async () => {
  const runs: number[][] = [];
  const b = new Batcher<number, number>(async (items) => {
    runs.push(items);
    return items.map((i) => i * 10);
  });
  const results = await Promise.all([1, 2, 3].map((i) => b.call(i)));
  assert.deepEqual(results, [10, 20, 30]);
  assert.deepEqual(runs, [[1, 2, 3]]);
});

test("maxBatch splits a burst; later calls form a new batch", async () => {
  const runs: number[][] = [];
  const b = new Batcher<number, number>(
    async (items) => {
      runs.push(items);
      return items;
    },
    { maxBatch: 2 },
  );
  await Promise.all([1, 2, 3].map((i) => b.call(i)));
  await b.call(4);
  assert.deepEqual(runs, [[1, 2], [3], [4]]);
});

test("a failed run rejects every caller of that batch, and a wrong result count is an error", async () => {
  const failing = new Batcher<number, number>(async () => {
    throw new Error("store away");
  });
  const settled = await Promise.allSettled([failing.call(1), failing.call(2)]);
  assert.deepEqual(
    settled.map((s) => s.status),
    ["rejected", "rejected"],
  );
  const short = new Batcher<number, number>(async () => [1]);
  await assert.rejects(Promise.all([short.call(1), short.call(2)]), /1 results for 2 items/);
});
