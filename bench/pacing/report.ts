/** Renders the pacing benchmark as docs/pacing.md: the method, the results and the goals. */
import type { PolicyName } from "../../core/pacing/types.ts";
import {
  ABANDON_TARGET,
  bestVicidial,
  cellGoals,
  ORACLE_GOAL_MIN_AGENTS,
  ORACLE_SHARE_GOAL,
  physicalCeiling,
  scenarioFor,
  bestSafePower,
  isSafe,
  SMALL_TEAM_RATIOS,
  summaryOf,
  type Cell,
  type CellGoals,
  type CellResult,
  type SmallTeamResult,
  type UkResult,
} from "./sweep.ts";

export interface RunInfo {
  seeds: number;
  /** Seeds per UK cell (older results: the same as `seeds`). */
  ukSeeds?: number;
  durationMinutes: number;
  seconds: number;
  workers: number;
}

const pct = (x: number, digits = 2) => `${(x * 100).toFixed(digits)}%`;
const talk = (r: CellResult, p: PolicyName) => summaryOf(r, p)?.talkMinutesPerAgentHour ?? NaN;
const abandon = (r: CellResult, p: PolicyName) => summaryOf(r, p)?.abandonRate.us30d ?? NaN;
const mark = (ok: boolean | undefined) => (ok === undefined ? "–" : ok ? "yes" : "**no**");
const shortName = (p: PolicyName) => p.replace("vicidial-", "VD ");

const ceilingOf = (r: Cell) => physicalCeiling(scenarioFor(r, 60, 1));

function cellLabel(r: Cell): string {
  return `${r.agents} | ${pct(r.liveRate, 0)} | ${r.amd ? "on" : "off"}`;
}

/** "97%", with a dagger when predictive abandons more than the oracle (the share then flatters it). */
function oracleShare(g: CellGoals): string {
  if (g.ofOracle === undefined) return "–";
  return `${(g.ofOracle * 100).toFixed(0)}%${g.noMoreAbandonmentThanOracle === false ? " †" : ""}`;
}

function goalsTable(results: CellResult[]): string {
  const rows = results.map((r) => {
    const g = cellGoals(r);
    const vici = bestVicidial(r);
    const gainGoal = r.liveRate <= 0.3 ? mark((g.gainOverProgressive ?? 0) >= 0.2) : "–";
    return `| ${cellLabel(r)} | ${talk(r, "predictive").toFixed(1)} | ${pct(abandon(r, "predictive"))} | ${pct(g.seedsOverTarget, 0)} | ${talk(r, "oracle").toFixed(1)} / ${pct(abandon(r, "oracle"))} | ${oracleShare(g)} | ${mark(g.meetsOracleGoal)} | ${ceilingOf(r).toFixed(1)} | ${vici ? `${shortName(vici.policy)}: ${vici.talkMinutesPerAgentHour.toFixed(1)} / ${pct(vici.abandonRate.us30d)}` : "–"} | ${mark(g.beatsVicidial)} | ${talk(r, "progressive").toFixed(1)} | ${g.gainOverProgressive === undefined ? "–" : `${(g.gainOverProgressive * 100).toFixed(0)}%`} | ${gainGoal} |`;
  });
  return [
    "| agents | live | AMD | predictive talk | predictive abandon | seeds > 3% | oracle: talk / abandon | of oracle | oracle goal | ceiling | best VICIdial: talk / abandon | beats it | progressive talk | gain | >= 20% |",
    "|---:|---:|:---:|---:|---:|---:|---:|---:|:---:|---:|---|:---:|---:|---:|:---:|",
    ...rows,
  ].join("\n");
}

function allPoliciesTable(results: CellResult[]): string {
  const policies = results[0]?.policies.map((p) => p.policy) ?? [];
  const rows = results.map(
    (r) =>
      `| ${cellLabel(r)} | ${policies.map((p) => `${talk(r, p).toFixed(1)} / ${pct(abandon(r, p), 1)}`).join(" | ")} |`,
  );
  return [
    `| agents | live | AMD | ${policies.map(shortName).join(" | ")} |`,
    `|---:|---:|:---:|${policies.map(() => "---:").join("|")}|`,
    ...rows,
  ].join("\n");
}

