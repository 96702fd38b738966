import { test } from "@jest/globals";
import assert from "node:assert/strict";
import { agents, emptyStatistics, ringing, snapshot } from "./test-snapshot.ts";
import type { PacingSnapshot } from "./types.ts";
import {
  adaptDialLevel,
  createVicidialPolicy,
  hourMinute,
  VICIDIAL_DEFAULTS,
  vicidialCallsToPlace,
  type AgentLineSample,
  type DropStatistics,
  type VicidialMemory,
} from "./vicidial-adaptive.ts";

const samples = (ready: number, waiting: number, total: number, n = 15): AgentLineSample[] =>
  Array.from({ length: n }, () => ({ ready, waiting, total }));
const noDrops: DropStatistics = {
  callsToday: 0,
  answersToday: 0,
  dropsToday: 0,
  callsLastMinute: 0,
  dropsLastMinute: 0,
};
const overTarget: DropStatistics = {
  callsToday: 500,
  answersToday: 100,
  dropsToday: 5,
  callsLastMinute: 10,
  dropsLastMinute: 1,
};
const TEN_AM = 10 * 60;

test("defaults are VICIdial's: max level 3.0, drop target 3%, intensity 0, latest server time 2100", () => {
  assert.equal(VICIDIAL_DEFAULTS.adaptiveMaximumLevel, 3.0);
  assert.equal(VICIDIAL_DEFAULTS.adaptiveDroppedPercentage, 3);
  assert.equal(VICIDIAL_DEFAULTS.adaptiveIntensity, 0);
  assert.equal(VICIDIAL_DEFAULTS.adaptiveLatestServerTime, 2100);
});

test("the level scales by the ready-minus-waiting differential over average agents", () => {
  // 5 of 10 agents waiting on average: +50%.
  assert.equal(adaptDialLevel("ADAPT_HARD_LIMIT", VICIDIAL_DEFAULTS, 1.6, samples(5, 0, 10), noDrops, TEN_AM), 2.4);
  // Two customers waiting on average among 10 agents: -20%.
  assert.equal(adaptDialLevel("ADAPT_HARD_LIMIT", VICIDIAL_DEFAULTS, 2.5, samples(0, 2, 10), noDrops, TEN_AM), 2.0);
});

test("the level is capped at the maximum and floored at 1.0", () => {
  assert.equal(adaptDialLevel("ADAPT_AVERAGE", VICIDIAL_DEFAULTS, 2.5, samples(10, 0, 10), noDrops, TEN_AM), 3.0);
  assert.equal(adaptDialLevel("ADAPT_AVERAGE", VICIDIAL_DEFAULTS, 1.1, samples(0, 5, 10), noDrops, TEN_AM), 1.0);
});

test("intensity makes steps up steeper and steps down gentler, as in AST_VDadapt.pl", () => {
  const intense = { ...VICIDIAL_DEFAULTS, adaptiveIntensity: 20 };
  // +10% differential * (1 + 0.2) = +12%.
  assert.equal(adaptDialLevel("ADAPT_AVERAGE", intense, 2.0, samples(1, 0, 10), noDrops, TEN_AM), 2.24);
  // -10% differential * |0.2 - 1| = -8%.
  assert.equal(adaptDialLevel("ADAPT_AVERAGE", intense, 2.0, samples(0, 1, 10), noDrops, TEN_AM), 1.84);
});

test("over the drop target today, HARD_LIMIT drops to 1.0 and AVERAGE halves", () => {
  assert.equal(adaptDialLevel("ADAPT_HARD_LIMIT", VICIDIAL_DEFAULTS, 2.8, samples(0, 0, 10), overTarget, TEN_AM), 1.0);
  assert.equal(adaptDialLevel("ADAPT_AVERAGE", VICIDIAL_DEFAULTS, 2.8, samples(0, 0, 10), overTarget, TEN_AM), 1.4);
});

