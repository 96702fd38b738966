/** Per-run measures and their summary across seeds, in the CLI's output shape. */
import type { PolicyName } from "../pacing/types.ts";
import { abandonmentRate, worstAbandonmentRate } from "../regulation/abandonment.ts";
import type { AbandonmentRule } from "../regulation/types.ts";
import type { RunResult } from "./simulation.ts";

/** The three regulators' definitions the report uses. */
export interface AbandonmentRules {
  us: AbandonmentRule;
  uk: AbandonmentRule;
  ca: AbandonmentRule;
}

export interface RunMeasures {
  seed: number;
  talkMinutesPerAgentHour: number;
  occupancy: number;
  abandonRate: { us30d: number; ukDaily: number; ca: number };
  attemptsPerConnect: number;
  idleWaitP95Seconds: number;
  worstWindowAbandonRate: number;
}

export interface PolicySummary {
  policy: PolicyName;
  seeds: number;
  talkMinutesPerAgentHour: number;
  occupancy: number;
  abandonRate: { us30d: number; ukDaily: number; ca: number };
  /** Share of seeds whose abandonment rate (the scenario's rule, US by default) is over its target. */
  seedsOverTarget: number;
  attemptsPerConnect: number;
  idleWaitP95Seconds: number;
  /** Mean over seeds of the worst rolling 60-minute abandonment rate (US definition). */
  worstWindowAbandonRate: number;
}

/** Length of the rolling window for `worstWindowAbandonRate`. */
export const ROLLING_WINDOW_SECONDS = 3600;

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank] as number;
}

function countIn(times: readonly number[], from: number, to: number): number {
  let n = 0;
  for (const t of times) if (t >= from && t < to) n++;
  return n;
}

/** Worst abandoned/live-answered over 60-minute windows sliding by a minute (whole run if shorter). */
export function worstWindowRate(run: Pick<RunResult, "durationSeconds" | "liveAnswerTimes" | "abandonTimes">): number {
  const length = Math.min(ROLLING_WINDOW_SECONDS, run.durationSeconds);
  let worst = 0;
  for (let from = 0; from + length <= run.durationSeconds; from += 60) {
    const live = countIn(run.liveAnswerTimes, from, from + length);
    if (live > 0) worst = Math.max(worst, countIn(run.abandonTimes, from, from + length) / live);
  }
  return worst;
}

export function measureRun(run: RunResult, rules: AbandonmentRules): RunMeasures {
  const agentHours = (run.agents * run.durationSeconds) / 3600;
  const available = run.agents * run.durationSeconds - run.breakSeconds;
  const lastDay = run.days.reduce((d, t) => Math.max(d, t.day), 0);
  return {
    seed: run.seed,
    talkMinutesPerAgentHour: run.humanTalkSeconds / 60 / agentHours,
    occupancy: available > 0 ? run.handleSeconds / available : 0,
    abandonRate: {
      us30d: abandonmentRate(rules.us, run.days, lastDay).rate,
      ukDaily: worstAbandonmentRate(rules.uk, run.days).rate,
      ca: worstAbandonmentRate(rules.ca, run.days).rate,
    },
    attemptsPerConnect: run.humanConnects > 0 ? run.dials / run.humanConnects : run.dials,
    idleWaitP95Seconds: percentile(run.idleWaits, 0.95),
    worstWindowAbandonRate: worstWindowRate(run),
  };
}

const mean = (xs: readonly number[]) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);
const round = (x: number, digits: number) => Number(x.toFixed(digits));

const RATE_OF_RULE = { US: "us30d", GB: "ukDaily", CA: "ca" } as const;

export function summarise(
  policy: PolicyName,
  runs: readonly RunMeasures[],
  abandonTarget: number,
  rule: keyof typeof RATE_OF_RULE = "US",
): PolicySummary {
  const rateOf = (m: RunMeasures) => m.abandonRate[RATE_OF_RULE[rule]];
  const avg = (pick: (m: RunMeasures) => number) => mean(runs.map(pick));
  return {
    policy,
    seeds: runs.length,
    talkMinutesPerAgentHour: round(
      avg((m) => m.talkMinutesPerAgentHour),
      2,
    ),
    occupancy: round(
      avg((m) => m.occupancy),
      4,
    ),
    abandonRate: {
      us30d: round(
        avg((m) => m.abandonRate.us30d),
        5,
      ),
      ukDaily: round(
        avg((m) => m.abandonRate.ukDaily),
        5,
      ),
      ca: round(
        avg((m) => m.abandonRate.ca),
        5,
      ),
    },
    seedsOverTarget: round(runs.filter((m) => rateOf(m) > abandonTarget).length / Math.max(1, runs.length), 4),
    attemptsPerConnect: round(
      avg((m) => m.attemptsPerConnect),
      3,
    ),
    idleWaitP95Seconds: round(
      avg((m) => m.idleWaitP95Seconds),
      1,
    ),
    worstWindowAbandonRate: round(
      avg((m) => m.worstWindowAbandonRate),
      5,
    ),
  };
}
