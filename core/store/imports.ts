/**
 * Import jobs, their rejected rows and saved mappings. A job's document is its progress: the
 * node running it writes counters, the last committed line and a heartbeat after each batch;
 * another node that finds the heartbeat stale marks it interrupted.
 */
import type { Collection } from "mongodb";
import type { Connection } from "mongoose";
import type { DncAction, ImportMode } from "../audience/csv-mapping.ts";

export const IMPORT_STATES = ["running", "completed", "failed", "cancelled", "interrupted"] as const;
export type ImportState = (typeof IMPORT_STATES)[number];

export interface ImportCounters {
  rowsRead: number;
  inserted: number;
  updated: number;
  duplicates: number;
  rejected: number;
  skipped: number;
  warnings: number;
  /** Rows an earlier run of this job had written (resumed after a crash). */
  landedBefore: number;
  /** Rows with a phone or email on one of the job's DNC lists (imported, or rejected: dncAction). */
  dncMatches: number;
}

export interface ImportJobDoc extends ImportCounters {
  _id: string;
  state: ImportState;
  node: string;
  mode: ImportMode;
  dedupeKey: string;
  mappingId?: string;
  /** The DNC lists rows are checked against, and what a listed row becomes. */
  dncLists?: string[];
  dncAction?: DncAction;
  header: string[];
  bytesRead: number;
  totalBytes?: number;
  /** Every row up to this line is settled (written, duplicate, skipped or rejected). */
  committedThroughLine: number;
  rate: number;
  eta: number | null;
  fraction: number | null;
  error?: string;
  /** For an interrupted job: lines after committedThroughLine that reached the store anyway. */
  landedAfterCommit?: number[];
  resumedFrom?: string;
  cancelRequested: boolean;
  startedAt: Date;
  heartbeatAt: Date;
  finishedAt?: Date;
}

export interface RejectDoc {
  _id: string;
  jobId: string;
  line: number;
  column: string;
  reason: string;
  raw: string[];
}

export interface MappingDoc {
  _id: string;
  mapping: Record<string, string>;
  updatedAt: Date;
}

export const ZERO_COUNTERS: ImportCounters = {
  rowsRead: 0,
  inserted: 0,
  updated: 0,
  duplicates: 0,
  rejected: 0,
  skipped: 0,
  warnings: 0,
  landedBefore: 0,
  dncMatches: 0,
};

export class ImportStore {
  readonly jobs: Collection<ImportJobDoc>;
  private readonly rejects: Collection<RejectDoc>;
  private readonly mappings: Collection<MappingDoc>;

  constructor(conn: Connection) {
    this.jobs = conn.collection<ImportJobDoc>("import_jobs");
    this.rejects = conn.collection<RejectDoc>("import_rejects");
    this.mappings = conn.collection<MappingDoc>("import_mappings");
  }

  async ensureIndexes(): Promise<void> {
    await this.rejects.createIndex({ jobId: 1, line: 1 }, { name: "job_line" });
    await this.jobs.createIndex({ state: 1, heartbeatAt: 1 }, { name: "state_heartbeat" });
  }

  async create(job: ImportJobDoc): Promise<void> {
    await this.jobs.insertOne(job);
  }

  get(id: string): Promise<ImportJobDoc | null> {
    return this.jobs.findOne({ _id: id });
  }

  /** Records progress of a running job; says whether a cancel was asked for. */
  async progress(id: string, set: Partial<ImportJobDoc>): Promise<{ cancelRequested: boolean }> {
    const doc = await this.jobs.findOneAndUpdate(
      { _id: id },
      { $set: set },
      // No projection: FerretDB 1.24's findAndModify does not take one.
      { returnDocument: "after" },
    );
    return { cancelRequested: doc?.cancelRequested === true };
  }

  async finish(id: string, state: ImportState, set: Partial<ImportJobDoc>, now: Date): Promise<void> {
    await this.jobs.updateOne({ _id: id }, { $set: { ...set, state, finishedAt: now, heartbeatAt: now } });
  }

  /** Marks a running job whose heartbeat is still older than `before` interrupted (a sweep). */
  async markInterrupted(id: string, before: Date, set: Partial<ImportJobDoc>, now: Date): Promise<boolean> {
    const res = await this.jobs.updateOne(
      { _id: id, state: "running", heartbeatAt: { $lt: before } },
      { $set: { ...set, state: "interrupted", finishedAt: now } },
    );
    return res.modifiedCount === 1;
  }

  /** Asks the node running the job to stop after its current batch. False when not running. */
  async requestCancel(id: string): Promise<ImportJobDoc | null> {
    await this.jobs.updateOne({ _id: id, state: "running" }, { $set: { cancelRequested: true } });
    return this.get(id);
  }

  /** Running jobs whose node has not written since `before` (it died, or lost the database). */
  stale(before: Date): Promise<ImportJobDoc[]> {
    return this.jobs
      .find({ state: "running", heartbeatAt: { $lt: before } })
      .limit(100)
      .toArray();
  }

  async addRejects(docs: RejectDoc[]): Promise<void> {
    if (docs.length === 0) return;
    try {
      await this.rejects.insertMany(docs, { ordered: false });
    } catch (err) {
      // A resumed job re-reads its last batch: its rejects are there already (same _id).
      const errors = (err as { writeErrors?: { code?: number }[] }).writeErrors;
      if (!errors || errors.some((e) => e.code !== 11000)) throw err;
    }
  }

  /** Rejected rows of a job in line order, as a cursor (a rejects CSV can be large). */
  rejectsOf(jobId: string): AsyncIterable<RejectDoc> {
    return this.rejects.find({ jobId }).sort({ jobId: 1, line: 1 });
  }

  getMapping(id: string): Promise<MappingDoc | null> {
    return this.mappings.findOne({ _id: id });
  }

  async putMapping(id: string, mapping: Record<string, string>, now: Date): Promise<void> {
    await this.mappings.replaceOne({ _id: id }, { mapping, updatedAt: now }, { upsert: true });
  }
}
