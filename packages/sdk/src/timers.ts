/**
 * Time as a plugin's batching and retry code sees it, injectable so that tests advance it by
 * hand instead of sleeping.
 */
export interface Timers {
  /** Runs `fn` after `ms`; returns a cancel function. */
  setTimer(fn: () => void, ms: number): () => void;
  sleep(ms: number): Promise<void>;
}

export const realTimers: Timers = {
  setTimer(fn, ms) {
    const handle = setTimeout(fn, ms);
    return () => clearTimeout(handle);
  },
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};
