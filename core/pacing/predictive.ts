/**
 * Predictive pacing (ours). Every decision forecasts, on a grid of instants over the next
 * ~25 seconds (until nearly every new call would have connected):
 *  - agents free by each instant plus the 2-second grace: ready agents, and each busy
 *    agent's chance of finishing (talk, then a wrap-up; or the wrap-up under way) given how
 *    long it has been busy, from the campaign's own Kaplan-Meier handle-time curves with
 *    busy agents censored (lognormal priors before enough calls have completed and past
 *    the data), minus calls already waiting;
 *  - connects by each instant from calls ringing now (Bayes on connect and failure time
 *    survival) and per new call, at a cautious connect rate learnt from settled calls;
 * and places the largest number of new calls whose expected overflow (the peak excess of
 * connects over free agents, normal approximation) stays within an allowance of the
 * expected connects. The forecast is static and fluid, so the allowance is calibrated by
 * feedback on the abandonment observed (today's and the last 15 minutes'), cutting fast
 * and raising slowly, against an aim below the target (its margin widened for what the
 * regulator counts and the dialer cannot see: UK AMD false positives). Below 10 agents it
 * paces power-like instead (`safeFixedRatio`). The oracle (`createOraclePolicy`) is the same
 * policy told busy agents' release times, for the simulator. docs/pacing.md explains the
 * choices and what each one fixed.
 */
import {
  expectedPositivePart,
  logNormalEndsWithin,
  logNormalFromMoments,
  logNormalCdf,
  type LogNormal,
} from "./distributions.ts";
import { standardDeviation } from "./statistics.ts";
import { endsWithin, survivalCurve } from "./durations.ts";
import { dialsOnly, type AgentActivity, type Moments, type PacingPolicy, type PacingSnapshot } from "./types.ts";

export interface PredictiveOptions {
  /** Aim at this share of the abandonment target (the safety margin). */
  targetShare: number;
  /** Overflow allowance to start from, as a share of expected connects. */
  initialAllowance: number;
  minAllowance: number;
  maxAllowance: number;
  /** How often the allowance is corrected, in seconds. */
  correctEverySeconds: number;
  /** Standard errors of today's rate kept between the aim and the target (small volumes). */
  noiseMargin: number;
  /**
   * The lowest aim, as a share of the (net) target, when part of the regulator's rate is
   * unseen (UK with AMD): low, because the unseen part's noise alone can use the margin.
   */
  unseenAimFloor: number;
  /**
   * `noiseMargin` when part of the rate is unseen: wider, because feedback cannot undo an
   * unlucky draw of what the dialer never sees, so the margin must cover it in advance.
   */
  unseenNoiseMargin: number;
  /** Step of the correction in log space per unit of relative error, when cutting. */
  correctionGain: number;
  /**
   * The same when raising: smaller, because a quiet spell with few live answers is weak
   * evidence (a small team can see no drop for twenty minutes at a rate over the target).
   */
  raiseGain: number;
  /** Live answers of prior weight when judging the observed abandonment rate. */
  priorLiveAnswers: number;
  /** Completed calls after which handle times come from the campaign's own histograms. */
  empiricalAfterCalls: number;
  /** Never more lines than this many per non-paused agent. */
  maxLinesPerAgent: number;
  /**
   * Below this many non-paused agents the team is too small to forecast (a handful of
   * releases per ring cycle, each a coin toss): predictive paces power-like, lines for
   * ready agents only, at the ratio `safeFixedRatio` finds safe counting no release at all.
   */
  smallTeamBelowAgents: number;
  /**
   * Calls (new and ringing) are judged at an upper confidence bound of the connect rate,
   * this many standard errors above the estimate: with little history it is near 1 (one
   * call per free agent), and it tightens toward the estimate as calls settle.
   */
  connectRateConfidence: number;
  /** Priors used until the campaign has its own history. */
  prior: {
    secondsToConnect: { mean: number; sd: number };
    secondsToFailure: { mean: number; sd: number };
    talkSeconds: { mean: number; sd: number };
    wrapSeconds: { mean: number; sd: number };
  };
}

