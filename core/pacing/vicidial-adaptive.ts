/**
 * A faithful re-implementation of VICIdial's adaptive predictive dialling, the open-source
 * baseline: `AST_VDadapt.pl` (sub `count_agents_lines` and sub `calculate_dial_level`)
 * adjusts a campaign's dial level, and `AST_VDauto_dial.pl` turns the level into calls.
 * The three methods share everything but the cut they make when today's drop rate is over
 * target, so they live in one module and differ in `method`.
 *
 * - Every second, sample ready agents (READY/DONE), live calls waiting for an agent (LIVE)
 *   and logged-in agents; keep the last 15 samples.
 * - Every 15 seconds: differential = avg(ready) - avg(waiting) + dl_diff_target; the level is
 *   scaled by (1 + differential / avg(agents)), with the intensity factor skewing the step;
 *   capped at adaptive_maximum_level, floored at 1.0.
 * - Drop statistics are refreshed every 60 seconds. If more than 20 calls were placed in
 *   the last minute and over 50% of them dropped, the level is halved. If more than 50 calls
 *   were placed today and drops exceed adaptive_dropped_percentage of today's answers:
 *   HARD_LIMIT sets 1.0, AVERAGE halves the level, TAPERED multiplies it by the share of
 *   the day left before adaptive_latest_server_time (HHMM arithmetic, as VICIdial does) and
 *   sets 1.0 past it.
 * - Calls to place = round(level x non-paused agents) - (ringing + waiting + with agents).
 *   Agents in wrap-up (VICIdial's DISPO) are paused and do not count.
 * The dial_level_threshold and available_only_tally_threshold options are not reproduced
 * (both default to DISABLED).
 */
import type { PacingPolicy, PacingSnapshot, PolicyName } from "./types.ts";
import { dialsOnly } from "./types.ts";

export type VicidialMethod = "ADAPT_HARD_LIMIT" | "ADAPT_TAPERED" | "ADAPT_AVERAGE";

/** Campaign settings, named after the `vicidial_campaigns` columns; defaults are VICIdial's. */
export interface VicidialSettings {
  /** auto_dial_level the campaign starts at. */
  autoDialLevel: number;
  /** adaptive_dropped_percentage, in percent (3 = 3%). */
  adaptiveDroppedPercentage: number;
  /** adaptive_maximum_level. */
  adaptiveMaximumLevel: number;
  /** adaptive_latest_server_time, HHMM as a number (2100 = 21:00). */
  adaptiveLatestServerTime: number;
  /** adaptive_intensity, -40..40: positive steps up harder, negative steps down harder. */
  adaptiveIntensity: number;
  /** adaptive_dl_diff_target: -1 aims at one agent waiting, +1 at one customer waiting. */
  adaptiveDlDiffTarget: number;
  /** available_only_ratio_tally: multiply the level by ready agents only. */
  availableOnlyRatioTally: boolean;
}

export const VICIDIAL_DEFAULTS: VicidialSettings = {
  autoDialLevel: 1.0,
  adaptiveDroppedPercentage: 3,
  adaptiveMaximumLevel: 3.0,
  adaptiveLatestServerTime: 2100,
  adaptiveIntensity: 0,
  adaptiveDlDiffTarget: 0,
  availableOnlyRatioTally: false,
};

/** VICIdial's loop timings, in seconds. */
export const VICIDIAL_ADJUST_EVERY = 15;
export const VICIDIAL_DROP_STATS_EVERY = 60;
const SAMPLE_WINDOW = 15;
const MINIMUM_LEVEL = 1.0;

export interface AgentLineSample {
  ready: number;
  waiting: number;
  total: number;
}

export interface DropStatistics {
  callsToday: number;
  answersToday: number;
  dropsToday: number;
  callsLastMinute: number;
  dropsLastMinute: number;
}

export interface VicidialMemory {
  dialLevel: number;
  /** The last (up to) 15 one-second samples, oldest first. */
  samples: AgentLineSample[];
  lastSampleAt: number | undefined;
  lastAdjustAt: number | undefined;
  /** Drop statistics as of the last 60-second refresh (VICIdial does not read them live). */
  drops: DropStatistics | undefined;
  lastDropRefreshAt: number | undefined;
}

