/** `dialmesh simulate` end to end, through the bin wrapper that `npx dialmesh` runs. */
import { test } from "@jest/globals";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const BIN = path.resolve(import.meta.dirname, "../../bin/dialmesh");
const dir = mkdtempSync(path.join(tmpdir(), "dialmesh-cli-"));
const scenario = {
  agents: 10,
  durationMinutes: 30,
  seed: 11,
  outcomes: { human: 0.25, machine: 0.25, noAnswer: 0.35, busy: 0.1, invalid: 0.05 },
  amd: { enabled: true, sensitivity: 0.95, specificity: 0.98, latencySeconds: 2.5 },
};
const scenarioFile = path.join(dir, "small.json");
writeFileSync(scenarioFile, JSON.stringify(scenario));

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

async function dialmesh(args: string[], cwd = dir): Promise<Outcome> {
  try {
    const { stdout, stderr } = await promisify(execFile)(BIN, args, { cwd, env: { ...process.env, DIALMESH_CWD: "" } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test("prints the report as JSON, one entry per requested policy", async () => {
  const out = await dialmesh([
    "simulate",
    "--scenario",
    "small.json",
    "--policy",
    "predictive",
    "--policy",
    "vicidial-average",
    "--seeds",
    "2",
    "--json",
  ]);
  assert.equal(out.code, 0, out.stderr);
  const report = JSON.parse(out.stdout) as { seeds: number; policies: Record<string, unknown>[] };
  assert.equal(report.seeds, 2);
  assert.deepEqual(
    report.policies.map((p) => p.policy),
    ["predictive", "vicidial-average"],
  );
  for (const p of report.policies) {
    for (const field of [
      "talkMinutesPerAgentHour",
      "occupancy",
      "seedsOverTarget",
      "attemptsPerConnect",
      "idleWaitP95Seconds",
      "worstWindowAbandonRate",
    ]) {
      assert.equal(typeof p[field], "number", `${String(p.policy)}.${field}`);
    }
    assert.deepEqual(Object.keys(p.abandonRate as object).sort(), ["ca", "ukDaily", "us30d"]);
  }
});

test("the same seed prints the same figures; another seed different ones", async () => {
  const args = ["simulate", "--scenario", scenarioFile, "--policy", "predictive", "--json"];
  const [a, b] = await Promise.all([dialmesh(args), dialmesh(args)]);
  assert.equal(a.stdout, b.stdout);
  writeFileSync(path.join(dir, "other-seed.json"), JSON.stringify({ ...scenario, seed: 12 }));
  const c = await dialmesh(["simulate", "--scenario", "other-seed.json", "--policy", "predictive", "--json"]);
  const figures = (o: Outcome) => JSON.stringify((JSON.parse(o.stdout) as { policies: unknown }).policies);
  assert.notEqual(figures(a), figures(c));
});

test("a bad scenario is refused with the file, the JSON pointer and what was expected", async () => {
  const bad = path.join(dir, "bad.json");
  writeFileSync(bad, JSON.stringify({ ...scenario, agents: -3, talkSeconds: { mean: 180 } }));
  const out = await dialmesh(["simulate", "--scenario", bad, "--json"]);
  assert.equal(out.code, 1);
  assert.equal(out.stdout, "");
  assert.match(out.stderr, new RegExp(`${bad}: /agents must be >= 1`));
  assert.match(out.stderr, new RegExp(`${bad}: /talkSeconds/sd is required`));
});

test("malformed JSON is refused with the file and line", async () => {
  const broken = path.join(dir, "broken.json");
  writeFileSync(broken, '{\n  "agents": 10,\n  "durationMinutes": 30,\n}\n');
  const out = await dialmesh(["simulate", "--scenario", broken]);
  assert.equal(out.code, 1);
  assert.match(out.stderr, new RegExp(`${broken}: / is not valid JSON at line 4`));
});

test("usage errors exit with 2 and say what is wrong", async () => {
  const unknown = await dialmesh(["simulate", "--scenario", scenarioFile, "--policy", "greedy"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown policy "greedy"/);
  const missing = await dialmesh(["simulate"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--scenario is required/);
  const command = await dialmesh(["simulat"]);
  assert.equal(command.code, 2);
  assert.match(command.stderr, /unknown command "simulat"/);
});

test("the oracle runs from the CLI like any policy, and talks at least as much as predictive here", async () => {
  const out = await dialmesh(["simulate", "--scenario", "small.json", "--policy", "oracle", "--policy", "predictive"]);
  assert.equal(out.code, 0, out.stderr);
  const talk = (policy: string) => Number(new RegExp(`^${policy}\\s+([\\d.]+)`, "m").exec(out.stdout)?.[1]);
  assert.ok(talk("oracle") > 0, out.stdout);
  assert.ok(talk("oracle") >= talk("predictive") * 0.98, out.stdout);
});
