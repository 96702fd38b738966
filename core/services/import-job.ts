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
  planBatch,
  planColumns,
  type BatchPlan,
  type DncAction,
  type ImportOptions,
  type MappedRow,
  type RowPlan,
} from "../audience/csv-mapping.ts";
import { CsvFormatError, readCsv, type CsvRecord, type CsvSource } from "../audience/csv-source.ts";
import { progressOf } from "../audience/progress.ts";
import type { PhoneZoneTable } from "../regulation/types.ts";
import { firstListing, listingKeys, type DncListState } from "../compliance/dnc.ts";
import type { CustomerPhone } from "../audience/contact-points.ts";
import type { CustomerStore } from "../store/customers.ts";
import { DncStore } from "../store/dnc.ts";
import { inlineMapper, workerMapper, type BatchMapper, type MappedBatch } from "./import-mapper.ts";
import {
  ZERO_COUNTERS,
  type ImportCounters,
  type ImportJobDoc,
  type ImportStore,
  type RejectDoc,
} from "../store/imports.ts";

export interface ImportDeps {
  customers: CustomerStore;
  /** The DNC lists of a job's `dncLists`; by default read through the customers' connection. */
  dnc?: DncStore;
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
    ...(options.dncLists ? { dncLists: options.dncLists, dncAction: options.dncAction } : {}),
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

/** What a job's DNC scrub needs: its lists as they were when it started. */
interface DncScrub {
  lists: DncListState[];
  action: DncAction;
  /** Which of the exact-entry keys exist. */
  existingKeys(keys: readonly string[]): Promise<Set<string>>;
}

/**
 * Lists up to this many entries are read once into memory at the start of a job (about 80 bytes
 * an entry), which saves the store three `$in` queries a batch; larger ones are looked up.
 */
const DNC_IN_MEMORY_ENTRIES = 500_000;

async function dncScrub(deps: ImportDeps, ids: string[], action: DncAction): Promise<DncScrub> {
  const store = deps.dnc ?? new DncStore(deps.customers.conn);
  const lists = await store.currentStates(ids);
  const missing = ids.filter((id) => !lists.some((l) => l.id === id));
  if (missing.length)
    throw new Error(
      missing
        .map(
          (id) => `/options/dncLists/${ids.indexOf(id)}: "${id}" is not a DNC list (PUT /api/v1/dnc-lists/${id} first)`,
        )
        .join("; "),
    );
  const loaded = await Promise.all(ids.map((id) => store.exactKeysOf(id, DNC_IN_MEMORY_ENTRIES)));
  if (loaded.every((keys) => keys !== undefined)) {
    const inMemory = new Set(loaded.flatMap((keys) => [...keys!]));
    return {
      lists,
      action,
      existingKeys: (keys) => Promise.resolve(new Set(keys.filter((k) => inMemory.has(k)))),
    };
  }
  return { lists, action, existingKeys: (keys) => store.existingKeys(keys) };
}

/**
 * The job's own writes (rejected rows, then progress with the committed line), beside the
 * rows' writes rather than between them: one round at a time; what comes in meanwhile waits
 * and goes in the next round, the progress of that round being the latest only. Rejects are
 * stored before the progress that commits their lines.
 */
class JobBookkeeping {
  private rejects: RejectDoc[] = [];
  private progress: Partial<ImportJobDoc> | undefined;
  private round: Promise<void> | undefined;
  private failure: unknown;
  /** The committed line of the last progress stored. */
  storedThrough: number;

  private readonly imports: ImportStore;
  private readonly jobId: string;
  private readonly onCancel: () => void;

  constructor(imports: ImportStore, jobId: string, committed: number, onCancel: () => void) {
    this.imports = imports;
    this.jobId = jobId;
    this.storedThrough = committed;
    this.onCancel = onCancel;
  }

  get failed(): boolean {
    return this.failure !== undefined;
  }

  record(rejects: RejectDoc[], progress: Partial<ImportJobDoc>): void {
    this.check();
    this.rejects.push(...rejects);
    this.progress = progress;
    this.round ??= this.rounds().finally(() => (this.round = undefined));
  }

