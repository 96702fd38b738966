import { test } from "@jest/globals";
import assert from "node:assert/strict";
import { Random } from "./random.ts";

test("a seed and stream always give the same sequence; other seeds or streams differ", () => {
  const draw = (seed: number, stream: number) => {
    const r = new Random(seed, stream);
    return Array.from({ length: 5 }, () => r.nextUint32());
  };
  assert.deepEqual(draw(7, 1), draw(7, 1));
  assert.notDeepEqual(draw(7, 1), draw(8, 1));
  assert.notDeepEqual(draw(7, 1), draw(7, 2));
});

test("lognormal draws have the requested mean and standard deviation", () => {
  const r = new Random(42);
  const xs = Array.from({ length: 50_000 }, () => r.logNormal({ mean: 180, sd: 90 }));
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1));
  assert.ok(Math.abs(mean - 180) < 2, `mean ${mean}`);
  assert.ok(Math.abs(sd - 90) < 3, `sd ${sd}`);
  assert.ok(xs.every((x) => x > 0));
});

test("weighted picks follow the weights", () => {
  const r = new Random(3);
  const counts = [0, 0, 0];
  for (let i = 0; i < 30_000; i++) counts[r.pick([0.2, 0.5, 0.3])]!++;
  assert.ok(Math.abs((counts[1] as number) / 30_000 - 0.5) < 0.02);
  assert.equal(new Random(1).pick([0, 0, 1]), 2);
});
