/**
 * The pacing benchmark's grid, one cell's runs, and the goals, shared by the runner and its
 * workers. A cell is one campaign shape (agents, live-answer rate, AMD on/off) run under
 * every policy for every seed.
 */
import type { PolicyName } from "../../core/pacing/types.ts";
import { POLICY_NAMES } from "../../core/pacing/types.ts";
import { abandonmentRules } from "../../core/simulator/index.ts";
import { measureRun, summarise, type PolicySummary, type RunMeasures } from "../../core/simulator/metrics.ts";
import { withDefaults, type Scenario } from "../../core/simulator/scenario.ts";
import { simulate } from "../../core/simulator/simulation.ts";

export const AGENTS = [5, 10, 25, 50, 100] as const;
export const LIVE_RATES = [0.1, 0.2, 0.3, 0.4, 0.5] as const;
export const AMD = [false, true] as const;
export const ABANDON_TARGET = 0.03;

export interface Cell {
  agents: number;
  liveRate: number;
  amd: boolean;
}

export interface CellResult extends Cell {
  policies: PolicySummary[];
}

/**
 * The campaign of a cell: `liveRate` of dials reach a person; the rest split as machines
 * 25%, no answer 45%, busy 20%, invalid 10%. Handle times as in the example.
 */
export function scenarioFor(
  cell: Cell,
  durationMinutes: number,
  seed: number,
  abandonRule: Scenario["abandonRule"] = "US",
): Scenario {
  const rest = 1 - cell.liveRate;
  return withDefaults({
    agents: cell.agents,
    durationMinutes,
    seed,
    abandonTarget: ABANDON_TARGET,
    abandonRule,
    startTime: "09:00",
    outcomes: {
      human: cell.liveRate,
      machine: rest * 0.25,
      noAnswer: rest * 0.45,
      busy: rest * 0.2,
      invalid: rest * 0.1,
    },
    timeToAnswerSeconds: { mean: 12, sd: 5 },
    ringTimeoutSeconds: 20,
    talkSeconds: { mean: 180, sd: 90 },
    wrapSeconds: { mean: 30, sd: 10 },
    amd: { enabled: cell.amd, sensitivity: 0.95, specificity: 0.98, latencySeconds: 2.5 },
    power: { ratio: 2 },
  });
}

export function runCell(
  cell: Cell,
  durationMinutes: number,
  seeds: number,
  policies: readonly PolicyName[] = POLICY_NAMES,
): CellResult {
  const rules = abandonmentRules();
  const summaries = policies.map((policy) => {
    const runs: RunMeasures[] = [];
    for (let seed = 1; seed <= seeds; seed++) {
      runs.push(measureRun(simulate(scenarioFor(cell, durationMinutes, seed), policy, seed), rules));
    }
    return summarise(policy, runs, ABANDON_TARGET);
  });
  return { ...cell, policies: summaries };
}

export function summaryOf(result: CellResult, policy: PolicyName): PolicySummary | undefined {
  return result.policies.find((p) => p.policy === policy);
}

const VICIDIAL: PolicyName[] = ["vicidial-hard-limit", "vicidial-tapered", "vicidial-average"];

/**
 * The VICIdial method to beat in a cell: the most talk time among the methods within the
 * abandonment target; when none is, the one with the least abandonment.
 */
export function bestVicidial(result: CellResult): PolicySummary | undefined {
  const methods = VICIDIAL.map((p) => summaryOf(result, p)).filter((p): p is PolicySummary => p !== undefined);
  const compliant = methods.filter((m) => m.abandonRate.us30d <= ABANDON_TARGET);
  if (compliant.length > 0)
    return compliant.reduce((a, b) => (b.talkMinutesPerAgentHour > a.talkMinutesPerAgentHour ? b : a));
  return methods.reduce<PolicySummary | undefined>(
    (a, b) => (!a || b.abandonRate.us30d < a.abandonRate.us30d ? b : a),
    undefined,
  );
}

/**
 * The physical ceiling of a campaign's talk minutes per agent-hour: every agent-minute not
 * spent in wrap-up is talk with a person (no waiting, no machines, no abandonment).
 */
export function physicalCeiling(scenario: Scenario): number {
  return (60 * scenario.talkSeconds.mean) / (scenario.talkSeconds.mean + scenario.wrapSeconds.mean);
}

/** Predictive's share of the oracle's talk time that the goal asks for, with 10 or more agents. */
export const ORACLE_SHARE_GOAL = 0.9;
export const ORACLE_GOAL_MIN_AGENTS = 10;

