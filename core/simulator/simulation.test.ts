import { test } from "@jest/globals";
import assert from "node:assert/strict";
import { abandonmentRules, runScenario } from "./index.ts";
import { measureRun } from "./metrics.ts";
import { withDefaults, type Scenario } from "./scenario.ts";
import { pacingTarget, simulate } from "./simulation.ts";

const base = (over: Record<string, unknown> = {}): Scenario =>
  withDefaults({
    agents: 5,
    durationMinutes: 30,
    outcomes: { human: 0.3, machine: 0.2, noAnswer: 0.3, busy: 0.15, invalid: 0.05 },
    talkSeconds: { mean: 90, sd: 40 },
    wrapSeconds: { mean: 15, sd: 5 },
    ...over,
  });
const rules = abandonmentRules();

test("the same seed gives the same run; another seed a different one", () => {
  const scenario = base();
  assert.deepEqual(simulate(scenario, "predictive", 5), simulate(scenario, "predictive", 5));
  assert.notDeepEqual(simulate(scenario, "predictive", 5).idleWaits, simulate(scenario, "predictive", 6).idleWaits);
});

test("progressive never abandons a call: every call placed has a free agent", () => {
  const run = simulate(base(), "progressive", 1);
  assert.ok(run.liveAnswered > 20);
  assert.equal(run.abandoned, 0);
});

test("a live answer with no agent free within 2 seconds is abandoned", () => {
  // One agent, ten lines per free agent, long calls: most answers find nobody.
  const run = simulate(base({ agents: 1, power: { ratio: 10 }, talkSeconds: { mean: 300, sd: 30 } }), "power", 1);
  assert.ok(run.abandoned > 10);
  // Every call a person answered reached the agent or was abandoned, except those answered
  // in the last 2 seconds of the run, still waiting when it ended.
  const unresolved = run.liveAnswered - run.humanConnects - run.abandoned;
  const answeredAtTheEnd = run.liveAnswerTimes.filter((t) => t > run.durationSeconds - 2).length;
  assert.ok(unresolved >= 0 && unresolved <= answeredAtTheEnd, `${unresolved} unresolved`);
});

test("AMD false positives count for the UK, not for the US", () => {
  const scenario = base({ amd: { enabled: true, sensitivity: 0.9, specificity: 0.8, latencySeconds: 2 } });
  const run = simulate(scenario, "progressive", 2);
  const measures = measureRun(run, rules);
  assert.ok(run.amdFalsePositives > 0);
  assert.equal(measures.abandonRate.us30d, 0);
  assert.ok(measures.abandonRate.ukDaily > 0.1);
});

test("with AMD off, machines reach agents and cost them time but are not abandonment", () => {
  const run = simulate(base({ outcomes: { human: 0, machine: 1, noAnswer: 0, busy: 0, invalid: 0 } }), "power", 1);
  assert.equal(run.liveAnswered, 0);
  assert.equal(run.humanTalkSeconds, 0);
  assert.ok(run.handleSeconds > 0);
});

test("agents on break are not offered calls and break time is not counted as available", () => {
  const scenario = base({ breaks: { everyMinutes: { mean: 5, sd: 1 }, durationMinutes: { mean: 5, sd: 1 } } });
  const run = simulate(scenario, "progressive", 3);
  assert.ok(run.breakSeconds > 0);
  const occupancy = measureRun(run, rules).occupancy;
  assert.ok(occupancy > run.handleSeconds / (run.agents * run.durationSeconds));
});

test("preview calls belong to their agent and are never abandoned", () => {
  const run = simulate(base(), "preview", 1);
  assert.ok(run.dials > 10 && run.humanConnects > 5);
  assert.equal(run.abandoned, 0);
});

test("every policy produces the report's fields with sane values", () => {
  const report = runScenario(base({ durationMinutes: 20 }), { seeds: 2 });
  assert.equal(report.policies.length, 8);
  for (const p of report.policies) {
    assert.equal(p.seeds, 2);
    assert.ok(p.talkMinutesPerAgentHour >= 0 && p.talkMinutesPerAgentHour <= 60, p.policy);
    assert.ok(p.occupancy >= 0 && p.occupancy <= 1, p.policy);
    assert.ok(p.seedsOverTarget >= 0 && p.seedsOverTarget <= 1, p.policy);
    assert.ok(p.attemptsPerConnect >= 1, p.policy);
  }
});

test("pacing to the UK rule leaves room for the people AMD hangs up on", () => {
  const amd = { enabled: true, sensitivity: 0.95, specificity: 0.98, latencySeconds: 2.5 };
  const us = base({ agents: 15, durationMinutes: 45, amd });
  const uk = { ...us, abandonRule: "GB" as const };
  assert.equal(pacingTarget(us), 0.03);
  assert.ok(Math.abs(pacingTarget(uk) - 0.01) < 1e-12);
  assert.equal(pacingTarget({ ...uk, amd: { ...amd, enabled: false } }), 0.03);
  const unseen = (scenario: Scenario) => {
    let share: number | undefined;
    simulate({ ...scenario, durationMinutes: 1 }, "predictive", 4, {
      onStep: (_at, _step, snapshot) => (share = snapshot.unseenAbandonShare),
    });
    return share;
  };
  assert.ok(Math.abs((unseen(uk) ?? 0) - 0.02) < 1e-12);
  assert.equal(unseen(us), undefined);
  const usRun = simulate(us, "predictive", 4);
  const ukRun = simulate(uk, "predictive", 4);
  assert.ok(ukRun.abandoned < usRun.abandoned, `${ukRun.abandoned} < ${usRun.abandoned}`);
});

test("only the oracle is told busy agents' release times, and they match what the simulation does", () => {
  const scenario = base({ agents: 8 });
  const seen: { policy: string; known: boolean }[] = [];
  for (const policy of ["predictive", "oracle"] as const) {
    simulate(scenario, policy, 7, {
      onStep: (_at, _step, snapshot) => seen.push({ policy, known: snapshot.knownSecondsUntilFree !== undefined }),
    });
  }
  assert.ok(seen.filter((s) => s.policy === "predictive").every((s) => !s.known));
  assert.ok(seen.filter((s) => s.policy === "oracle").every((s) => s.known));

  // The release time last told for an agent is when it is next seen ready.
  const promised = new Map<string, number>();
  let checked = 0;
  simulate(scenario, "oracle", 7, {
    onStep: (at, _step, snapshot) => {
      for (const agent of snapshot.agents) {
        const due = promised.get(agent.id);
        if (agent.activity === "ready" && due !== undefined) {
          assert.ok(Math.abs(at - agent.secondsInActivity - due) < 1e-6, `${agent.id} free at ${due}`);
          promised.delete(agent.id);
          checked++;
        }
      }
      // The latest promise: an agent who takes a waiting call on release is never seen ready.
      for (const [id, inSeconds] of Object.entries(snapshot.knownSecondsUntilFree ?? {}))
        promised.set(id, at + inSeconds);
    },
  });
  assert.ok(checked > 20, `${checked} releases checked`);
});
