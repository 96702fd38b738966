import { test } from "@jest/globals";
import assert from "node:assert/strict";
import { DurationHistogram, endsWithin, survivalAt, survivalCurve } from "./durations.ts";

const histogram = (...seconds: number[]) => {
  const h = new DurationHistogram();
  for (const s of seconds) h.add(s);
  return h.counts();
};
const noTail = () => 1;

test("survival from completed durations alone is the empirical share still going", () => {
  const { survival } = survivalCurve(histogram(2, 7, 12, 17), [], undefined, 1);
  assert.equal(survivalAt(survival, 0), 1);
  assert.equal(survivalAt(survival, 5), 0.75);
  assert.equal(survivalAt(survival, 10), 0.5);
  assert.equal(survivalAt(survival, 20), 0);
});

test("calls still in progress count as survivors: early short calls do not make every call look short", () => {
  // Three 8-second calls finished; seven have been going for 60 s.
  const withOngoing = survivalCurve(histogram(8, 8, 8), [60, 60, 60, 60, 60, 60, 60], undefined, 1);
  const finishedOnly = survivalCurve(histogram(8, 8, 8), [], undefined, 1);
  assert.ok(Math.abs(survivalAt(withOngoing.survival, 30) - 0.7) < 1e-9);
  assert.equal(survivalAt(finishedOnly.survival, 30), 0);
  // Nothing is known to end between 10 and 60 s, so an agent 20 s in is not about to free up.
  assert.equal(endsWithin(withOngoing, 20, 10, noTail), 0);
});

test("past the last observation the parametric tail decides, not an empty curve", () => {
  // Only short calls have finished and nobody has been going longer than 20 s yet.
  const early = survivalCurve(histogram(...Array.from({ length: 20 }, () => 8)), [15, 18, 20], undefined, 3);
  assert.ok(early.reliableUpTo <= 20);
  const tail = (x: number) => Math.exp(-x / 180); // a 3-minute exponential, for the test
  const p = endsWithin(early, 18, 10, tail);
  assert.ok(Math.abs(p - (1 - Math.exp(-10 / 180))) < 0.02, `p ${p}`);
});

test("a histogram is shared until it changes", () => {
  const h = new DurationHistogram();
  h.add(3);
  const a = h.counts();
  assert.equal(h.counts(), a);
  h.add(4);
  assert.notEqual(h.counts(), a);
  assert.equal(a[0], 1);
  assert.equal(h.counts()[0], 2);
});