  /** Throws what a round failed with (the job fails with it). */
  check(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /** Waits until everything recorded is stored. */
  async drain(): Promise<void> {
    while (this.round) await this.round;
    this.check();
  }

  private async rounds(): Promise<void> {
    try {
      while (this.progress) {
        const rejects = this.rejects;
        const progress = this.progress;
        this.rejects = [];
        this.progress = undefined;
        await this.imports.addRejects(rejects);
        if ((await this.imports.progress(this.jobId, progress)).cancelRequested) this.onCancel();
        this.storedThrough = progress.committedThroughLine ?? this.storedThrough;
      }
    } catch (err) {
      this.failure = err;
    }
  }
}

/**
 * Imports the rest of the file into `job` (already stored). Lines up to `skipThrough` were
 * settled by an earlier run of the same job. Resolves with the final state.
 *
 * Four things overlap: reading batch N+2, mapping N+1 (in a worker thread, see import-mapper.ts),
 * looking N+1 up, and writing batch N. The lookup of N+1 cannot see what N is writing, so a key N
 * wrote is found in N's own ids instead (planBatch's `previous`); everything before N has landed
 * when N+1 is looked up. The job's progress and rejects are written beside (JobBookkeeping).
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
    dncMatches: job.dncMatches ?? 0,
  };
  let committed = Math.max(job.committedThroughLine, skipThrough);
  let cancelled = false;
  // A cancel must not wait for the next record: the upload may pause until the job ends.
  let wake: ((r: undefined) => void) | undefined;
  const cancel = () => {
    cancelled = true;
    wake?.(undefined);
  };
  /** The next record, or undefined once cancelled (one promise per wait, none kept after it). */
  const nextRecord = () =>
    new Promise<IteratorResult<CsvRecord> | undefined>((resolve, reject) => {
      wake = resolve;
      prepared.iterator.next().then(resolve, reject);
    }).finally(() => (wake = undefined));
  const startedAt = job.startedAt;
  const bookkeeping = new JobBookkeeping(deps.imports, job._id, committed, cancel);

  /** Writes a planned batch; resolves with the ids it wrote and their lines. */
  const write = async (batch: MappedBatch, plan: BatchPlan): Promise<Map<string, number>> => {
    const written = await deps.customers.writeImportRows(plan.writes, job._id, deps.now());
    const rejects = batch.rejects;
    const refused = new Set<string>();
    if (written.refused.length || plan.skipped.length) {
      const rawOf = new Map(batch.records.map((r) => [r.line, r.fields]));
      for (const r of written.refused) {
        refused.add(r.row.id);
        rejects.push({ line: r.row.line, column: "", reason: r.reason, raw: rawOf.get(r.row.line) ?? [] });
      }
      for (const s of plan.skipped) rejects.push({ ...s, raw: rawOf.get(s.line) ?? [] });
    }
    counters.rowsRead += batch.records.length;
    counters.inserted += written.inserted;
    counters.updated += written.updated;
    counters.duplicates += plan.duplicates.length;
    counters.rejected += rejects.length - plan.skipped.length;
    counters.skipped += plan.skipped.length;
    counters.warnings += batch.warnings;
    counters.landedBefore += plan.landedBefore;
    committed = batch.records.at(-1)!.line;
    const now = deps.now();
    const bytesRead = prepared.source.bytesRead();
    bookkeeping.record(
      rejects.map((r): RejectDoc => ({
        _id: `${job._id}:${r.line}`,
        jobId: job._id,
        line: r.line,
        column: r.column,
        reason: r.reason,
        raw: r.raw,
      })),
      {
        ...counters,
        ...progressOf({ rowsRead: counters.rowsRead, bytesRead, totalBytes: job.totalBytes, startedAt, now }),
        bytesRead,
        committedThroughLine: committed,
        heartbeatAt: now,
      },
    );
    const ids = new Map<string, number>();
    for (const w of plan.writes) if (!refused.has(w.row.id)) ids.set(w.row.id, w.row.line);
    return ids;
  };

  // Set before the first batch (a job naming a list that does not exist fails before any row).
  let scrub: DncScrub | undefined;
  /** Counts the batch's rows on a DNC list; with `reject`, moves them to the rejects. */
  const scrubBatch = async (batch: MappedBatch, dnc: DncScrub): Promise<void> => {
    const addressesOf = batch.rows.map((row) => [
      ...((row.set.phones as CustomerPhone[] | undefined) ?? []).map((p) => p.number),
      ...(typeof row.set.email === "string" ? [row.set.email] : []),
    ]);
    const exact = await dnc.existingKeys(listingKeys(dnc.lists, addressesOf.flat()));
    const kept: MappedRow[] = [];
    const rawOf = dnc.action === "reject" ? new Map(batch.records.map((r) => [r.line, r.fields])) : undefined;
    batch.rows.forEach((row, i) => {
      const listed = firstListing(dnc.lists, addressesOf[i]!, exact);
      if (listed) counters.dncMatches++;
      if (!listed || !rawOf) return void kept.push(row);
      const phone = (row.set.phones as CustomerPhone[] | undefined)?.find((p) => p.number === listed.address);
      batch.rejects.push({
        line: row.line,
        column: phone?.label ?? emailColumn,
        reason: `DNC:${listed.list}`,
        raw: rawOf.get(row.line) ?? [],
      });
    });
    batch.rows = kept;
  };
  const emailColumn = prepared.plan.columns.find((c) => c.target.kind === "email")?.column ?? "";