export const DEFAULT_PREDICTIVE: PredictiveOptions = {
  targetShare: 0.85,
  initialAllowance: 0.002,
  minAllowance: 0.0001,
  maxAllowance: 0.1,
  correctEverySeconds: 30,
  correctionGain: 0.35,
  raiseGain: 0.1,
  noiseMargin: 1,
  unseenAimFloor: 0.1,
  unseenNoiseMargin: 1.65,
  priorLiveAnswers: 40,
  empiricalAfterCalls: 30,
  maxLinesPerAgent: 6,
  smallTeamBelowAgents: 10,
  connectRateConfidence: 2,
  prior: {
    secondsToConnect: { mean: 12, sd: 5 },
    secondsToFailure: { mean: 15, sd: 8 },
    talkSeconds: { mean: 150, sd: 90 },
    wrapSeconds: { mean: 30, sd: 10 },
  },
};

export interface PredictiveMemory {
  /** Overflow allowed per expected connect; raised while abandonment is under aim, cut above. */
  allowance: number;
  lastCorrectionAt: number | undefined;
}

/**
 * The forecast over the next seconds, on a grid of future instants: how many connects are
 * expected by each instant (from calls ringing now, and per new call), and how many agents
 * will have freed up by then plus the 2-second grace a connect may wait.
 */
export interface PredictiveForecast {
  /** Estimated share of calls that connect, and the cautious figure calls are judged at. */
  connectRate: number;
  cautiousConnectRate: number;
  /** Future instants, seconds from now. */
  grid: number[];
  /** Expected connects by each instant from calls already ringing, and their variance. */
  ringingConnects: number[];
  ringingConnectsVariance: number[];
  /** Chance that one new call has connected by each instant. */
  newCallConnects: number[];
  /** Expected free agents by each instant (plus grace), net of calls already waiting; variance. */
  freeAgents: number[];
  freeAgentsVariance: number[];
}

/** Seconds a connect may wait for an agent (the 2-second rule). */
const GRACE_SECONDS = 2;

const WRAP_QUANTILES = [0.125, 0.375, 0.625, 0.875];

/** The smallest whole second x (up to 10 min) with P(duration <= x) >= q, given survival. */
function quantile(survival: (seconds: number) => number, q: number): number {
  for (let x = 0; x < 600; x++) if (1 - survival(x) >= q) return x;
  return 600;
}

function elapsedOf(snapshot: PacingSnapshot, activity: AgentActivity): number[] {
  const out: number[] = [];
  for (const agent of snapshot.agents) if (agent.activity === activity) out.push(agent.secondsInActivity);
  return out;
}

/** A lognormal from observed moments, falling back to the prior while history is thin. */
function fitted(m: Moments, prior: { mean: number; sd: number }, minCount = 20): LogNormal {
  if (m.count < minCount) return logNormalFromMoments(prior.mean, prior.sd);
  return logNormalFromMoments(m.mean, Math.max(standardDeviation(m), 0.05 * m.mean));
}

/**
 * Where busy agents' release times come from: forecast from handle-time curves (predictive),
 * or read from the snapshot's `knownSecondsUntilFree` (the oracle; forecast when absent).
 */
export type AgentReleases = "forecast" | "known";

