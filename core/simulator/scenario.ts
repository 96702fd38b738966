/**
 * Simulation scenarios: the JSON format (schemas/simulation-scenario.schema.json), its
 * defaults, and loading with errors that name the file, the JSON pointer and what was
 * expected (or, for malformed JSON, the file, line and column).
 */
import { readFileSync } from "node:fs";
import type { PolicyOptions } from "../pacing/index.ts";
import type { PolicyName } from "../pacing/types.ts";
import { schemaValidator, validateWith, type ValidationDetail } from "../validation/json-schema.ts";
import type { Mean } from "./random.ts";

export type AbandonRuleName = "US" | "GB" | "CA";

export interface OutcomeMix {
  human: number;
  machine: number;
  noAnswer: number;
  busy: number;
  invalid: number;
}

export interface AmdSettings {
  enabled: boolean;
  /** P(classified machine | machine). */
  sensitivity: number;
  /** P(classified human | human); 1 - specificity of humans are hung up on (false positives). */
  specificity: number;
  latencySeconds: number;
}

export interface BreakSettings {
  /** Minutes of work between breaks. */
  everyMinutes: Mean;
  /** Minutes a break lasts. */
  durationMinutes: Mean;
}

export interface PreviewSettings {
  /** Seconds an agent reads a contact before deciding. */
  reviewSeconds: Mean;
  /** Chance the agent skips the contact. */
  skipRate: number;
  maxSkips: number;
  autoDialAfterSeconds: number;
}

export interface Scenario {
  agents: number;
  durationMinutes: number;
  seed: number;
  abandonTarget: number;
  /**
   * Whose definition of abandonment the campaign answers to: "US" (the default) or "CA"
   * (abandoned / live answers), or "GB", which also counts the people AMD hangs up on.
   * For GB the policy is given the target net of the AMD false-positive share
   * (1 - specificity), and "seeds over target" judges the UK rate.
   */
  abandonRule: AbandonRuleName;
  /** Local time of day the run starts, HH:MM (VICIdial's tapering and "today" depend on it). */
  startTime: string;
  outcomes: OutcomeMix;
  timeToAnswerSeconds: Mean;
  ringTimeoutSeconds: number;
  /** How long busy and invalid-number calls take to fail. */
  busySeconds: number;
  invalidSeconds: number;
  talkSeconds: Mean;
  wrapSeconds: Mean;
  /** Agent time spent on a machine that reached the agent (AMD off or missed). */
  machineHandleSeconds: Mean;
  amd: AmdSettings;
  breaks?: BreakSettings;
  power: { ratio: number };
  preview: PreviewSettings;
  predictive?: PolicyOptions["predictive"];
  vicidial?: PolicyOptions["vicidial"];
  /** Policies to run when the CLI names none. */
  policies?: PolicyName[];
}

export const SCENARIO_DEFAULTS = {
  seed: 1,
  abandonTarget: 0.03,
  abandonRule: "US",
  startTime: "09:00",
  ringTimeoutSeconds: 20,
  busySeconds: 5,
  invalidSeconds: 3,
  machineHandleSeconds: { mean: 8, sd: 3 },
  amd: { enabled: false, sensitivity: 0.9, specificity: 0.98, latencySeconds: 2.5 },
  power: { ratio: 2 },
  preview: { reviewSeconds: { mean: 12, sd: 6 }, skipRate: 0.05, maxSkips: 3, autoDialAfterSeconds: 30 },
} as const;

export class ScenarioError extends Error {
  readonly file: string;
  readonly details: ValidationDetail[];
  constructor(file: string, details: ValidationDetail[]) {
    super(`Invalid scenario ${file}\n${details.map((d) => `  ${file}: ${d.path || "/"} ${d.message}`).join("\n")}`);
    this.name = "ScenarioError";
    this.file = file;
    this.details = details;
  }
}

/** Line and column (1-based) of a character offset. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, offset));
  const line = before.split("\n").length;
  return { line, column: offset - before.lastIndexOf("\n") };
}

/** Describes a JSON.parse failure with its line and column. */
export function describeJsonError(text: string, error: Error): string {
  const message = error.message;
  const lineCol = /line (\d+) column (\d+)/.exec(message);
  const position = /position (\d+)/.exec(message);
  let where: string;
  if (lineCol) where = `line ${lineCol[1]}, column ${lineCol[2]}`;
  else if (position) {
    const { line, column } = lineAndColumn(text, Number(position[1]));
    where = `line ${line}, column ${column}`;
  } else {
    const { line, column } = lineAndColumn(text, text.length);
    where = `line ${line}, column ${column} (end of input)`;
  }
  const reason = message.replace(/\s*\((line \d+ column \d+)\)/, "").replace(/ in JSON at position \d+/, "");
  return `is not valid JSON at ${where}: ${reason}`;
}

type Json = Record<string, unknown>;

/** Fills in defaults; the input must already be schema-valid. */
export function withDefaults(input: Json): Scenario {
  const d = SCENARIO_DEFAULTS;
  const s = input as Partial<Scenario> & Pick<Scenario, "agents" | "durationMinutes" | "outcomes">;
  return {
    ...s,
    seed: s.seed ?? d.seed,
    abandonTarget: s.abandonTarget ?? d.abandonTarget,
    abandonRule: s.abandonRule ?? d.abandonRule,
    startTime: s.startTime ?? d.startTime,
    timeToAnswerSeconds: s.timeToAnswerSeconds ?? { mean: 12, sd: 5 },
    ringTimeoutSeconds: s.ringTimeoutSeconds ?? d.ringTimeoutSeconds,
    busySeconds: s.busySeconds ?? d.busySeconds,
    invalidSeconds: s.invalidSeconds ?? d.invalidSeconds,
    talkSeconds: s.talkSeconds ?? { mean: 180, sd: 90 },
    wrapSeconds: s.wrapSeconds ?? { mean: 30, sd: 10 },
    machineHandleSeconds: s.machineHandleSeconds ?? { ...d.machineHandleSeconds },
    amd: { ...d.amd, ...s.amd },
    power: { ...d.power, ...s.power },
    preview: { ...d.preview, ...s.preview },
  };
}

/** Validates a parsed scenario; `source` names it in errors. */
export function parseScenario(value: unknown, source: string): Scenario {
  const details = validateWith(schemaValidator("simulation-scenario.schema.json"), value);
  if (details.length > 0) throw new ScenarioError(source, details);
  const json = value as Json;
  const outcomes = json.outcomes as OutcomeMix;
  const sum = outcomes.human + outcomes.machine + outcomes.noAnswer + outcomes.busy + outcomes.invalid;
  if (Math.abs(sum - 1) > 1e-6) {
    throw new ScenarioError(source, [{ path: "/outcomes", message: `must sum to 1, got ${Number(sum.toFixed(6))}` }]);
  }
  return withDefaults(json);
}

export function loadScenario(file: string): Scenario {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ScenarioError(file, [{ path: "", message: `cannot be read (${(err as NodeJS.ErrnoException).code})` }]);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ScenarioError(file, [{ path: "", message: describeJsonError(text, err as Error) }]);
  }
  return parseScenario(parsed, file);
}
