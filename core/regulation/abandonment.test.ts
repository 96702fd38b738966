import { test } from "@jest/globals";
import assert from "node:assert/strict";
import {
  abandonmentRate,
  dayOrdinal,
  isAbandoned,
  worstAbandonmentRate,
  type DailyAbandonTally,
} from "./abandonment.ts";
import { loadRegulationTable } from "./load.ts";
import type { AbandonmentRule } from "./types.ts";

const table = loadRegulationTable();
const ruleOf = (code: string): AbandonmentRule => {
  const rule = table.jurisdictions[code]?.abandonment;
  assert.ok(rule, `${code} has an abandonment rule`);
  return rule;
};
const US = ruleOf("US");
const UK = ruleOf("GB");
const CA = ruleOf("CA");
const day = (iso: string, liveAnswered: number, abandoned: number, amdFalsePositives = 0): DailyAbandonTally => ({
  day: dayOrdinal(iso),
  liveAnswered,
  abandoned,
  amdFalsePositives,
});

test("the data: US 3% over 30 days, UK 3% per day with AMD false positives, Canada 5%", () => {
  assert.deepEqual([US.maxRate, US.period], [0.03, { kind: "rolling-days", days: 30 }]);
  assert.deepEqual([UK.maxRate, UK.period, UK.countAmdFalsePositives], [0.03, { kind: "calendar-day" }, true]);
  assert.equal(CA.maxRate, 0.05);
  for (const rule of [US, UK, CA]) assert.equal(rule.connectWithinSeconds, 2);
});

test("the 2-second rule", () => {
  assert.equal(isAbandoned(US, 0, 2000), false);
  assert.equal(isAbandoned(US, 0, 2001), true);
  assert.equal(isAbandoned(US, 0, undefined), true);
});

test("US: a bad day is averaged over the rolling 30 days, and drops out after them", () => {
  const tallies = [
    day("2026-06-01", 100, 10),
    ...Array.from({ length: 29 }, (_, i) => day(`2026-06-${String(i + 2).padStart(2, "0")}`, 100, 1)),
  ];
  const onJune30 = abandonmentRate(US, tallies, dayOrdinal("2026-06-30"));
  assert.equal(onJune30.liveAnswered, 3000);
  assert.equal(onJune30.abandoned, 39);
  assert.equal(onJune30.overLimit, false);
  // On 1 July the 10% day is 30 days back and no longer counts.
  const onJuly1 = abandonmentRate(US, [...tallies, day("2026-07-01", 100, 1)], dayOrdinal("2026-07-01"));
  assert.equal(onJuly1.abandoned, 30);
});

test("UK: each calendar day stands alone, and resets at midnight", () => {
  const tallies = [day("2026-06-10", 100, 5), day("2026-06-11", 100, 0)];
  assert.equal(abandonmentRate(UK, tallies, dayOrdinal("2026-06-10")).overLimit, true);
  const nextDay = abandonmentRate(UK, tallies, dayOrdinal("2026-06-11"));
  assert.equal(nextDay.rate, 0);
  assert.equal(worstAbandonmentRate(UK, tallies).rate, 0.05);
});

test("UK counts AMD false positives as abandoned live calls; the US does not", () => {
  const tallies = [day("2026-06-10", 97, 1, 3)];
  const uk = abandonmentRate(UK, tallies, dayOrdinal("2026-06-10"));
  assert.equal(uk.abandoned, 4);
  assert.equal(uk.liveAnswered, 100);
  assert.equal(uk.overLimit, true);
  assert.equal(abandonmentRate(US, tallies, dayOrdinal("2026-06-10")).overLimit, false);
});

test("Canada allows 5%", () => {
  const tallies = [day("2026-06-10", 100, 4)];
  assert.equal(abandonmentRate(CA, tallies, dayOrdinal("2026-06-10")).overLimit, false);
  assert.equal(abandonmentRate(US, tallies, dayOrdinal("2026-06-10")).overLimit, true);
});
