/**
 * Runs one CSV import: the header and the first batch are read and checked before anything is
 * written (a bad file is a 400 with its line), then batches of rows are written as unordered
 * upserts while the next batch is parsed. Progress, the last committed line and a heartbeat go
 * to the job document after every batch.
 */
import type { Readable } from "node:stream";
import { randomBytes } from "node:crypto";
import type { AttributeDeclaration } from "../audience/attributes.ts";
import {
  isRejected,
  mapRow,
  planBatch,
  planColumns,
  type ImportOptions,
  type MappedRow,
  type RejectedRow,
  type RowPlan,
} from "../audience/csv-mapping.ts";
import { CsvFormatError, readCsv, type CsvRecord, type CsvSource } from "../audience/csv-source.ts";
import { progressOf } from "../audience/progress.ts";
import type { PhoneZoneTable } from "../regulation/types.ts";
import type { CustomerStore } from "../store/customers.ts";
import {
  ZERO_COUNTERS,
  type ImportCounters,
  type ImportJobDoc,
  type ImportStore,
  type RejectDoc,
} from "../store/imports.ts";

export interface ImportDeps {
  customers: CustomerStore;
  imports: ImportStore;
  zones: PhoneZoneTable;
  nodeId: string;
  batchSize: number;
  now(): Date;
}

export function newImportId(now: Date): string {
  return `imp_${now.getTime().toString(36)}${randomBytes(5).toString("hex")}`;
}

/** A file whose header and first rows passed; `first` is the first batch of records. */
export interface PreparedImport {
  plan: RowPlan;
  header: string[];
  source: CsvSource;
  iterator: AsyncIterator<CsvRecord>;
  first: CsvRecord[];
  ended: boolean;
}

/** Reads the header and the first batch; throws CsvFormatError (with its line) on a bad file. */
export async function prepareImport(
  input: Readable,
  options: ImportOptions,
  declarations: readonly AttributeDeclaration[],
  batchSize: number,
): Promise<PreparedImport> {
  const source = readCsv(input, { delimiter: options.delimiter, encoding: options.encoding });
  const iterator = source.records[Symbol.asyncIterator]();
  const head = await iterator.next();
  if (head.done) throw new CsvFormatError(1, "the file is empty (expected a header line naming the columns)");
  const planned = planColumns(head.value.fields, options, declarations);
  if ("error" in planned) throw new CsvFormatError(1, planned.error.replace(/^line 1: /, ""));
  const first: CsvRecord[] = [];
  let ended = false;
  while (first.length < batchSize) {
    const r = await iterator.next();
    if (r.done) {
      ended = true;
      break;
    }
    first.push(r.value);
  }
  return { plan: planned.plan, header: head.value.fields, source, iterator, first, ended };
}

export function newJob(
  id: string,
  options: ImportOptions,
  header: string[],
  deps: ImportDeps,
  totalBytes: number | undefined,
): ImportJobDoc {
  const now = deps.now();
  return {
    _id: id,
    state: "running",
    node: deps.nodeId,
    mode: options.mode,
    dedupeKey: options.dedupeKey,
    ...(options.mappingId ? { mappingId: options.mappingId } : {}),
    header,
    ...ZERO_COUNTERS,
    bytesRead: 0,
    ...(totalBytes ? { totalBytes } : {}),
    committedThroughLine: 1,
    rate: 0,
    eta: null,
    fraction: null,
    cancelRequested: false,
    startedAt: now,
    heartbeatAt: now,
  };
}

/**
 * Imports the rest of the file into `job` (already stored). Lines up to `skipThrough` were
 * settled by an earlier run of the same job. Resolves with the final state.
 */
