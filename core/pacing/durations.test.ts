import { test } from "node:test";
import assert from "node:assert/strict";
import { DurationHistogram, endsWithin, survivalAt, survivalCurve } from "./durations.ts";

const histogram = (...seconds: number[]) => {
  const h = new DurationHistogram();
  for (const s of seconds) h.add(s);
  return h.counts();
};

test("survival from completed durations alone is the empirical share still going", () => {
  const curve = survivalCurve(histogram(2, 7, 12, 17), []);
  assert.equal(survivalAt(curve, 0), 1);
  assert.equal(survivalAt(curve, 5), 0.75);
  assert.equal(survivalAt(curve, 10), 0.5);
  assert.equal(survivalAt(curve, 20), 0);
});

test("calls still in progress count as survivors: early short calls do not make every call look short", () => {
  // Three 8-second calls finished; seven have been going for 60 s.
  const withOngoing = survivalCurve(histogram(8, 8, 8), [60, 60, 60, 60, 60, 60, 60]);
  const finishedOnly = survivalCurve(histogram(8, 8, 8), []);
  assert.ok(Math.abs(survivalAt(withOngoing, 30) - 0.7) < 1e-9);
  assert.equal(survivalAt(finishedOnly, 30), 0);
  // Nothing is known to end between 10 and 60 s, so an agent 20 s in is not about to free up.
  assert.equal(endsWithin(withOngoing, 20, 10), 0);
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