test("TAPERED cuts by the HHMM share of the day left, not before 11:00, and to 1.0 after the latest time", () => {
  const at = (hhmm: string) => {
    const [h, m] = hhmm.split(":").map(Number);
    return (h as number) * 60 + (m as number);
  };
  const level = (time: string) =>
    adaptDialLevel("ADAPT_TAPERED", VICIDIAL_DEFAULTS, 2.0, samples(0, 0, 10), overTarget, at(time));
  assert.equal(level("10:30"), 2.0); // 2100 - 1030 = 1070 > 1000: no cut
  assert.equal(level("12:30"), 1.74); // (2100 - 1230) / 1000 = 0.87
  assert.equal(level("20:00"), 1.0); // 0.1 * 2.0 = 0.2, floored to 1.0
  assert.equal(level("21:30"), 1.0); // past the latest server time
  assert.equal(hourMinute(at("12:30")), 1230);
});

test("drops are ignored until more than 50 calls today", () => {
  const few = { ...overTarget, callsToday: 50 };
  assert.equal(adaptDialLevel("ADAPT_HARD_LIMIT", VICIDIAL_DEFAULTS, 2.8, samples(0, 0, 10), few, TEN_AM), 2.8);
});

test("over 50% dropped in the last minute (more than 20 calls) halves the level", () => {
  const burst = { ...noDrops, callsLastMinute: 30, dropsLastMinute: 16 };
  assert.equal(adaptDialLevel("ADAPT_HARD_LIMIT", VICIDIAL_DEFAULTS, 2.8, samples(0, 0, 10), burst, TEN_AM), 1.4);
});

test("calls to place: round(level x non-paused agents) minus every active line", () => {
  const s = snapshot({
    agents: [...agents("ready", 2), ...agents("talking", 6), ...agents("wrapping", 2), ...agents("paused", 3)],
    callsInFlight: ringing(4),
    callsWaitingForAgent: 1,
  });
  // 8 non-paused agents (wrap-up is VICIdial's paused DISPO) x 2.0 = 16; 4 + 1 + 6 lines active.
  assert.equal(vicidialCallsToPlace(s, 2.0, VICIDIAL_DEFAULTS), 5);
  // Available-only tally: 2 ready x 2.0 + 6 with agents = 10 goal.
  assert.equal(vicidialCallsToPlace(s, 2.0, { ...VICIDIAL_DEFAULTS, availableOnlyRatioTally: true }), -1);
});

test("the policy samples every second and adjusts the level every 15 seconds", () => {
  const policy = createVicidialPolicy("ADAPT_HARD_LIMIT");
  let memory: VicidialMemory = policy.initialMemory();
  const idle = (at: number): PacingSnapshot =>
    snapshot({ atSeconds: at, agents: [...agents("ready", 5), ...agents("talking", 5)], stats: emptyStatistics() });
  const levels: number[] = [];
  for (let at = 0; at <= 31; at++) {
    memory = policy.decide(idle(at), memory).memory;
    levels.push(memory.dialLevel);
  }
  assert.equal(levels[14], 1.0); // no adjustment before 15 s
  assert.equal(levels[15], 1.5); // half the agents waiting: +50%
  assert.equal(levels[29], 1.5);
  assert.equal(levels[30], 2.25);
  assert.ok(memory.samples.length <= 15);
});

test("the policy cuts to 1.0 once today's drops pass 3% of answers", () => {
  const policy = createVicidialPolicy("ADAPT_HARD_LIMIT", { autoDialLevel: 2.5 });
  const stats = emptyStatistics();
  stats.today = { dials: 400, liveAnswers: 100, abandoned: 4 };
  let memory = policy.initialMemory();
  for (let at = 0; at <= 15; at++) {
    memory = policy.decide(snapshot({ atSeconds: at, agents: agents("talking", 10), stats }), memory).memory;
  }
  assert.equal(memory.dialLevel, 1.0);
});