export async function runImport(
  deps: ImportDeps,
  prepared: PreparedImport,
  job: ImportJobDoc,
  skipThrough: number,
  signal: AbortSignal,
): Promise<ImportJobDoc["state"]> {
  const counters: ImportCounters = {
    rowsRead: job.rowsRead,
    inserted: job.inserted,
    updated: job.updated,
    duplicates: job.duplicates,
    rejected: job.rejected,
    skipped: job.skipped,
    warnings: job.warnings,
    landedBefore: job.landedBefore,
  };
  let committed = Math.max(job.committedThroughLine, skipThrough);
  let cancelled = false;
  const startedAt = job.startedAt;

  const flush = async (records: CsvRecord[]): Promise<void> => {
    if (records.length === 0) return;
    const mapped: MappedRow[] = [];
    const rejects: (RejectedRow & { raw: string[] })[] = [];
    for (const rec of records) {
      const row = mapRow(rec.fields, rec.line, prepared.plan, deps.zones);
      if (isRejected(row)) rejects.push({ ...row, raw: rec.fields });
      else {
        mapped.push(row);
        counters.warnings += row.warnings.length;
      }
    }
    const existing = await deps.customers.existing([...new Set(mapped.map((m) => m.id))]);
    const batch = planBatch(mapped, existing, job.mode, job._id);
    const written = await deps.customers.writeImportRows(batch.writes, job._id, deps.now());
    const rawOf = new Map(records.map((r) => [r.line, r.fields]));
    for (const r of written.refused)
      rejects.push({ line: r.row.line, column: "", reason: r.reason, raw: rawOf.get(r.row.line) ?? [] });
    for (const s of batch.skipped) rejects.push({ ...s, raw: rawOf.get(s.line) ?? [] });
    await deps.imports.addRejects(
      rejects.map((r): RejectDoc => ({
        _id: `${job._id}:${r.line}`,
        jobId: job._id,
        line: r.line,
        column: r.column,
        reason: r.reason,
        raw: r.raw,
      })),
    );
    counters.rowsRead += records.length;
    counters.inserted += written.inserted;
    counters.updated += written.updated;
    counters.duplicates += batch.duplicates.length;
    counters.rejected += rejects.length - batch.skipped.length;
    counters.skipped += batch.skipped.length;
    counters.landedBefore += batch.landedBefore;
    committed = records.at(-1)!.line;
    const now = deps.now();
    const progress = progressOf({
      rowsRead: counters.rowsRead,
      bytesRead: prepared.source.bytesRead(),
      totalBytes: job.totalBytes,
      startedAt,
      now,
    });
    const { cancelRequested } = await deps.imports.progress(job._id, {
      ...counters,
      ...progress,
      bytesRead: prepared.source.bytesRead(),
      committedThroughLine: committed,
      heartbeatAt: now,
    });
    if (cancelRequested) cancelled = true;
  };

  // A slow upload writes no batch for a while: the heartbeat says the job is alive meanwhile.
  const heartbeat = setInterval(() => {
    void deps.imports.progress(job._id, { heartbeatAt: deps.now() }).then(
      (r) => {
        if (r.cancelRequested) cancelled = true;
      },
      () => undefined,
    );
  }, 5_000);
  heartbeat.unref();

  // A stopping node must not wait for an upload that may never go on.
  const onAbort = () => prepared.source.destroy(new Error("the node is stopping"));
  signal.addEventListener("abort", onAbort, { once: true });
  let inflight: Promise<void> = Promise.resolve();
  const finalCounters = () => ({
    ...counters,
    committedThroughLine: committed,
    bytesRead: prepared.source.bytesRead(),
  });
  try {
    let batch: CsvRecord[] = prepared.first.filter((r) => r.line > skipThrough);
    let ended = prepared.ended;
    // The next batch is parsed while the previous one is written; lookups of a batch wait for
    // the write before it, so a key repeated across batches is seen as a duplicate.
    while (!cancelled && !signal.aborted) {
      if (batch.length >= deps.batchSize || (ended && batch.length > 0)) {
        await inflight;
        inflight = flush(batch);
        // Awaited before the next batch (or at the end); handled here so it is never "unhandled".
        inflight.catch(() => undefined);
        batch = [];
      }
      if (ended) break;
      const r = await prepared.iterator.next();
      if (r.done) ended = true;
      else if (r.value.line > skipThrough) batch.push(r.value);
    }
    await inflight;
    if (cancelled || signal.aborted) {
      // Not iterator.return(): it would wait for the upload stream to close, which it may never do.
      prepared.source.discard();
      const state = signal.aborted ? "interrupted" : "cancelled";
      await deps.imports.finish(job._id, state, finalCounters(), deps.now());
      return state;
    }
    await deps.imports.finish(
      job._id,
      "completed",
      { ...finalCounters(), eta: 0, ...(job.totalBytes ? { fraction: 1 } : {}) },
      deps.now(),
    );
    return "completed";
  } catch (err) {
    await inflight.catch(() => undefined);
    if (signal.aborted) {
      await deps.imports.finish(job._id, "interrupted", finalCounters(), deps.now()).catch(() => undefined);
      return "interrupted";
    }
    const message = err instanceof CsvFormatError ? err.message : `the import stopped: ${(err as Error).message}`;
    await deps.imports
      .finish(
        job._id,
        "failed",
        { ...finalCounters(), error: `${message} (rows through line ${committed} are settled)` },
        deps.now(),
      )
      .catch(() => undefined);
    return "failed";
  } finally {
    signal.removeEventListener("abort", onAbort);
    clearInterval(heartbeat);
  }
}
