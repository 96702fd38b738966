/**
 * Empirical duration distributions for pacing: histograms of completed talk and wrap-up
 * times, and Kaplan-Meier survival curves that also count the calls still in progress
 * (censored at their elapsed time). Parametric fits go wrong here: without AMD, agents'
 * talk times mix seconds-long answering machines with minutes-long conversations, and
 * early in a campaign only the short calls have finished. Pure.
 */

export const DURATION_BIN_SECONDS = 5;
/** Bins cover 0..1 h; longer durations land in the last bin. */
export const DURATION_BINS = 720;

export function durationBin(seconds: number): number {
  return Math.min(DURATION_BINS - 1, Math.max(0, Math.floor(seconds / DURATION_BIN_SECONDS)));
}

/** Counts of completed durations per bin, shared read-only until the next change. */
export class DurationHistogram {
  #counts: number[] = new Array<number>(DURATION_BINS).fill(0);
  #shared: readonly number[] | undefined;
  #total = 0;

  add(seconds: number): void {
    if (this.#shared) {
      this.#counts = [...this.#counts];
      this.#shared = undefined;
    }
    this.#counts[durationBin(seconds)]!++;
    this.#total++;
  }

  get total(): number {
    return this.#total;
  }

  /** The counts; the same array is returned until `add` is called again. */
  counts(): readonly number[] {
    this.#shared ??= this.#counts;
    return this.#shared;
  }
}

const totals = new WeakMap<readonly number[], number>();

/** Sum of a histogram, cached per (shared, unchanging) array. */
function totalOf(counts: readonly number[]): number {
  let total = totals.get(counts);
  if (total === undefined) {
    total = counts.reduce((a, b) => a + b, 0);
    totals.set(counts, total);
  }
  return total;
}

/**
 * Kaplan-Meier survival at bin edges: `curve[b]` = P(duration > b * bin width), from the
 * completed durations and the elapsed times of those still in progress. Only the bins up to
 * `upToSeconds` are computed (the rest repeat the last value): pacing looks a minute ahead.
 */
export interface SurvivalCurve {
  /** `survival[b]` = P(duration > b * bin width). */
  survival: Float64Array;
  /**
   * Seconds up to which the curve rests on enough data (at least `minAtRisk` durations,
   * completed or still going, reached that far); beyond it a parametric tail takes over.
   */
  reliableUpTo: number;
}

export function survivalCurve(
  completed: readonly number[],
  ongoingElapsed: readonly number[],
  upToSeconds = DURATION_BINS * DURATION_BIN_SECONDS,
  minAtRisk = 10,
): SurvivalCurve {
  const last = Math.min(DURATION_BINS, durationBin(upToSeconds) + 1);
  const ongoingByBin = new Array<number>(last).fill(0);
  for (const e of ongoingElapsed) {
    const b = durationBin(e);
    if (b < last) ongoingByBin[b]!++;
  }
  const curve = new Float64Array(DURATION_BINS + 1);
  curve[0] = 1;
  let atRisk = totalOf(completed) + ongoingElapsed.length;
  let survival = 1;
  let reliableBins = last;
  for (let b = 0; b < last; b++) {
    if (atRisk < minAtRisk && reliableBins === last) reliableBins = b;
    const events = completed[b] ?? 0;
    if (atRisk > 0) survival *= 1 - events / atRisk;
    curve[b + 1] = survival;
    atRisk -= events + (ongoingByBin[b] ?? 0);
  }
  curve.fill(survival, last + 1);
  return { survival: curve, reliableUpTo: reliableBins * DURATION_BIN_SECONDS };
}

/** P(duration > x), interpolated linearly within a bin. */
export function survivalAt(curve: Float64Array, seconds: number): number {
  const x = Math.max(0, seconds) / DURATION_BIN_SECONDS;
  const b = Math.floor(x);
  if (b >= DURATION_BINS) return curve[DURATION_BINS] as number;
  const lo = curve[b] as number;
  const hi = curve[b + 1] as number;
  return lo + (hi - lo) * (x - b);
}

/**
 * P(ends within `h` more seconds | lasted `elapsed` so far). Where the data runs out
 * (beyond `reliableUpTo`) the conditional survival continues with `tail`, a parametric
 * P(duration > x) (the prior): a Kaplan-Meier curve says nothing about what lies past its
 * last observation, and reading it as zero would call every long call about to end.
 */
export function endsWithin(
  curve: SurvivalCurve,
  elapsed: number,
  h: number,
  tail: (seconds: number) => number,
): number {
  const edge = curve.reliableUpTo;
  const conditional = (from: number, to: number) => {
    // P(duration > to | duration > from), from the curve where reliable, then the tail.
    let ratio = 1;
    if (from < edge) {
      const stop = Math.min(to, edge);
      const start = survivalAt(curve.survival, from);
      if (start <= 1e-12) return 0;
      ratio *= survivalAt(curve.survival, stop) / start;
      from = stop;
    }
    if (to > from) {
      const start = tail(from);
      ratio *= start <= 1e-12 ? 0 : tail(to) / start;
    }
    return ratio;
  };
  return Math.min(1, Math.max(0, 1 - conditional(elapsed, elapsed + h)));
}
