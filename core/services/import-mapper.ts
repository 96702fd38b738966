/**
 * Maps batches of CSV records to customer rows, off the event loop when the file is large:
 * normalising two phones a row (libphonenumber-js) is most of an import's CPU, and done on the
 * main thread it delays the handling of the store's answers, so the store waits for the hub.
 * A job of one batch maps inline (a worker costs more to start than that batch to map).
 */
import { Worker } from "node:worker_threads";
import { isRejected, mapRow, type MappedRow, type RejectedRow, type RowPlan } from "../audience/csv-mapping.ts";
import type { CsvRecord } from "../audience/csv-source.ts";
import type { PhoneZoneTable } from "../regulation/types.ts";

/** A batch of records mapped to customer rows, or rejected with their raw fields. */
export interface MappedBatch {
  records: CsvRecord[];
  rows: MappedRow[];
  rejects: (RejectedRow & { raw: string[] })[];
  warnings: number;
}

export function mapBatch(records: CsvRecord[], plan: RowPlan, zones: PhoneZoneTable): MappedBatch {
  const batch: MappedBatch = { records, rows: [], rejects: [], warnings: 0 };
  for (const rec of records) {
    const row = mapRow(rec.fields, rec.line, plan, zones);
    if (isRejected(row)) batch.rejects.push({ ...row, raw: rec.fields });
    else {
      batch.rows.push(row);
      batch.warnings += row.warnings.length;
    }
  }
  return batch;
}

export interface BatchMapper {
  map(records: CsvRecord[]): Promise<MappedBatch>;
  close(): Promise<void>;
}

export function inlineMapper(plan: RowPlan, zones: PhoneZoneTable): BatchMapper {
  return {
    map: (records) => Promise.resolve(mapBatch(records, plan, zones)),
    close: () => Promise.resolve(),
  };
}

/** What the worker is given once: the plan and the zone table. */
export interface MapperInit {
  plan: RowPlan;
  zones: PhoneZoneTable;
}
export type MapperRequest = { id: number; records: CsvRecord[] };
export type MapperReply = { id: number; batch: Omit<MappedBatch, "records"> } | { id: number; error: string };

/** One worker thread; batches are mapped in the order they are given. */
export function workerMapper(plan: RowPlan, zones: PhoneZoneTable): BatchMapper {
  const worker = new Worker(new URL("./import-mapper.worker.ts", import.meta.url), {
    workerData: { plan, zones } satisfies MapperInit,
  });
  worker.unref();
  const pending = new Map<number, { records: CsvRecord[]; resolve(b: MappedBatch): void; reject(e: Error): void }>();
  let next = 0;
  let broken: Error | undefined;
  const failAll = (err: Error) => {
    broken ??= err;
    for (const p of pending.values()) p.reject(broken);
    pending.clear();
  };
  worker.on("message", (reply: MapperReply) => {
    const p = pending.get(reply.id);
    if (!p) return;
    pending.delete(reply.id);
    if ("error" in reply) p.reject(new Error(`mapping rows: ${reply.error}`));
    else p.resolve({ records: p.records, ...reply.batch });
  });
  worker.on("error", (err) => failAll(err));
  worker.on("exit", (code) => failAll(new Error(`the mapping worker stopped (exit code ${code})`)));
  return {
    map(records) {
      if (broken) return Promise.reject(broken);
      const id = next++;
      return new Promise<MappedBatch>((resolve, reject) => {
        pending.set(id, { records, resolve, reject });
        worker.postMessage({ id, records } satisfies MapperRequest);
      });
    },
    async close() {
      broken ??= new Error("the mapper is closed");
      await worker.terminate();
    },
  };
}