function overall(results: CellResult[]) {
  const big = results.filter((r) => r.agents >= 10);
  const runs = big.length;
  const seedShare = runs === 0 ? 0 : big.reduce((a, r) => a + cellGoals(r).seedsOverTarget, 0) / runs;
  const cellsOver5 = big.filter((r) => cellGoals(r).seedsOverTarget > 0.05).length;
  const vici = results.map(cellGoals).filter((g) => g.beatsVicidial !== undefined);
  const viciMet = vici.filter((g) => g.beatsVicidial).length;
  const low = results.filter((r) => r.liveRate <= 0.3);
  const lowMet = low.filter((r) => (cellGoals(r).gainOverProgressive ?? 0) >= 0.2).length;
  const lowBig = low.filter((r) => r.agents >= 25);
  const lowBigMet = lowBig.filter((r) => (cellGoals(r).gainOverProgressive ?? 0) >= 0.2).length;
  const oracleCells = results.map(cellGoals).filter((g) => g.meetsOracleGoal !== undefined);
  const shares = big.map((r) => cellGoals(r).ofOracle).filter((x): x is number => x !== undefined);
  return {
    oracleMet: oracleCells.filter((g) => g.meetsOracleGoal).length,
    oracleCells: oracleCells.length,
    oracleShareRange:
      shares.length === 0
        ? "–"
        : `${(Math.min(...shares) * 100).toFixed(0)}–${(Math.max(...shares) * 100).toFixed(0)}%`,
    seedShare,
    cellsOver5,
    bigCells: big.length,
    viciMet,
    viciCells: vici.length,
    lowMet,
    lowCells: low.length,
    lowBigMet,
    lowBigCells: lowBig.length,
  };
}

function ukTable(uk: UkResult[]): string {
  const cells = (p: UkResult["pacedToUs"]) =>
    `${p.talkMinutesPerAgentHour.toFixed(1)} | ${pct(p.abandonRate.us30d)} | ${pct(p.abandonRate.ukDaily)}`;
  return [
    "| agents | live | AMD | paced to US: talk | US rate | UK rate | paced to UK: talk | US rate | UK rate | seeds over 3% (UK) | progressive: UK rate / seeds over |",
    "|---:|---:|:---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...uk.map(
      (r) =>
        `| ${cellLabel(r)} | ${cells(r.pacedToUs)} | ${cells(r.pacedToUk)} | ${pct(r.pacedToUk.seedsOverTarget, 1)} | ${r.progressiveUk ? `${pct(r.progressiveUk.abandonRate.ukDaily)} / ${pct(r.progressiveUk.seedsOverTarget, 1)}` : "–"} |`,
    ),
  ].join("\n");
}

function smallTeamTable(results: CellResult[], small: SmallTeamResult[]): string {
  const rows = small.map((t) => {
    const cell = results.find((r) => r.agents === t.agents && r.liveRate === t.liveRate && r.amd === t.amd);
    const ours = cell ? summaryOf(cell, "predictive") : undefined;
    const best = bestSafePower(t);
    const power = t.power
      .map(
        (p) =>
          `${p.summary.talkMinutesPerAgentHour.toFixed(1)} / ${pct(p.summary.abandonRate.us30d, 1)} / ${pct(p.summary.seedsOverTarget, 0)}`,
      )
      .join(" | ");
    const verdict =
      !ours || !best
        ? "–"
        : mark(isSafe(ours) && ours.talkMinutesPerAgentHour >= best.summary.talkMinutesPerAgentHour - 0.05);
    return `| ${cellLabel(t)} | ${ours ? `${ours.talkMinutesPerAgentHour.toFixed(1)} / ${pct(ours.abandonRate.us30d, 1)} / ${pct(ours.seedsOverTarget, 0)}` : "–"} | ${power} | ${best ? `${best.ratio}: ${best.summary.talkMinutesPerAgentHour.toFixed(1)}` : "none"} | ${verdict} |`;
  });
  return [
    `| agents | live | AMD | predictive | ${SMALL_TEAM_RATIOS.map((r) => `power ${r}`).join(" | ")} | best safe power | predictive ≥ it |`,
    `|---:|---:|:---:|---:|${SMALL_TEAM_RATIOS.map(() => "---:").join("|")}|---:|:---:|`,
    ...rows,
  ].join("\n");
}

