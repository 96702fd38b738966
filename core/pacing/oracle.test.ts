import { test } from "@jest/globals";
import assert from "node:assert/strict";
import { createOraclePolicy, createPredictivePolicy } from "./predictive.ts";
import { agents, emptyStatistics, histogramOf, snapshot } from "./test-snapshot.ts";
import type { Moments, PacingSnapshot, PacingStatistics } from "./types.ts";

const moments = (count: number, mean: number, sd: number): Moments => ({ count, mean, m2: sd * sd * (count - 1) });

/** A campaign with history: 1 dial in 5 connects, ~14 s to connect, 150 s talk, 30 s wrap. */
const stats = (): PacingStatistics => ({
  ...emptyStatistics(),
  settled: { dials: 1000, connects: 200 },
  secondsToConnect: moments(200, 14, 5),
  secondsToFailure: moments(800, 15, 7),
  talkSeconds: moments(200, 150, 80),
  wrapSeconds: moments(200, 30, 8),
  talkDurations: histogramOf(150, 80, 200),
  wrapDurations: histogramOf(30, 8, 200),
});

const oracle = createOraclePolicy();
const dials = (s: PacingSnapshot) => oracle.decide(s, oracle.initialMemory()).decision.dials;
const talking = agents("talking", 15, 100);
const allFreeIn = (seconds: number) => Object.fromEntries(talking.map((a) => [a.id, seconds]));

test("the oracle dials for busy agents it knows are about to be free, not for those it knows are not", () => {
  const soon = snapshot({ agents: talking, stats: stats(), knownSecondsUntilFree: allFreeIn(5) });
  const late = snapshot({ agents: talking, stats: stats(), knownSecondsUntilFree: allFreeIn(300) });
  assert.ok(dials(soon) > 15, `dials ${dials(soon)}: about 1 / 0.2 lines per agent freeing in 5 s`);
  assert.equal(dials(late), 0);
});

test("a busy agent the oracle has no release time for (a break is next) is not counted as freeing", () => {
  const known = allFreeIn(5);
  const withBreaks = Object.fromEntries(Object.entries(known).slice(0, 5));
  const all = snapshot({ agents: talking, stats: stats(), knownSecondsUntilFree: known });
  const some = snapshot({ agents: talking, stats: stats(), knownSecondsUntilFree: withBreaks });
  assert.ok(dials(some) < dials(all));
});

test("without known release times (a live dialer) the oracle paces as predictive; predictive ignores them", () => {
  const predictive = createPredictivePolicy();
  const blind = snapshot({ agents: talking, stats: stats() });
  const told = snapshot({ agents: talking, stats: stats(), knownSecondsUntilFree: allFreeIn(5) });
  const predictiveDials = (s: PacingSnapshot) => predictive.decide(s, predictive.initialMemory()).decision.dials;
  assert.equal(dials(blind), predictiveDials(blind));
  assert.equal(predictiveDials(told), predictiveDials(blind));
  assert.equal(oracle.name, "oracle");
});
