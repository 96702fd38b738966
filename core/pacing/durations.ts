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
export function survivalCurve(
  completed: readonly number[],
  ongoingElapsed: readonly number[],
  upToSeconds = DURATION_BINS * DURATION_BIN_SECONDS,
): Float64Array {
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
  for (let b = 0; b < last; b++) {
    const events = completed[b] ?? 0;
    if (atRisk > 0) survival *= 1 - events / atRisk;
    curve[b + 1] = survival;
    atRisk -= events + (ongoingByBin[b] ?? 0);
  }
  curve.fill(survival, last + 1);
  return curve;
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
 * P(ends within `h` more seconds | lasted `elapsed` so far), or undefined when the curve
 * has no mass left at `elapsed` (the caller falls back to a parametric guess).
 */
export function endsWithin(curve: Float64Array, elapsed: number, h: number): number | undefined {
  const now = survivalAt(curve, elapsed);
  if (now <= 1e-9) return undefined;
  return Math.min(1, Math.max(0, 1 - survivalAt(curve, elapsed + h) / now));
}