export function forecast(
  snapshot: PacingSnapshot,
  options: PredictiveOptions = DEFAULT_PREDICTIVE,
  releases: AgentReleases = "forecast",
): PredictiveForecast {
  const { stats } = snapshot;
  const { prior } = options;
  // Over settled calls only (see PacingStatistics.settled), with a uniform prior.
  const { dials: settledDials, connects: settledConnects } = stats.settled;
  const connectRate = (settledConnects + 1) / (settledDials + 2);
  const cautiousConnectRate = Math.min(
    1,
    connectRate + options.connectRateConfidence * Math.sqrt((connectRate * (1 - connectRate)) / (settledDials + 3)),
  );
  const toConnect = fitted(stats.secondsToConnect, prior.secondsToConnect);
  const toFailure = fitted(stats.secondsToFailure, prior.secondsToFailure);
  // Handle times: the campaign's own Kaplan-Meier curves once enough calls have completed
  // (agents busy now count as censored), with the prior as the tail; the prior alone
  // before that. Never a fit to the completed calls' moments, which early in a shift are
  // only the short calls.
  const empirical = stats.talkSeconds.count >= options.empiricalAfterCalls;
  const talking = elapsedOf(snapshot, "talking");
  const wrapping = elapsedOf(snapshot, "wrapping");
  const lookAhead = 70; // beyond the longest grid instant plus grace
  const priorTalk = logNormalFromMoments(prior.talkSeconds.mean, prior.talkSeconds.sd);
  const priorWrap = logNormalFromMoments(prior.wrapSeconds.mean, prior.wrapSeconds.sd);
  const talkTail = (x: number) => 1 - logNormalCdf(priorTalk, x);
  const wrapTail = (x: number) => 1 - logNormalCdf(priorWrap, x);
  const talkCurve = empirical
    ? survivalCurve(stats.talkDurations, talking, Math.max(0, ...talking) + lookAhead)
    : undefined;
  const wrapCurve = empirical
    ? survivalCurve(stats.wrapDurations, wrapping, Math.max(0, ...wrapping) + lookAhead)
    : undefined;
  const talkEndsWithin = (e: number, h: number) =>
    talkCurve ? endsWithin(talkCurve, e, h, talkTail) : logNormalEndsWithin(priorTalk, e, h);
  const wrapEndsWithin = (e: number, h: number) =>
    wrapCurve ? endsWithin(wrapCurve, e, h, wrapTail) : logNormalEndsWithin(priorWrap, e, h);
  // A talking agent still has a wrap-up to do: four quartile-midpoint wrap-ups stand for it.
  const wrapQuantiles = WRAP_QUANTILES.map((q) => quantile((x) => 1 - wrapEndsWithin(0, x), q));

  // Out to where nearly every new call has connected or failed.
  const longest = Math.exp(toConnect.mu + 2.33 * toConnect.sigma);
  const grid: number[] = [];
  for (const t of [1, 2, 3, 4, 6, 8, 10, 12, 15, 18, 22, 26, 30, 36, 45, 60]) {
    grid.push(t);
    if (t >= longest) break;
  }

  const newCallConnects = grid.map((t) => logNormalCdf(toConnect, t));
  const ringingConnects = grid.map(() => 0);
  const ringingConnectsVariance = grid.map(() => 0);
  for (const call of snapshot.callsInFlight) {
    const e = call.secondsSinceDial;
    const connectedAlready = logNormalCdf(toConnect, e);
    // Bayes on survival: among calls still ringing after e seconds, the connecting share.
    // The cautious rate here too: a call ringing now is as uncertain as one placed now.
    const q = cautiousConnectRate;
    const alive = q * (1 - connectedAlready) + (1 - q) * (1 - logNormalCdf(toFailure, e));
    if (alive <= 1e-12) continue;
    grid.forEach((t, k) => {
      const p = (q * (logNormalCdf(toConnect, e + t) - connectedAlready)) / alive;
      ringingConnects[k] = (ringingConnects[k] as number) + p;
      ringingConnectsVariance[k] = (ringingConnectsVariance[k] as number) + p * (1 - p);
    });
  }

  const known = releases === "known" ? snapshot.knownSecondsUntilFree : undefined;
  const freeAgents = grid.map(() => -snapshot.callsWaitingForAgent);
  const freeAgentsVariance = grid.map(() => 0);
  for (const agent of snapshot.agents) {
    const e = agent.secondsInActivity;
    const busy = agent.activity === "talking" || agent.activity === "wrapping";
    const knownFreeIn = known && busy ? (known[agent.id] ?? Infinity) : undefined;
    grid.forEach((t, k) => {
      const within = t + GRACE_SECONDS;
      let p = 0;
      if (agent.activity === "ready") p = 1;
      // The oracle: certainty, so no variance either.
      else if (knownFreeIn !== undefined) p = knownFreeIn <= within ? 1 : 0;
      // A talking agent is free once talk and then wrap-up end; wrap-up taken at its mean.
      else if (agent.activity === "talking") {
        for (const w of wrapQuantiles) if (within > w) p += talkEndsWithin(e, within - w) / wrapQuantiles.length;
      } else if (agent.activity === "wrapping") p = wrapEndsWithin(e, within);
      freeAgents[k] = (freeAgents[k] as number) + p;
      freeAgentsVariance[k] = (freeAgentsVariance[k] as number) + p * (1 - p);
    });
  }
  return {
    connectRate,
    cautiousConnectRate,
    grid,
    ringingConnects,
    ringingConnectsVariance,
    newCallConnects,
    freeAgents,
    freeAgentsVariance,
  };
}

/**
 * Expected connects that find no agent if `dials` new calls are placed now: the largest
 * expected excess of connects over free agents at any instant of the grid (a fluid queue
 * with 2 s patience drops what its excess peaks at), and the expected connects overall.
 */