/** HHMM of a minute of the day, as VICIdial's `$current_hourmin` (13:05 -> 1305). */
export function hourMinute(minuteOfDay: number): number {
  const minute = Math.floor(minuteOfDay) % 1440;
  return Math.floor(minute / 60) * 100 + (minute % 60);
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Non-paused agents: ready plus on a call (INCALL/QUEUE). */
function nonPausedAgents(snapshot: PacingSnapshot): number {
  let n = 0;
  for (const agent of snapshot.agents) if (agent.activity === "ready" || agent.activity === "talking") n++;
  return n;
}

function sample(snapshot: PacingSnapshot): AgentLineSample {
  let ready = 0;
  for (const agent of snapshot.agents) if (agent.activity === "ready") ready++;
  return { ready, waiting: snapshot.callsWaitingForAgent, total: snapshot.agents.length };
}

/**
 * One `calculate_dial_level` pass: the new dial level from the current one, the 15-second
 * samples, and the drop statistics. Exported for tests and for explaining decisions.
 */
export function adaptDialLevel(
  method: VicidialMethod,
  settings: VicidialSettings,
  dialLevel: number,
  samples: readonly AgentLineSample[],
  drops: DropStatistics | undefined,
  localMinuteOfDay: number,
): number {
  const n = samples.length;
  const avg = (pick: (s: AgentLineSample) => number) => (n === 0 ? 0 : samples.reduce((a, s) => a + pick(s), 0) / n);
  const differential = avg((s) => s.ready) - avg((s) => s.waiting);
  const agentsAverage = avg((s) => s.total);

  const differentialTarget = differential + settings.adaptiveDlDiffTarget;
  const differentialPct =
    differentialTarget !== 0 && agentsAverage !== 0 ? (differentialTarget / agentsAverage) * 100 : 0;
  const intensityMul = settings.adaptiveIntensity / 100;
  const intensityDiff =
    differentialPct < 0 ? differentialPct * Math.abs(intensityMul - 1) : differentialPct * (intensityMul + 1);
  let level = round3(dialLevel * (intensityDiff / 100 + 1));
  if (level > settings.adaptiveMaximumLevel) level = settings.adaptiveMaximumLevel;
  if (level < MINIMUM_LEVEL) level = MINIMUM_LEVEL;

  if (drops) {
    const dropsLastMinutePct = drops.callsLastMinute > 0 ? (drops.dropsLastMinute / drops.callsLastMinute) * 100 : 0;
    if (drops.callsLastMinute > 20 && dropsLastMinutePct > 50) level = level / 2;
    const dropsOfAnswersTodayPct = drops.answersToday > 0 ? (drops.dropsToday / drops.answersToday) * 100 : 0;
    if (drops.callsToday > 50 && dropsOfAnswersTodayPct > settings.adaptiveDroppedPercentage) {
      if (method === "ADAPT_HARD_LIMIT") level = 1.0;
      else if (method === "ADAPT_AVERAGE") level = level / 2;
      else {
        // HHMM difference, not minutes: 2100 - 1230 = 870 -> 0.87, as VICIdial computes it.
        const taperedHoursLeft = settings.adaptiveLatestServerTime - hourMinute(localMinuteOfDay);
        const taperedRate = taperedHoursLeft > 1000 ? 1 : taperedHoursLeft / 1000;
        level = taperedHoursLeft < 0 ? 1.0 : level * taperedRate;
      }
    }
  }
  return level < MINIMUM_LEVEL ? MINIMUM_LEVEL : level;
}

/** `AST_VDauto_dial.pl`: calls to place for a dial level. */
export function vicidialCallsToPlace(snapshot: PacingSnapshot, dialLevel: number, settings: VicidialSettings): number {
  let ready = 0;
  for (const agent of snapshot.agents) if (agent.activity === "ready") ready++;
  const counted = settings.availableOnlyRatioTally ? ready : nonPausedAgents(snapshot);
  const agents = Math.max(0, counted + settings.adaptiveDlDiffTarget);
  // With available-only tally, calls already bridged to agents are added back to the goal.
  const goal = Math.round(dialLevel * agents) + (settings.availableOnlyRatioTally ? snapshot.callsWithAgents : 0);
  const activeLines = snapshot.callsInFlight.length + snapshot.callsWaitingForAgent + snapshot.callsWithAgents;
  return goal - activeLines;
}

const POLICY_NAME: Record<VicidialMethod, PolicyName> = {
  ADAPT_HARD_LIMIT: "vicidial-hard-limit",
  ADAPT_TAPERED: "vicidial-tapered",
  ADAPT_AVERAGE: "vicidial-average",
};

export function createVicidialPolicy(
  method: VicidialMethod,
  overrides: Partial<VicidialSettings> = {},
): PacingPolicy<VicidialMemory> {
  const settings: VicidialSettings = { ...VICIDIAL_DEFAULTS, ...overrides };
  return {
    name: POLICY_NAME[method],
    initialMemory: () => ({
      dialLevel: settings.autoDialLevel,
      samples: [],
      lastSampleAt: undefined,
      lastAdjustAt: undefined,
      drops: undefined,
      lastDropRefreshAt: undefined,
    }),
    decide(snapshot, memory) {
      const now = snapshot.atSeconds;
      let { samples, lastSampleAt, lastAdjustAt, drops, lastDropRefreshAt, dialLevel } = memory;
      let reason: string | undefined;

      if (lastSampleAt === undefined || now - lastSampleAt >= 1) {
        samples = [...samples, sample(snapshot)].slice(-SAMPLE_WINDOW);
        lastSampleAt = now;
      }
      if (lastDropRefreshAt === undefined || now - lastDropRefreshAt >= VICIDIAL_DROP_STATS_EVERY) {
        const { today, lastMinute } = snapshot.stats;
        drops = {
          callsToday: today.dials,
          answersToday: today.liveAnswers,
          dropsToday: today.abandoned,
          callsLastMinute: lastMinute.dials,
          dropsLastMinute: lastMinute.abandoned,
        };
        lastDropRefreshAt = now;
      }
      if (lastAdjustAt === undefined) lastAdjustAt = now;
      else if (now - lastAdjustAt >= VICIDIAL_ADJUST_EVERY) {
        const before = dialLevel;
        dialLevel = adaptDialLevel(method, settings, dialLevel, samples, drops, snapshot.localMinuteOfDay);
        lastAdjustAt = now;
        reason = `dial level ${before} -> ${dialLevel}`;
      }

      const decision = dialsOnly(vicidialCallsToPlace(snapshot, dialLevel, settings));
      return {
        decision,
        memory: { dialLevel, samples, lastSampleAt, lastAdjustAt, drops, lastDropRefreshAt },
        ...(reason ? { reason } : {}),
      };
    },
  };
}
