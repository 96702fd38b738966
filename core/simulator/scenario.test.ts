import { test } from "@jest/globals";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { DEFAULT_PREDICTIVE } from "../pacing/predictive.ts";
import { POLICY_NAMES } from "../pacing/types.ts";
import { VICIDIAL_DEFAULTS } from "../pacing/vicidial-adaptive.ts";
import { describeJsonError, loadScenario, ScenarioError } from "./scenario.ts";

const dir = mkdtempSync(path.join(tmpdir(), "dialmesh-scenario-"));
const write = (name: string, text: string) => {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
};
const valid = {
  agents: 10,
  durationMinutes: 60,
  outcomes: { human: 0.2, machine: 0.25, noAnswer: 0.4, busy: 0.1, invalid: 0.05 },
};

test("the example scenarios load, with defaults filled in", () => {
  const scenario = loadScenario(path.resolve(import.meta.dirname, "../../config/scenarios/outbound-25-agents.json"));
  assert.equal(scenario.agents, 25);
  assert.equal(scenario.startTime, "09:00");
  assert.equal(scenario.amd.latencySeconds, 2.5);
});

test("every schema error is reported with the file, the JSON pointer and what was expected", () => {
  const file = write("bad.json", JSON.stringify({ ...valid, agents: 0, amd: { enabled: "yes" }, colour: "red" }));
  assert.throws(
    () => loadScenario(file),
    (err: unknown) => {
      assert.ok(err instanceof ScenarioError);
      assert.match(err.message, new RegExp(`${file}: /agents must be >= 1`));
      assert.match(err.message, /\/amd\/enabled must be boolean/);
      assert.match(err.message, /\/colour is not a known property/);
      return true;
    },
  );
});

test("outcome shares must sum to 1", () => {
  const file = write("sum.json", JSON.stringify({ ...valid, outcomes: { ...valid.outcomes, human: 0.5 } }));
  assert.throws(() => loadScenario(file), /\/outcomes must sum to 1, got 1.3/);
});

test("malformed JSON names the file and the line", () => {
  const file = write("broken.json", '{\n  "agents": 10,\n  "durationMinutes": 60\n  "outcomes": {}\n}\n');
  assert.throws(() => loadScenario(file), new RegExp(`${file}: / is not valid JSON at line 4, column 3`));
});

test("JSON errors without a position point at the end of the input", () => {
  assert.match(describeJsonError('{\n  "a": ', new SyntaxError("Unexpected end of JSON input")), /line 2, column 8/);
});

test("a missing file is reported as such", () => {
  assert.throws(() => loadScenario(path.join(dir, "nope.json")), /cannot be read \(ENOENT\)/);
});

test("the schema names every predictive option and VICIdial setting a scenario may override", () => {
  const schema = JSON.parse(
    readFileSync(path.resolve(import.meta.dirname, "../../schemas/simulation-scenario.schema.json"), "utf8"),
  ) as { properties: Record<string, { properties: Record<string, unknown> }> };
  const keys = (name: string) => Object.keys(schema.properties[name]?.properties ?? {}).sort();
  assert.deepEqual(
    keys("predictive"),
    Object.keys(DEFAULT_PREDICTIVE)
      .filter((k) => k !== "prior")
      .sort(),
  );
  assert.deepEqual(keys("vicidial"), Object.keys(VICIDIAL_DEFAULTS).sort());
});

test("the schema's policy names are the pacing policies, the oracle included", () => {
  const schema = JSON.parse(
    readFileSync(path.resolve(import.meta.dirname, "../../schemas/simulation-scenario.schema.json"), "utf8"),
  ) as { properties: { policies: { items: { enum: string[] } } } };
  assert.deepEqual(schema.properties.policies.items.enum, [...POLICY_NAMES]);
  assert.ok(POLICY_NAMES.includes("oracle"));
});