/** Predictive's talk short of the best safe power ratio, per small cell where it is short. */
function smallTeamShortfalls(results: CellResult[], small: SmallTeamResult[]): string[] {
  const out: string[] = [];
  for (const t of small) {
    const cell = results.find((r) => r.agents === t.agents && r.liveRate === t.liveRate && r.amd === t.amd);
    const ours = cell ? summaryOf(cell, "predictive") : undefined;
    const best = bestSafePower(t);
    if (!ours || !best) continue;
    const gap = best.summary.talkMinutesPerAgentHour - ours.talkMinutesPerAgentHour;
    if (gap > 0.05 || !isSafe(ours))
      out.push(
        `${t.agents} agents / ${pct(t.liveRate, 0)} live / AMD ${t.amd ? "on" : "off"}: ${ours.talkMinutesPerAgentHour.toFixed(1)} against power ${best.ratio}'s ${best.summary.talkMinutesPerAgentHour.toFixed(1)}${isSafe(ours) ? "" : ` (and ${pct(ours.seedsOverTarget, 0)} of seeds over 3%)`}`,
      );
  }
  return out;
}

/** "min–max" of a policy's mean US abandonment across cells, in percent. */
function abandonRange(results: CellResult[], policies: PolicyName[]): string {
  const rates = results.flatMap((r) => policies.map((p) => abandon(r, p))).filter((x) => !Number.isNaN(x));
  return `${(Math.min(...rates) * 100).toFixed(1)}–${(Math.max(...rates) * 100).toFixed(1)}%`;
}

