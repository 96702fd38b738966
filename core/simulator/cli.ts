/**
 * `dialmesh simulate --scenario <file.json> [--policy <name> ...] [--seeds N] [--json]`.
 * Relative paths are taken from DIALMESH_CWD when set (the bin wrapper sets it, because the
 * toolchain script changes to the project root), else from the working directory.
 */
import path from "node:path";
import { parseArgs } from "node:util";
import { isPolicyName } from "../pacing/index.ts";
import { POLICY_NAMES, type PolicyName } from "../pacing/types.ts";
import { loadScenario, runScenario, ScenarioError, type PolicySummary } from "./index.ts";

export const SIMULATE_USAGE = `Usage: dialmesh simulate --scenario <file.json> [--policy <name> ...] [--seeds N] [--json]

Simulates an outbound campaign under each pacing policy and prints, per policy: talk
minutes per agent-hour, occupancy, abandonment (US 30-day, UK daily, Canada), share of
seeds over the target, attempts per connect, agent idle wait p95, worst rolling hour.

  --scenario <file>   scenario JSON (schemas/simulation-scenario.schema.json)
  --policy <name>     repeatable; default: the scenario's "policies", else all of
                      ${POLICY_NAMES.join(", ")}
  --seeds <N>         runs seeds seed..seed+N-1 and reports means (default 1)
  --json              machine-readable output
`;

export interface CommandIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  cwd: string;
}

function table(rows: PolicySummary[]): string {
  const header = [
    "policy",
    "talk min/agent-h",
    "occupancy",
    "abandon US",
    "UK",
    "CA",
    "over target",
    "attempts/connect",
    "idle p95 s",
    "worst hour",
  ];
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  const body = rows.map((r) => [
    r.policy,
    r.talkMinutesPerAgentHour.toFixed(1),
    pct(r.occupancy),
    pct(r.abandonRate.us30d),
    pct(r.abandonRate.ukDaily),
    pct(r.abandonRate.ca),
    pct(r.seedsOverTarget),
    r.attemptsPerConnect.toFixed(2),
    r.idleWaitP95Seconds.toFixed(0),
    pct(r.worstWindowAbandonRate),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] as string).length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] as number)).join("  ");
  return [line(header), ...body.map(line)].join("\n") + "\n";
}

/** Runs the command; returns the process exit code (0 ok, 1 bad scenario, 2 usage). */
export function simulateCommand(argv: string[], io: CommandIo): number {
  let values: { scenario?: string; policy?: string[]; seeds?: string; json?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        scenario: { type: "string" },
        policy: { type: "string", multiple: true },
        seeds: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    io.stderr(`dialmesh simulate: ${(err as Error).message}\n\n${SIMULATE_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout(SIMULATE_USAGE);
    return 0;
  }
  if (!values.scenario) {
    io.stderr(`dialmesh simulate: --scenario is required\n\n${SIMULATE_USAGE}`);
    return 2;
  }
  const unknown = (values.policy ?? []).filter((p) => !isPolicyName(p));
  if (unknown.length > 0) {
    io.stderr(
      `dialmesh simulate: unknown policy ${unknown.map((p) => `"${p}"`).join(", ")}; known: ${POLICY_NAMES.join(", ")}\n`,
    );
    return 2;
  }
  const seeds = values.seeds === undefined ? 1 : Number(values.seeds);
  if (!Number.isInteger(seeds) || seeds < 1 || seeds > 1000) {
    io.stderr(`dialmesh simulate: --seeds must be an integer from 1 to 1000, got "${values.seeds}"\n`);
    return 2;
  }
  const file = path.resolve(io.cwd, values.scenario);
  try {
    const scenario = loadScenario(file);
    const policies = values.policy && values.policy.length > 0 ? (values.policy as PolicyName[]) : undefined;
    const report = runScenario(scenario, { seeds, ...(policies ? { policies } : {}) });
    if (values.json) io.stdout(JSON.stringify({ scenario: file, seeds, policies: report.policies }, null, 2) + "\n");
    else
      io.stdout(
        `${file}: ${scenario.agents} agents, ${scenario.durationMinutes} min, ${seeds} seed(s)\n${table(report.policies)}`,
      );
    return 0;
  } catch (err) {
    if (err instanceof ScenarioError) {
      io.stderr(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
