/** Runs a scenario under several policies and seeds; the simulator's entry point. */
import { POLICY_NAMES, type PolicyName } from "../pacing/types.ts";
import { loadRegulationTable } from "../regulation/load.ts";
import type { AbandonmentRule, RegulationTable } from "../regulation/types.ts";
import { measureRun, summarise, type AbandonmentRules, type PolicySummary, type RunMeasures } from "./metrics.ts";
import type { Scenario } from "./scenario.ts";
import { simulate } from "./simulation.ts";

export { loadScenario, parseScenario, ScenarioError, type Scenario } from "./scenario.ts";
export { simulate, type RunResult } from "./simulation.ts";
export type { PolicySummary, RunMeasures } from "./metrics.ts";

export interface SimulationReport {
  policies: PolicySummary[];
}

function rule(table: RegulationTable, code: string): AbandonmentRule {
  const found = table.jurisdictions[code]?.abandonment;
  if (!found) throw new Error(`regulation data has no abandonment rule for ${code}`);
  return found;
}

/** The US, UK and Canadian abandonment rules from config/regulation/. */
export function abandonmentRules(table: RegulationTable = loadRegulationTable()): AbandonmentRules {
  return { us: rule(table, "US"), uk: rule(table, "GB"), ca: rule(table, "CA") };
}

export interface RunOptions {
  policies?: readonly PolicyName[];
  /** Number of seeds: scenario.seed, scenario.seed + 1, ... */
  seeds?: number;
  rules?: AbandonmentRules;
}

export function runScenario(scenario: Scenario, options: RunOptions = {}): SimulationReport {
  const policies = options.policies ?? scenario.policies ?? POLICY_NAMES;
  const seeds = options.seeds ?? 1;
  const rules = options.rules ?? abandonmentRules();
  return {
    policies: policies.map((policy) => {
      const runs: RunMeasures[] = [];
      for (let i = 0; i < seeds; i++) runs.push(measureRun(simulate(scenario, policy, scenario.seed + i), rules));
      return summarise(policy, runs, scenario.abandonTarget, scenario.abandonRule);
    }),
  };
}
