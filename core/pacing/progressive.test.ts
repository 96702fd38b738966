import { test } from "@jest/globals";
import assert from "node:assert/strict";
import { createProgressivePolicy } from "./progressive.ts";
import { createPowerPolicy } from "./power.ts";
import { agents, ringing, snapshot } from "./test-snapshot.ts";

const progressive = createProgressivePolicy();
const decide = (s = snapshot()) => progressive.decide(s, null).decision.dials;

test("progressive places one call per free agent", () => {
  assert.equal(decide(snapshot({ agents: [...agents("ready", 3), ...agents("talking", 5)] })), 3);
});

test("progressive counts calls already ringing or waiting against free agents", () => {
  const s = snapshot({ agents: agents("ready", 3), callsInFlight: ringing(2), callsWaitingForAgent: 1 });
  assert.equal(decide(s), 0);
  assert.equal(decide(snapshot({ agents: agents("ready", 3), callsInFlight: ringing(1) })), 2);
});

test("progressive never dials for busy or paused agents", () => {
  assert.equal(
    decide(snapshot({ agents: [...agents("talking", 4), ...agents("paused", 2), ...agents("wrapping", 1)] })),
    0,
  );
});

test("power keeps `ratio` lines per free agent, counting lines already ringing", () => {
  const power = createPowerPolicy({ ratio: 2.5 });
  const dials = (s: ReturnType<typeof snapshot>) => power.decide(s, null).decision.dials;
  assert.equal(dials(snapshot({ agents: agents("ready", 2) })), 5);
  assert.equal(dials(snapshot({ agents: agents("ready", 2), callsInFlight: ringing(4) })), 1);
  assert.equal(dials(snapshot({ agents: agents("talking", 5), callsInFlight: ringing(1) })), 0);
});

test("power refuses a ratio below one", () => {
  assert.throws(() => createPowerPolicy({ ratio: 0.5 }), RangeError);
});
