/** An import's rate and time to go, from what it has read so far. Pure. */

export interface ProgressInput {
  rowsRead: number;
  bytesRead: number;
  /** Size of the upload when the client said it (Content-Length), else undefined. */
  totalBytes: number | undefined;
  startedAt: Date;
  now: Date;
}

export interface Progress {
  /** Rows per second since the start (0 before the first second has data). */
  rate: number;
  /** Seconds to go, estimated from the share of bytes read; null when the size is unknown. */
  eta: number | null;
  /** 0..1 share of the bytes read; null when the size is unknown. */
  fraction: number | null;
}

export function progressOf(p: ProgressInput): Progress {
  const seconds = Math.max(0, (p.now.getTime() - p.startedAt.getTime()) / 1000);
  const rate = seconds > 0 ? p.rowsRead / seconds : 0;
  if (!p.totalBytes || p.totalBytes <= 0) return { rate: Math.round(rate), eta: null, fraction: null };
  const fraction = Math.min(1, p.bytesRead / p.totalBytes);
  // Bytes per second predicts the rest better than rows: rows differ in length, the size does not.
  const byteRate = seconds > 0 ? p.bytesRead / seconds : 0;
  const eta = fraction >= 1 ? 0 : byteRate > 0 ? Math.ceil((p.totalBytes - p.bytesRead) / byteRate) : null;
  return { rate: Math.round(rate), eta, fraction: Math.round(fraction * 1000) / 1000 };
}

/** One progress line for a terminal or a log ("42% 120000 rows 35000/s eta 12s"). */
export function progressLine(
  p: {
    rowsRead: number;
    inserted: number;
    updated: number;
    duplicates: number;
    rejected: number;
    rate?: number;
    eta?: number | null;
    fraction?: number | null;
  },
  width = 24,
): string {
  const bar =
    p.fraction === null || p.fraction === undefined
      ? ""
      : `[${"#".repeat(Math.round(p.fraction * width)).padEnd(width, ".")}] ${String(Math.round(p.fraction * 100)).padStart(3)}% `;
  const eta = p.eta === null || p.eta === undefined ? "" : ` eta ${p.eta}s`;
  return `${bar}${p.rowsRead} rows (${p.inserted} new, ${p.updated} updated, ${p.duplicates} duplicates, ${p.rejected} rejected) ${p.rate ?? 0}/s${eta}`;
}