export interface CellGoals {
  /** Share of seeds over 3% (goal: at most 5%, with 10 or more agents). */
  seedsOverTarget: number;
  /** Predictive's talk time as a share of the oracle's (goal: >= 90% with 10 or more agents). */
  ofOracle: number | undefined;
  /** Whether predictive's abandonment is no higher than the oracle's (else its share flatters it). */
  noMoreAbandonmentThanOracle: boolean | undefined;
  /** The oracle goal: >= 90% of the oracle and <= 3% in >= 95% of seeds (cells with 10+ agents). */
  meetsOracleGoal: boolean | undefined;
  /** Talk time >= the best VICIdial method's, at equal or lower abandonment. */
  beatsVicidial: boolean | undefined;
  /** Talk time gain over progressive (goal: >= 20% where the live rate is <= 30%). */
  gainOverProgressive: number | undefined;
}

export function cellGoals(result: CellResult): CellGoals {
  const ours = summaryOf(result, "predictive");
  const vici = bestVicidial(result);
  const progressive = summaryOf(result, "progressive");
  const oracle = summaryOf(result, "oracle");
  const ofOracle =
    ours && oracle && oracle.talkMinutesPerAgentHour > 0
      ? ours.talkMinutesPerAgentHour / oracle.talkMinutesPerAgentHour
      : undefined;
  const seedsOverTarget = ours?.seedsOverTarget ?? 0;
  return {
    seedsOverTarget,
    ofOracle,
    noMoreAbandonmentThanOracle: ours && oracle ? ours.abandonRate.us30d <= oracle.abandonRate.us30d : undefined,
    meetsOracleGoal:
      result.agents >= ORACLE_GOAL_MIN_AGENTS && ofOracle !== undefined
        ? ofOracle >= ORACLE_SHARE_GOAL && seedsOverTarget <= 0.05
        : undefined,
    beatsVicidial:
      ours && vici
        ? ours.talkMinutesPerAgentHour >= vici.talkMinutesPerAgentHour &&
          ours.abandonRate.us30d <= vici.abandonRate.us30d
        : undefined,
    gainOverProgressive:
      ours && progressive && progressive.talkMinutesPerAgentHour > 0
        ? ours.talkMinutesPerAgentHour / progressive.talkMinutesPerAgentHour - 1
        : undefined,
  };
}

/** UK cells: AMD on, predictive paced to the US definition and to the UK one. */
export const UK_CELLS: Cell[] = [25, 50, 100].map((agents) => ({ agents, liveRate: 0.2, amd: true }));

export interface UkResult extends Cell {
  pacedToUs: PolicySummary;
  pacedToUk: PolicySummary;
  /** Progressive judged by the UK rule: what the false positives alone do (it abandons nothing). */
  progressiveUk?: PolicySummary;
}

/** Power ratios the small-team table tries, to find the best one that stays within 3%. */
export const SMALL_TEAM_RATIOS = [1.2, 1.4, 1.6, 1.8, 2] as const;

export interface SmallTeamResult extends Cell {
  /** Power at each ratio of SMALL_TEAM_RATIOS. */
  power: { ratio: number; summary: PolicySummary }[];
}

/** A cell too small to forecast (under ORACLE_GOAL_MIN_AGENTS agents): power at several ratios. */
export function runSmallTeamCell(cell: Cell, durationMinutes: number, seeds: number): SmallTeamResult {
  const rules = abandonmentRules();
  return {
    ...cell,
    power: SMALL_TEAM_RATIOS.map((ratio) => {
      const runs: RunMeasures[] = [];
      for (let seed = 1; seed <= seeds; seed++) {
        const scenario = { ...scenarioFor(cell, durationMinutes, seed), power: { ratio } };
        runs.push(measureRun(simulate(scenario, "power", seed), rules));
      }
      return { ratio, summary: summarise("power", runs, ABANDON_TARGET) };
    }),
  };
}

/** Within 3% in >= 95% of seeds, and on average. */
export function isSafe(summary: PolicySummary): boolean {
  return summary.seedsOverTarget <= 0.05 && summary.abandonRate.us30d <= ABANDON_TARGET;
}

/** The power ratio with the most talk among the safe ones (undefined if none is). */
export function bestSafePower(result: SmallTeamResult): { ratio: number; summary: PolicySummary } | undefined {
  return result.power
    .filter((p) => isSafe(p.summary))
    .reduce<{ ratio: number; summary: PolicySummary } | undefined>(
      (best, p) => (!best || p.summary.talkMinutesPerAgentHour > best.summary.talkMinutesPerAgentHour ? p : best),
      undefined,
    );
}

export function runUkCell(cell: Cell, durationMinutes: number, seeds: number): UkResult {
  const rules = abandonmentRules();
  const paced = (rule: "US" | "GB", policy: PolicyName = "predictive") => {
    const runs: RunMeasures[] = [];
    for (let seed = 1; seed <= seeds; seed++) {
      runs.push(measureRun(simulate(scenarioFor(cell, durationMinutes, seed, rule), policy, seed), rules));
    }
    return summarise(policy, runs, ABANDON_TARGET, rule === "GB" ? "GB" : "US");
  };
  return { ...cell, pacedToUs: paced("US"), pacedToUk: paced("GB"), progressiveUk: paced("GB", "progressive") };
}