export function renderReport(results: CellResult[], uk: UkResult[], small: SmallTeamResult[], info: RunInfo): string {
  const ukSeeds = info.ukSeeds ?? info.seeds;
  const ukOver = uk.filter((r) => r.pacedToUk.seedsOverTarget > 0.05);
  const smallShort = smallTeamShortfalls(results, small);
  const o = overall(results);
  const predictiveRange = abandonRange(results, ["predictive"]);
  const viciRange = abandonRange(results, ["vicidial-hard-limit", "vicidial-average"]);
  const taperedRange = abandonRange(results, ["vicidial-tapered"]);
  const failingVici = results.filter((r) => cellGoals(r).beatsVicidial === false);
  const failingGain = results.filter((r) => r.liveRate <= 0.3 && (cellGoals(r).gainOverProgressive ?? 0) < 0.2);
  const overTarget = results.filter((r) => r.agents >= 10 && cellGoals(r).seedsOverTarget > 0.05);
  const failingOracle = results.filter((r) => cellGoals(r).meetsOracleGoal === false);
  const oracleFigures = (cells: CellResult[]) =>
    cells.length === 0
      ? "none"
      : cells
          .map((r) => {
            const g = cellGoals(r);
            return `${r.agents} agents / ${pct(r.liveRate, 0)} live / AMD ${r.amd ? "on" : "off"}: ${oracleShare(g)} of the oracle (${talk(r, "predictive").toFixed(1)} against ${talk(r, "oracle").toFixed(1)}), ${pct(g.seedsOverTarget, 0)} of seeds over 3%`;
          })
          .join("; ");
  const smallShares = results
    .filter((r) => r.agents < ORACLE_GOAL_MIN_AGENTS)
    .map((r) => cellGoals(r).ofOracle)
    .filter((x): x is number => x !== undefined);
  const smallShareRange =
    smallShares.length === 0
      ? "–"
      : `${(Math.min(...smallShares) * 100).toFixed(0)}–${(Math.max(...smallShares) * 100).toFixed(0)}%`;
  const ceiling = results[0] ? ceilingOf(results[0]) : NaN;
  const gains = results.map((r) => cellGoals(r).gainOverProgressive ?? 0);
  const maxGain = (Math.max(0, ...gains) * 100).toFixed(0);
  const viciGaps = failingVici.map((r) => {
    const vici = bestVicidial(r);
    return {
      talk: (vici?.talkMinutesPerAgentHour ?? 0) - talk(r, "predictive"),
      abandonShare: vici && vici.abandonRate.us30d > 0 ? abandon(r, "predictive") / vici.abandonRate.us30d : 0,
    };
  });
  const viciGapText =
    viciGaps.length === 0
      ? ""
      : ` (there, its talk is within ${Math.max(...viciGaps.map((g) => g.talk)).toFixed(1)} minute of VICIdial's, at ${(Math.max(...viciGaps.map((g) => g.abandonShare)) * 100).toFixed(0)}% or less of its abandonment)`;
  const smallSafe = small.filter((t) => {
    const cell = results.find((r) => r.agents === t.agents && r.liveRate === t.liveRate && r.amd === t.amd);
    const ours = cell ? summaryOf(cell, "predictive") : undefined;
    return ours !== undefined && isSafe(ours);
  }).length;
  const smallGaps = small.map((t) => {
    const cell = results.find((r) => r.agents === t.agents && r.liveRate === t.liveRate && r.amd === t.amd);
    const ours = cell ? summaryOf(cell, "predictive") : undefined;
    const best = bestSafePower(t);
    return ours && best ? best.summary.talkMinutesPerAgentHour - ours.talkMinutesPerAgentHour : 0;
  });
  const smallVerdict =
    small.length === 0
      ? "Not run."
      : `Predictive is within 3% in ≥ 95% of seeds in ${smallSafe} of ${small.length} small-team cells; its talk is at most ${Math.max(0, ...smallGaps).toFixed(1)} minutes short of the best safe power ratio (median ${[...smallGaps].sort((a, b) => a - b)[Math.floor(smallGaps.length / 2)]?.toFixed(1)}): the goal "never worse than power at ≤ 3%" is met on safety, and on talk only to within that. The largest gaps are at 20% live, where power 1.4 is safe in these seeds and predictive's ratio moves between 1.2 and 1.4: its bound is the aim, which keeps the small-volume margin (0.75% at the start of a day, ~1.7% after two hours at 5 agents), and 1.4 needs ~1.3%. Bounding at the target's share instead (2.55%) closed the talk gap during development but put 13–25% of seeds over 3% in the 20% cells: with ~125 live answers in a 5-agent day, one or two drops more decide it, so the margin stays.`;
  const list = (cells: CellResult[]) =>
    cells.length === 0
      ? "none"
      : cells.map((r) => `${r.agents} agents / ${pct(r.liveRate, 0)} live / AMD ${r.amd ? "on" : "off"}`).join("; ");

  return `# Pacing: policies, compliance accounting, simulator and benchmark

_This file is generated by \`npm run bench:pacing\` (bench/pacing/). Edit the generator, not the file._

The voice dialer decides every second how many calls to place. The decision logic lives in
\`core/pacing/\` as pure functions of a snapshot (agents and what they are doing, calls in
flight, calls waiting, live statistics) plus the policy's own memory; the dialer service
and the simulator (\`core/simulator/\`) build the same snapshot and call the same code.

Reproduce:

\`\`\`sh
npm run bench:pacing                      # the sweep below; writes this file and bench/pacing/results.json
npm run bench:pacing -- --seeds 20 --minutes 240   # more seeds, longer shifts (slower)
npx dialmesh simulate --scenario config/scenarios/outbound-25-agents.json --seeds 5 --json
\`\`\`

\`npx dialmesh\` (from the repository root) runs the project's own bin, \`bin/dialmesh\`: a bash
wrapper that runs \`bin/dialmesh.ts\` on Node 24 through \`scripts/with-toolchain.sh\`, so it
works where the system Node is older (npm then prints EBADENGINE warnings first; they are
harmless). \`bin/dialmesh simulate ...\` does the same without npm.

## Policies

| name | what it does |
|---|---|
| \`preview\` | Each free agent is shown a contact and dials it (the call is the agent's, so it cannot be abandoned), or skips it up to a skip limit; an undecided preview is dialled after 30 s. |
| \`progressive\` | One call per free agent: calls ringing or waiting never outnumber free agents. No abandonment by construction. |
| \`power\` | A fixed number of lines per free agent (\`power.ratio\`, default 2), counting lines already ringing. |
| \`predictive\` | Ours, below. |
| \`oracle\` | Predictive told when each busy agent will be free (simulator only): the bound for any policy that must forecast. Below. |
| \`vicidial-hard-limit\`, \`vicidial-tapered\`, \`vicidial-average\` | VICIdial's adaptive methods, re-implemented below as the open-source baseline. |

### Predictive (ours)

Every second, for a grid of instants over the next 1 to ~25 seconds (out to where 99% of
connecting calls have connected), it forecasts:

- **agents free by then, plus the 2-second grace** a connect may wait: every ready agent;
  each wrapping agent with the chance its wrap-up ends in time given how long it has been
  wrapping; each talking agent with the chance its talk ends in time to also do its
  wrap-up (averaged over four quartile wrap-up lengths); minus calls already waiting. Talk and wrap-up times are the campaign's own,
  as **Kaplan-Meier** survival curves from histograms of completed times in which agents
  busy now count as censored observations. Parametric fits fail here: without AMD, agents'
  talk times mix 8-second answering machines with 3-minute conversations, and early in a
  shift only the short calls have finished (a fitted mean is far too short, and the dialer
  floods). Until 30 calls have completed, lognormal priors stand in, and past the last
  observation of a curve the prior's tail continues it (a Kaplan-Meier curve says nothing
  beyond its data; reading it as zero would call every long call about to end).
- **connects by then from calls already ringing**: each call's chance of still connecting
  given how long it has rung (Bayes on connect-time and failure-time lognormals, learnt
  from settled calls only, for the same reason as the rate below).
- **connects by then per new call**, at the connect rate estimated over *settled* calls
  only (dialled long enough ago to have surely connected or failed). Counting calls still
  ringing, or only calls that have ended, biases the rate low at the start of a shift (the
  quick failures — busy, invalid — end first), which made the first version over-dial by
  a factor of five in the first minute. New and ringing calls are both judged at an upper
  confidence bound of the rate (two standard errors), so a campaign with no history
  starts progressive.

It then places the largest number of new calls whose expected overflow — the peak, over the
grid, of expected connects in excess of free agents (normal approximation of both counts,
variances added) — stays within an *allowance* of the expected connects. The forecast is a
fluid, static one (connects and agent releases are in fact spread in time), so the
allowance is not a prediction of the abandonment rate; it is calibrated by feedback.
Every 30 s it is multiplied by \`exp(gain × error)\`, where the error is the relative gap
between the aim and the observed abandonment rate — the larger of the last 15 minutes'
and today's, each shrunk toward the aim with 40 live answers of prior weight, so one early
drop does not swing it. Today's rate is in the error because regulators judge the
cumulative rate: a clean quarter of an hour does not license spending the day's budget.
The gain is 0.35 when cutting and 0.1 when raising: a quiet spell with few live answers is
weak evidence, and the first version, symmetric, let a 10-agent campaign see no drop for
twenty minutes, raise its allowance thirty-fold and then drop seven calls in five seconds.
The allowance stays between 0.0001 and 0.1, and starts at 0.002 scaled down by the aim's
distance below 85% of the target (below): the first feedback comes only once the first calls
have connected, and the start of a shift, on the priors, is when the release forecast is
at its worst.

The aim is 85% of the target, lowered further while today's live answers are few: at most
the target minus one binomial standard error of today's rate (√(p(1−p)/(n+40)) at the
target p), because a small campaign's daily rate lands well away from its expectation. It
never places fewer calls than progressive would, and never more than 6 lines per agent.
All knobs are options of \`createPredictivePolicy\` (and the scenario's \`predictive\` block).

### The oracle (the bound)

\`oracle\` is predictive with one thing it could never have live: the simulator hands it
(in the snapshot's \`knownSecondsUntilFree\`, which only the simulator fills) the talk and
wrap-up end of every busy agent it has already drawn, so each agent's release is a
certainty instead of a Kaplan-Meier forecast. It still does not know how any call, new or
ringing, will end, and otherwise it is predictive: the same connect model, overflow
allowance, feedback and aim. Its talk time per agent-hour is therefore what perfect
forecasting of agent availability would be worth; predictive's share of it is how much
forecasting is still worth improving. The sweep also prints the **physical ceiling**: every
agent-minute not spent in wrap-up is talk with a person, talk / (talk + wrap-up) × 60 =
${ceiling.toFixed(1)} minutes here, which no dialer reaches (it would need a person on the line
the instant an agent is free, and no machines, no waiting and no abandonment).

### VICIdial adaptive (the baseline), re-implemented

From \`AST_VDadapt.pl\` (subs \`count_agents_lines\` and \`calculate_dial_level\`) and
\`AST_VDauto_dial.pl\`, with VICIdial's defaults (\`auto_dial_level\` start 1.0,
\`adaptive_maximum_level\` 3.0, floor 1.0, \`adaptive_dropped_percentage\` 3,
\`adaptive_intensity\` 0, \`adaptive_dl_diff_target\` 0, \`adaptive_latest_server_time\` 2100,
\`available_only_ratio_tally\` N):

- every second: sample ready agents (READY/DONE), live calls waiting for an agent and
  logged-in agents; keep the last 15 samples;
- every 15 seconds: differential = avg(ready) − avg(waiting) + dl_diff_target; new level =
  level × (1 + differential / avg(agents)), the step scaled by the intensity (×(1+i/100) up,
  ×|i/100 − 1| down), capped at the maximum and floored at 1.0;
- drop statistics refresh every 60 seconds; if more than 20 calls were placed in the last
  minute and over 50% dropped, the level halves; if more than 50 calls were placed today and
  drops exceed the target share of today's answers: **HARD_LIMIT** sets 1.0, **AVERAGE**
  halves, **TAPERED** multiplies by (latest_server_time − HHMM now) / 1000 — VICIdial's own
  HHMM arithmetic, so before 11:00 with the default 21:00 there is no cut at all — and sets
  1.0 past the latest time;
- calls to place = round(level × (ready + talking agents)) − (ringing + waiting + with
  agents). Agents in wrap-up are VICIdial's paused DISPO state and do not count.

Not reproduced: dial-level and available-only tally thresholds (default DISABLED), drop-rate
groups, in-group blending. Behaviour worth knowing when reading the table: the adaptive
methods aim at zero agents waiting, so they run hot and then hit the daily drop limit; the
cut takes the level to (or near) 1.0, where the campaign dials like progressive until
today's rate falls back under 3%, then the level climbs again. In these runs HARD_LIMIT and
AVERAGE usually coincide (a halved level near 2 is floored to 1.0), and TAPERED — started
at 09:00 — is not cut at all for two hours and mostly runs at the 3.0 cap.

## The simulator

A seeded discrete-event simulation (\`core/simulator/\`, own sfc32 generator with separate
streams for call outcomes, handle times and breaks, so every policy meets the same k-th call
and the same agent behaviour). Dials end as person, machine, no answer, busy or invalid;
answers come after a lognormal time and become no-answers past the ring timeout. With AMD
on, answered calls are classified after its latency: machines missed reach agents, people
taken for machines are hung up on (the false positives the UK counts). Live calls queue for
a free agent; one no agent takes within 2 s is abandoned. Agents talk and wrap up for
lognormal times (machines that reach an agent cost ~8 s plus 3 s), and take breaks when the
scenario has them. Measures per run: talk minutes (with people) per agent-hour, occupancy
(talk + wrap over logged-in time net of breaks), abandonment by each regulator's definition
(core/regulation — US: abandoned / live answers over a rolling 30 days; UK: per calendar
day, AMD false positives added to both sides; Canada: per calendar day, 5% limit), attempts
per connected person, the 95th percentile of an agent's wait between calls, and the worst
rolling 60-minute abandonment. With several seeds the report gives means and the share of
seeds over the target (US definition).

Simplifications: the dialer is told whether an abandoned or connected call was a person
(a real dialer learns it from agent dispositions); every agent is logged in for the whole
run; there is no list exhaustion or retry scheduling.

## The sweep

Agents 5, 10, 25, 50, 100 × live-answer rate 10–50% (the rest: 25% machines, 45% no
answer, 20% busy, 10% invalid) × AMD off/on (sensitivity 95%, specificity 98%, 2.5 s);
time to answer 12 ± 5 s, ring timeout 20 s, talk 180 ± 90 s, wrap-up 30 ± 10 s; shift from
09:00; target ${pct(ABANDON_TARGET, 0)}. **${info.seeds} seeds per cell (${ukSeeds} per UK cell), ${info.durationMinutes} simulated minutes per run**
(shorter than a real shift to keep the sweep to a few minutes: ${results.length} cells ×
${results[0]?.policies.length ?? 0} policies × ${info.seeds} seeds, the UK cells and the small-team power ratios ran in ${info.seconds.toFixed(0)} s on
${info.workers} worker threads).

### Goals

| goal | result |
|---|---|
| **Predictive ≥ ${pct(ORACLE_SHARE_GOAL, 0)} of the oracle's talk time in every cell with ≥ ${ORACLE_GOAL_MIN_AGENTS} agents, with abandonment ≤ 3% in ≥ 95% of seeds** (the cell's jurisdiction definition: US here, GB in the UK table below) | ${o.oracleMet} of ${o.oracleCells} cells (predictive at ${o.oracleShareRange} of the oracle) — ${o.oracleMet === o.oracleCells ? "**met**" : "**not met** (see below)"} |
| With ≥ 10 agents, predictive keeps abandonment ≤ 3% in ≥ 95% of seeds | ${pct(o.seedShare, 1)} of seeds over 3% overall; cells with more than 5% of seeds over: ${o.cellsOver5} of ${o.bigCells} — ${o.seedShare <= 0.05 && o.cellsOver5 === 0 ? "**met**" : "**not met** (see below)"} |
| At least the talk time of the best VICIdial method at equal or lower abandonment, every cell | ${o.viciMet} of ${o.viciCells} cells — ${o.viciMet === o.viciCells ? "**met**" : "**not met** (see below)"} |
| ≥ 20% more talk per agent-hour than progressive where the live rate ≤ 30% | ${o.lowMet} of ${o.lowCells} cells (${o.lowBigMet} of ${o.lowBigCells} with 25+ agents) — ${o.lowMet === o.lowCells ? "**met**" : "**not met** (see below)"} |

The first goal is the one that matters; the others are the earlier yardsticks, kept for
comparison ("+20% over progressive" asks for ~96% occupancy where progressive already keeps
agents ~80% busy, see below). "Of oracle" is predictive's talk time as a share of the
oracle's; a † marks cells where predictive's mean abandonment is higher than the oracle's
(the share then flatters predictive a little). "Ceiling" is the physical ceiling above.
"Best VICIdial method" is, per cell, the method with the most talk time among those whose
mean abandonment is within 3%; when none is (the usual case), the one with the least
abandonment. "Beats it" means predictive has at least its talk time *and* no more
abandonment.

### Per cell: predictive against the goals

Talk in minutes per agent-hour; abandonment is the US definition (mean over seeds).

${goalsTable(results)}

### Per cell: every policy (talk / abandonment)

${allPoliciesTable(results)}

### Small teams: predictive against power

Under ${ORACLE_GOAL_MIN_AGENTS} agents a team is too small to forecast: a handful of agents
free up per ring cycle, each a coin toss, and the forecast's variance swamps it. There
\`predictive\` falls back by itself to a power-like rule (and says so in its decision's
reason): lines for ready agents only, \`round(ratio × ready)\` counting those already
ringing, at the largest ratio (in steps of 0.1) for which, for every number of ready agents
the team can have, the expected people answering in excess of them — counting no release,
so safe by construction — stays within the aim of the people expected. Only people count
as competing: a machine that reaches an agent holds it ~11 s, about the spread of the
connects. The person-answer rate is taken at the same upper confidence bound as the
connect rate, so with no history the ratio is 1 (progressive), and the bound tightens in
proportion while the observed rate is over the aim. The first ratio to fail is usually the
one that puts two lines on a lone ready agent — the cliff in power's table below.

Power at each ratio (talk / abandonment / seeds over 3%), against predictive; "best safe
power" is the ratio with the most talk among those within 3% in ≥ 95% of seeds and on
average; "predictive ≥ it" asks for its talk (within 0.05) and the same safety:

${smallTeamTable(results, small)}

### The UK definition and AMD

The goals above use the US definition. Ofcom also counts the people AMD hangs up on as
abandoned calls, and the dialer cannot see them: at 98% specificity they alone are 2% of
live answers, two thirds of the 3% budget. Paced to the US definition, every AMD-on cell of
predictive (and of power) is over 3% by the UK's count; progressive sits at ~2%. A UK
campaign sets \`"abandonRule": "GB"\` in its scenario (the dialer service will take it
from the campaign), which hands the policy the target net of the expected false positives
(1 − specificity), the AMD false-positive estimate, and tells it that share is unseen
(\`unseenAbandonShare\`). Predictive, AMD on, 20% live, **${ukSeeds} seeds per cell** (with 8,
"95% of seeds" could only read 0 of 8; one seed in 8 over was the previous version's
result at 25 and 50 agents):

${ukTable(uk)}

Cells over 3% (UK) in more than 5% of seeds: ${ukOver.length === 0 ? "none" : ukOver.map((r) => `${r.agents} agents (${pct(r.pacedToUk.seedsOverTarget, 1)})`).join(", ")}.

What changed for the UK. The false positives are a binomial count the dialer never sees,
so no feedback can undo an unlucky day of them: at 25 agents and 20% live a 2-hour day
has ~730 live answers, and the false-positive share alone has a standard error of ~0.5
points around its 2%. The aim's small-volume margin is now the standard error of the
*whole* UK rate (at the 3% target, not the 1% left after the estimate), taken
${"1.65"} times (one-sided 95%) instead of once, with a lower floor (10% of the net target
instead of 25%), because the margin must cover the unseen part in advance; and the
allowance starts scaled down with the aim (above), since with the UK aim near its floor the
first minute's burst — agents all busy, the release forecast still on its priors — was
where the 25-agent seeds over 3% spent their drops. The window
needs no change: the UK's period is the calendar day (config/regulation), and
predictive's "today" already runs from local midnight. During development, over the same
32 seeds, the previous aim had 18.8% / 3.1% / 0% of seeds over at 25 / 50 / 100 agents
for 43.2 / 45.9 / 47.7 talk minutes (paced to UK); against those, the talk cost of the
changes is the "paced to UK: talk" column. What is left is the false positives' own variance: the last
column is progressive, which abandons nothing, judged by the UK rule — its seeds over 3%
are the false positives' doing alone. A tighter AMD setting, or no AMD, is the lever there.

## Where it falls short, and why

- Cells (10+ agents) under ${pct(ORACLE_SHARE_GOAL, 0)} of the oracle or over 3% in more than 5% of seeds: ${oracleFigures(failingOracle)}.
- UK cells (GB rule) over 3% in more than 5% of seeds: ${ukOver.length === 0 ? "none" : ukOver.map((r) => `${r.agents} agents: ${pct(r.pacedToUk.seedsOverTarget, 1)} of ${ukSeeds} seeds, UK rate ${pct(r.pacedToUk.abandonRate.ukDaily)} on average`).join("; ")}.
- Small teams where predictive is short of the best safe power ratio: ${smallShort.length === 0 ? "none" : smallShort.join("; ")}.
- Cells over 3% in more than 5% of seeds (10+ agents): ${list(overTarget)}.
- Cells where predictive does not beat the best VICIdial method: ${list(failingVici)}.
- Cells (live ≤ 30%) with less than 20% more talk than progressive: ${list(failingGain)}.

**Against the oracle.** With 10 or more agents predictive gets ${o.oracleShareRange} of the
oracle's talk time (with fewer, ${smallShareRange}, where predictive paces power-like and the
oracle, which has no small-team rule, does not): knowing every release exactly is worth
little, because with a dozen or more agents busy the releases due within a ring cycle are
many, so their sum is well forecast even though each one is a coin toss, and what is left
— which of the calls placed will connect, and when — the oracle does not know either. The
rest of the distance to the physical ceiling (${ceiling.toFixed(1)}) is the price of the 3% rule
itself: the oracle too must wait for a person to answer, and cannot place the calls
that would fill the last gaps without queueing them.

**Small teams and 30% live answers (the 20% goal).** Progressive's loss is the time an
agent waits for a person after each call: about (seconds per attempt) / (live rate), some
40 s at 30% live against a 3.5-minute handle, so progressive already runs at ~80%
occupancy and ~41 talk minutes per agent-hour. The ceiling at 100% occupancy is
180 / 210 × 60 ≈ 51 minutes, so +20% (≈ 49) needs ~96% occupancy, which no policy reaches
at 3% abandonment (the last points of occupancy are bought with queueing: VICIdial's
TAPERED gets there at ${taperedRange} abandonment). See the gain column above for how close
the larger teams come at 30% live. With 5 or 10 agents few agents free up within a ring
cycle, so the forecast of free agents is a small count with a large relative variance,
every over-dial shows up in the rate at once, and the policy stays near progressive (under
10 agents it paces power-like, above); the goal is met where progressive waits long
(10–20% live with 25 or more agents, up to +${maxGain}%).

**Small teams against power.** ${smallVerdict}

**Abandonment well under the aim.** Predictive's mean rate is ${predictiveRange} against an aim of
about 2.5%: raising the allowance is deliberately slow (0.1 against 0.35 for cuts), and the
small-volume margin bites early in each run. In these scenarios talk time is flat in that
range — during tuning, faster raising lifted abandonment to 2–2.5% for ±0.5 talk minutes —
so the margin costs little and buys the compliance goal: ${o.cellsOver5 === 0 ? "no cell with 10 or more agents over 3% in more than 5% of seeds" : `${o.cellsOver5} cells with 10 or more agents over 3% in more than 5% of seeds`} (the first tuning had 1–3% of seeds over, all of them runs whose allowance had run
up during a quiet spell).

**Against VICIdial.** The adaptive methods aim at zero agents waiting, so they run over
the target and then sit at dial level 1.0 (progressive) until the day's rate recovers:
their mean abandonment is ${viciRange} (TAPERED ${taperedRange}) for talk barely above progressive's.
Predictive gives more talk at a fraction of the abandonment in every cell but those
listed above${viciGapText}.

**Power** (2 lines per free agent) is a strong baseline where it happens to fit: with
50–100 agents and 30–50% live it talks within a minute of predictive at low abandonment,
but the same ratio abandons up to ${abandonRange(results, ["power"]).split("–")[1]} with 5–10 agents or 40–50% live. A fixed ratio is right
for one campaign shape; predictive finds its own.

**Model limits.** The simulator tells the dialer whether a dropped or connected call was a
person (a real dialer learns it from dispositions, late); agents all work the whole run; no
list exhaustion, retries or inbound blending; ${info.durationMinutes}-minute runs, so "today" never resets and
the US 30-day rate is the run's rate.
`;
}
