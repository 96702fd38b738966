/** The benchmark's arithmetic: quantiles, the imports expected, counts of account numbers; CPU read. */
import { readFileSync } from "node:fs";

export interface Spread {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** p50/p90/p99/max of `values` (ms), rounded to a tenth. */
export function spread(values: readonly number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number =>
    sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  const round = (v: number): number => Math.round(v * 10) / 10;
  return { n: sorted.length, p50: round(at(0.5)), p90: round(at(0.9)), p99: round(at(0.99)), max: round(at(1)) };
}

/** The imports `total` rows make in batches of at most `batchSize`: 25,000 by 10,000 is 10,000/10,000/5,000. */
export function expectedImportSizes(total: number, batchSize: number): number[] {
  const sizes: number[] = [];
  for (let left = total; left > 0; left -= batchSize) sizes.push(Math.min(batchSize, left));
  return sizes;
}

/** How many account numbers of `imported` are missing from `expected`, extra, or there more than once. */
export function accountCheck(
  expected: Iterable<string>,
  imported: Iterable<string>,
): { missing: number; unexpected: number; twice: number } {
  const counts = new Map<string, number>();
  for (const a of imported) counts.set(a, (counts.get(a) ?? 0) + 1);
  const wanted = new Set(expected);
  let missing = 0;
  for (const a of wanted) if (!counts.has(a)) missing += 1;
  let unexpected = 0;
  let twice = 0;
  for (const [a, n] of counts) {
    if (!wanted.has(a)) unexpected += 1;
    if (n > 1) twice += 1;
  }
  return { missing, unexpected, twice };
}

/** CPU milliseconds a process has used (Linux /proc; clock ticks of 10 ms). */
export function cpuMsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** Resolves once `done()` is true (looked at every `everyMs`); throws naming `what` after `timeoutMs`. */
export async function until(done: () => boolean | Promise<boolean>, timeoutMs: number, what: string, everyMs = 200) {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${Math.round(timeoutMs / 1000)} s`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