export function expectedOverflow(f: PredictiveForecast, dials: number): { overflow: number; connects: number } {
  const q = f.cautiousConnectRate;
  let overflow = 0;
  const last = f.grid.length - 1;
  for (let k = 0; k <= last; k++) {
    const p = q * (f.newCallConnects[k] as number);
    const connects = (f.ringingConnects[k] as number) + dials * p;
    const variance =
      (f.ringingConnectsVariance[k] as number) + dials * p * (1 - p) + (f.freeAgentsVariance[k] as number);
    overflow = Math.max(overflow, expectedPositivePart(connects - (f.freeAgents[k] as number), Math.sqrt(variance)));
  }
  const connects = (f.ringingConnects[last] ?? 0) + dials * q * (f.newCallConnects[last] ?? 0);
  return { overflow, connects };
}

/** The largest number of new calls whose expected overflow stays within `allowance` of connects. */
export function callsForAllowance(f: PredictiveForecast, allowance: number, maxDials: number): number {
  const fits = (n: number) => {
    const { overflow, connects } = expectedOverflow(f, n);
    return overflow <= allowance * connects;
  };
  if (maxDials <= 0 || !fits(1)) return 0;
  // Overflow grows faster than connects in n, so the feasible set is 0..answer: bisect.
  let lo = 1;
  let hi = maxDials;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * Share of dials a person answers and the dialer hands to the queue, at the same upper
 * confidence bound as the connect rate (so near 1, progressive, with no history).
 */
export function cautiousPersonRate(snapshot: PacingSnapshot, options: PredictiveOptions = DEFAULT_PREDICTIVE): number {
  const { settled, total, connects } = snapshot.stats;
  const rate = ((settled.connects + 1) / (settled.dials + 2)) * ((total.liveAnswers + 1) / (connects + 2));
  return Math.min(1, rate + options.connectRateConfidence * Math.sqrt((rate * (1 - rate)) / (settled.dials + 3)));
}

function binomialPmf(n: number, p: number): number[] {
  const pmf = [Math.pow(1 - p, n)];
  for (let k = 1; k <= n; k++) pmf.push(((pmf[k - 1] as number) * (n - k + 1) * p) / (k * (1 - p)));
  return pmf;
}

/**
 * The largest power ratio (lines per ready agent, in steps of 0.1) that keeps, for every
 * count of ready agents a team of `agents` can have and its `round(ratio × ready)` fresh
 * lines, the expected people in excess of those ready agents within `aim` of the people
 * expected. No release is counted (safe by construction), and only people compete for the
 * ready agents: a machine that reaches one holds it ~11 s, about the spread of the connects.
 * The first ratio to fail is usually the one that puts two lines on a lone ready agent.
 */
export function safeFixedRatio(personRate: number, agents: number, aim: number, maxRatio: number): number {
  if (personRate >= 1 || personRate <= 0) return 1;
  let best = 1;
  for (let tenths = 11; tenths <= maxRatio * 10; tenths++) {
    const ratio = tenths / 10;
    for (let ready = 1; ready <= agents; ready++) {
      const lines = Math.round(ratio * ready);
      const pmf = binomialPmf(lines, personRate);
      let excess = 0;
      for (let k = ready + 1; k <= lines; k++) excess += (k - ready) * (pmf[k] as number);
      if (excess > aim * lines * personRate) return best;
    }
    best = ratio;
  }
  return best;
}

/** Abandonment observed so far, shrunk toward the aim while there are few live answers. */
export function observedAbandonRate(snapshot: PacingSnapshot, aim: number, priorLiveAnswers: number): number {
  const { recent, today } = snapshot.stats;
  const recentRate = (recent.abandoned + aim * priorLiveAnswers) / (recent.liveAnswers + priorLiveAnswers);
  const todayRate = (today.abandoned + aim * priorLiveAnswers) / (today.liveAnswers + priorLiveAnswers);
  // Regulators judge the cumulative rate: once today's rate is over the aim, steer on it too.
  return Math.max(recentRate, todayRate);
}

/**
 * The abandonment rate to steer at: a share of the target, lowered further while today's
 * live answers are few, since a small count's rate can land well above its expectation
 * (the margin is `noiseMargin` binomial standard errors at the target; with an unseen
 * share, `unseenNoiseMargin` standard errors of the whole rate the regulator judges).
 */
export function abandonAim(
  target: number,
  liveAnswersToday: number,
  options: PredictiveOptions,
  unseenShare = 0,
): number {
  // The regulator's rate includes what the dialer cannot see (UK: AMD false positives), and
  // so does its noise: the standard error is that of the whole rate, at the whole target.
  const judged = target + unseenShare;
  const standardError = Math.sqrt((judged * (1 - judged)) / (liveAnswersToday + options.priorLiveAnswers));
  const unseen = unseenShare > 0;
  const margin = unseen ? options.unseenNoiseMargin : options.noiseMargin;
  const floor = target * (unseen ? options.unseenAimFloor : 0.25);
  return Math.max(floor, Math.min(target * options.targetShare, target - margin * standardError));
}

export function createPredictivePolicy(overrides: Partial<PredictiveOptions> = {}): PacingPolicy<PredictiveMemory> {
  return createForecastPacing("predictive", { ...DEFAULT_PREDICTIVE, ...overrides }, "forecast");
}

/**
 * The oracle: predictive's connect model and abandonment control, but busy agents' release
 * times read from the simulation (`knownSecondsUntilFree`) instead of forecast. Its talk
 * time bounds what any policy that must forecast agent availability can get.
 */
export function createOraclePolicy(overrides: Partial<PredictiveOptions> = {}): PacingPolicy<PredictiveMemory> {
  return createForecastPacing("oracle", { ...DEFAULT_PREDICTIVE, ...overrides }, "known");
}

function createForecastPacing(
  name: "predictive" | "oracle",
  options: PredictiveOptions,
  releases: AgentReleases,
): PacingPolicy<PredictiveMemory> {
  return {
    name,
    initialMemory: () => ({ allowance: options.initialAllowance, lastCorrectionAt: undefined }),
    decide(snapshot, memory) {
      let { allowance, lastCorrectionAt } = memory;
      let reason: string | undefined;
      const aim = abandonAim(
        snapshot.abandonTarget,
        snapshot.stats.today.liveAnswers,
        options,
        snapshot.unseenAbandonShare,
      );
      if (lastCorrectionAt === undefined) {
        // The first decision: start the allowance in proportion to how far the aim is below
        // its usual share of the target (far, with no live answers yet, and much further for
        // the UK with AMD), since the first feedback comes only after the first calls have
        // connected, and the start of a shift is when the release forecast is at its worst.
        lastCorrectionAt = snapshot.atSeconds;
        allowance *= Math.min(1, aim / (snapshot.abandonTarget * options.targetShare));
      } else if (snapshot.atSeconds - lastCorrectionAt >= options.correctEverySeconds) {
        const observed = observedAbandonRate(snapshot, aim, options.priorLiveAnswers);
        const error = Math.max(-1, Math.min(1, (aim - observed) / aim));
        allowance = Math.min(
          options.maxAllowance,
          Math.max(
            options.minAllowance,
            allowance * Math.exp((error > 0 ? options.raiseGain : options.correctionGain) * error),
          ),
        );
        lastCorrectionAt = snapshot.atSeconds;
        reason = `abandonment ${observed.toFixed(4)} vs aim ${aim.toFixed(4)}: allowance ${allowance.toFixed(4)}`;
      }
      let nonPaused = 0;
      let ready = 0;
      for (const agent of snapshot.agents) {
        if (agent.activity === "ready") ready++;
        if (agent.activity === "ready" || agent.activity === "talking" || agent.activity === "wrapping") nonPaused++;
      }
      const lineCap = Math.max(0, Math.floor(options.maxLinesPerAgent * nonPaused) - snapshot.callsInFlight.length);
      const smallTeam = name === "predictive" && nonPaused < options.smallTeamBelowAgents;
      let dials: number;
      if (smallTeam) {
        // Too few agents to forecast releases: power-like, lines per ready agent only; the
        // bound tightens in proportion while the observed rate is over the aim.
        const observed = observedAbandonRate(snapshot, aim, options.priorLiveAnswers);
        const bound = aim * Math.min(1, aim / Math.max(observed, 1e-9));
        const ratio = safeFixedRatio(cautiousPersonRate(snapshot, options), nonPaused, bound, options.maxLinesPerAgent);
        dials = Math.min(
          lineCap,
          Math.round(ratio * ready) - snapshot.callsInFlight.length - snapshot.callsWaitingForAgent,
        );
        const note = `small team (${nonPaused} agents < ${options.smallTeamBelowAgents}): power-like, ${ratio.toFixed(1)} lines per ready agent, no release forecast`;
        reason = reason ? `${note}; ${reason}` : note;
      } else dials = callsForAllowance(forecast(snapshot, options, releases), allowance, lineCap);
      // Never leave a free agent without a call coming: at worst, progressive.
      dials = Math.max(dials, ready - snapshot.callsInFlight.length - snapshot.callsWaitingForAgent);
      return { decision: dialsOnly(dials), memory: { allowance, lastCorrectionAt }, ...(reason ? { reason } : {}) };
    },
  };
}