  // The write of the batch before; resolves with what it wrote (see planBatch's `previous`).
  let inflight: Promise<Map<string, number>> = Promise.resolve(new Map());
  const submit = async (batch: MappedBatch): Promise<void> => {
    bookkeeping.check();
    const lookup = deps.customers.existing([...new Set(batch.rows.map((m) => m.id))]);
    // Awaited below, after the write before it; handled here so it is never "unhandled".
    lookup.catch(() => undefined);
    if (scrub) await scrubBatch(batch, scrub);
    const previous = await inflight;
    const plan = planBatch(batch.rows, await lookup, job.mode, job._id, previous);
    inflight = write(batch, plan);
    inflight.catch(() => undefined);
  };
  const mapper: BatchMapper = prepared.ended
    ? inlineMapper(prepared.plan, deps.zones)
    : workerMapper(prepared.plan, deps.zones);
  // Batches mapped or being submitted, in file order; a few at most, so memory stays flat.
  const queued: Promise<void>[] = [];
  let submitted: Promise<void> = Promise.resolve();
  const enqueue = (records: CsvRecord[]) => {
    const mapped = mapper.map(records);
    mapped.catch(() => undefined);
    submitted = submitted.then(async () => submit(await mapped));
    const done = submitted;
    // A failed write must not wait for the next record of a paused upload either.
    done.catch(() => wake?.(undefined));
    queued.push(done);
  };

  // A slow upload writes no batch for a while: the heartbeat says the job is alive meanwhile.
  const heartbeat = setInterval(() => {
    void deps.imports.progress(job._id, { heartbeatAt: deps.now() }).then(
      (r) => {
        if (r.cancelRequested) cancel();
      },
      () => undefined,
    );
  }, 5_000);
  heartbeat.unref();

  // A stopping node must not wait for an upload that may never go on.
  const onAbort = () => prepared.source.destroy(new Error("the node is stopping"));
  signal.addEventListener("abort", onAbort, { once: true });
  // Lines are settled once their rejects are stored: a failed bookkeeping round settled less.
  const settledLine = () => (bookkeeping.failed ? bookkeeping.storedThrough : committed);
  const finalCounters = () => ({
    ...counters,
    committedThroughLine: settledLine(),
    bytesRead: prepared.source.bytesRead(),
  });
  const settle = async () => {
    await submitted;
    await inflight;
    await bookkeeping.drain();
  };
  try {
    if (job.dncLists?.length) scrub = await dncScrub(deps, job.dncLists, job.dncAction ?? "flag");
    let batch: CsvRecord[] = prepared.first.filter((r) => r.line > skipThrough);
    let ended = prepared.ended;
    while (!cancelled && !signal.aborted) {
      if (batch.length >= deps.batchSize || (ended && batch.length > 0)) {
        enqueue(batch);
        batch = [];
        while (queued.length > 2) await queued.shift();
      }
      if (ended) break;
      const r = await nextRecord();
      if (!r) break; // cancelled, or a batch failed (settle() below throws its error)
      if (r.done) ended = true;
      else if (r.value.line > skipThrough) batch.push(r.value);
    }
    await settle();
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
    // The import changed what the planner knows of the customers; the job is done either way.
    await deps.customers.refreshPlannerStatistics().catch(() => undefined);
    return "completed";
  } catch (err) {
    await settle().catch(() => undefined);
    if (signal.aborted) {
      await deps.imports.finish(job._id, "interrupted", finalCounters(), deps.now()).catch(() => undefined);
      return "interrupted";
    }
    const message = err instanceof CsvFormatError ? err.message : `the import stopped: ${(err as Error).message}`;
    await deps.imports
      .finish(
        job._id,
        "failed",
        { ...finalCounters(), error: `${message} (rows through line ${settledLine()} are settled)` },
        deps.now(),
      )
      .catch(() => undefined);
    return "failed";
  } finally {
    signal.removeEventListener("abort", onAbort);
    clearInterval(heartbeat);
    await mapper.close();
  }
}
