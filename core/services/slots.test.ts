import { test } from "@jest/globals";
import assert from "node:assert/strict";
import { Slots } from "./slots.ts";

/** A task that runs until released by hand, recording how many ran at once. */
function gate() {
  let release!: () => void;
  const done = new Promise<void>((r) => (release = r));
  return { done, release };
}

test("never more than size at once; the waiting start in order as slots free up", async () => {
  const slots = new Slots(2);
  const gates = Array.from({ length: 5 }, gate);
  const started: number[] = [];
  let peak = 0;
  const runs = gates.map((g, i) =>
    slots.run(async () => {
      started.push(i);
      peak = Math.max(peak, slots.busy);
      await g.done;
      return i;
    }),
  );
  await Promise.resolve();
  assert.deepEqual(started, [0, 1]);
  gates[1]!.release();
  await runs[1];
  await Promise.resolve();
  assert.deepEqual(started, [0, 1, 2]);
  for (const g of gates) g.release();
  assert.deepEqual(await Promise.all(runs), [0, 1, 2, 3, 4]);
  assert.deepEqual(started, [0, 1, 2, 3, 4]);
  assert.equal(peak, 2);
  assert.equal(slots.busy, 0, "every slot given back");
});

test("a task that throws gives its slot back", async () => {
  const slots = new Slots(1);
  await assert.rejects(
    slots.run(() => Promise.reject(new Error("boom"))),
    /boom/,
  );
  assert.equal(await slots.run(() => Promise.resolve("next")), "next");
  assert.equal(slots.busy, 0);
});
