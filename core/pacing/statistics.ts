/**
 * Live campaign statistics for pacing, kept from the dialer's own events. A deterministic
 * in-memory structure (no I/O, no clock): the caller passes event times, in seconds since
 * the campaign started. The dialer service and the simulator feed it the same events.
 */
import { DurationHistogram } from "./durations.ts";
import type { CallCounts, Moments, PacingStatistics } from "./types.ts";

const MINUTE = 60;
const RECENT = 15 * 60;
const DAY = 86_400;

export function emptyMoments(): Moments {
  return { count: 0, mean: 0, m2: 0 };
}

/** Welford update; mutates and returns `m`. */
export function addSample(m: Moments, x: number): Moments {
  m.count++;
  const delta = x - m.mean;
  m.mean += delta / m.count;
  m.m2 += delta * (x - m.mean);
  return m;
}

export function standardDeviation(m: Moments): number {
  return m.count > 1 ? Math.sqrt(m.m2 / (m.count - 1)) : 0;
}

/** Number of sorted times at or after `from`. */
function countSince(times: readonly number[], from: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((times[mid] as number) < from) lo = mid + 1;
    else hi = mid;
  }
  return times.length - lo;
}

interface UnsettledOutcome {
  dialedAt: number;
  seconds: number;
  connected: boolean;
}

/** Number of sorted times at or before `to`. */
function countAtOrBefore(times: readonly number[], to: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((times[mid] as number) <= to) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class PacingStatisticsTracker {
  readonly #dials: number[] = [];
  readonly #liveAnswers: number[] = [];
  readonly #abandoned: number[] = [];
  #connects = 0;
  /**
   * Outcomes of calls not yet old enough to count as settled. Connect and failure times
   * are only learnt from settled calls too: early in a campaign the calls that have
   * connected are the quick ones, and a mean taken then is too short.
   */
  #unsettled: UnsettledOutcome[] = [];
  #settledConnects = 0;
  readonly #settleAfterSeconds: number;
  readonly #secondsToConnect = emptyMoments();
  readonly #secondsToFailure = emptyMoments();
  readonly #talk = emptyMoments();
  readonly #wrap = emptyMoments();
  readonly #talkDurations = new DurationHistogram();
  readonly #wrapDurations = new DurationHistogram();
  /** Seconds after local midnight at which the campaign started. */
  readonly #startSecondOfDay: number;

  /**
   * @param startMinuteOfDay local time the campaign started, for "today"
   * @param settleAfterSeconds age by which every call has connected or failed (ring
   *   timeout plus AMD latency, with a margin)
   */
  constructor(startMinuteOfDay = 0, settleAfterSeconds = 30) {
    this.#startSecondOfDay = startMinuteOfDay * 60;
    this.#settleAfterSeconds = settleAfterSeconds;
  }

  /** Events must be recorded in time order. */
  dialed(at: number): void {
    this.#dials.push(at);
  }
  /** A call answered by a person (as classified), whether or not an agent takes it. */
  liveAnswered(at: number): void {
    this.#liveAnswers.push(at);
  }
  abandoned(at: number): void {
    this.#abandoned.push(at);
  }
  /** A call handed to the agent queue `secondsAfterDial` after it was dialled. */
  connected(at: number, secondsAfterDial: number): void {
    this.#connects++;
    this.#unsettled.push({ dialedAt: at - secondsAfterDial, seconds: secondsAfterDial, connected: true });
  }
  /** A pool call that ended without reaching the queue. */
  failed(at: number, secondsAfterDial: number): void {
    this.#unsettled.push({ dialedAt: at - secondsAfterDial, seconds: secondsAfterDial, connected: false });
  }
  handled(talkSeconds: number, wrapSeconds: number): void {
    addSample(this.#talk, talkSeconds);
    addSample(this.#wrap, wrapSeconds);
    this.#talkDurations.add(talkSeconds);
    this.#wrapDurations.add(wrapSeconds);
  }

  #counts(from: number): CallCounts {
    return {
      dials: countSince(this.#dials, from),
      liveAnswers: countSince(this.#liveAnswers, from),
      abandoned: countSince(this.#abandoned, from),
    };
  }

  /**
   * The statistics as of `at` (non-decreasing from call to call). Moments are copied so a
   * snapshot never changes afterwards.
   */
  snapshot(at: number): PacingStatistics {
    const secondOfDay = (this.#startSecondOfDay + at) % DAY;
    const settledBefore = at - this.#settleAfterSeconds;
    if (this.#unsettled.some((o) => o.dialedAt <= settledBefore)) {
      const stillUnsettled: UnsettledOutcome[] = [];
      for (const outcome of this.#unsettled) {
        if (outcome.dialedAt > settledBefore) stillUnsettled.push(outcome);
        else if (outcome.connected) {
          this.#settledConnects++;
          addSample(this.#secondsToConnect, outcome.seconds);
        } else addSample(this.#secondsToFailure, outcome.seconds);
      }
      this.#unsettled = stillUnsettled;
    }
    return {
      total: this.#counts(-Infinity),
      today: this.#counts(at - secondOfDay),
      lastMinute: this.#counts(at - MINUTE),
      recent: this.#counts(at - RECENT),
      connects: this.#connects,
      settled: {
        dials: countAtOrBefore(this.#dials, settledBefore),
        connects: this.#settledConnects,
      },
      secondsToConnect: { ...this.#secondsToConnect },
      secondsToFailure: { ...this.#secondsToFailure },
      talkSeconds: { ...this.#talk },
      wrapSeconds: { ...this.#wrap },
      talkDurations: this.#talkDurations.counts(),
      wrapDurations: this.#wrapDurations.counts(),
    };
  }
}
