/**
 * Private to the five9 plugin: puts records in Five9 lists.
 *
 * - While few sends are under way for a list, each goes alone with addRecordToListSimple.
 * - Beyond `burstThreshold`, sends gather for `batchWindowMs` into asyncAddRecordsToList calls
 *   of at most `batchSize` (<= 100) records, each confirmed with getListImportResult.
 * - The record key is the attemptId, so sending a record again (after a retryable fault or an
 *   answer lost on the way) never adds it twice: Five9 counts it as a duplicate, which is taken
 *   as accepted. That is the reconciliation; no read-back is needed.
 * - Retryable faults (OperationsLimitExceeded, ConcurrentModification, ServiceUnavailable, and
 *   transport errors) back off and try again within `budgetMs` (below the hub's 20 s send
 *   timeout), then the send fails retryable. Other faults fail it with Five9's text; a row
 *   Five9 reports as an import trouble fails alone.
 */
import { PluginError, type Logger, type Timers } from "@dialmesh/sdk";
import { backoffMs, faultCode, importWaitMs, type CallCounter, type RecordLayout } from "./five9.mapping.ts";
import { Five9Error, type Five9AdminClient, type ListImportResult } from "./five9.soap.ts";

export interface SenderOptions {
  client: Five9AdminClient;
  logger: Logger;
  timers: Timers;
  layout: RecordLayout;
  countryCode: string;
  batchSize: number;
  batchWindowMs: number;
  /** Sends under way for a list above which new ones are batched. */
  burstThreshold: number;
  retryBaseMs: number;
  /** Pause between getListImportResult calls while an import runs. */
  importPollMs: number;
  /** Time from a send (the oldest of a batch) until it gives up. */
  budgetMs: number;
  now(): number;
  /** Waits for a slot of the operation's rate (shared across nodes where the hub offers it). */
  acquire(op: "single" | "async"): Promise<void>;
  /** The domain's call counters (cached by the caller). */
  counters(): Promise<CallCounter[]>;
}

export interface OutgoingRecord {
  key: string;
  values: string[];
}

interface Pending {
  record: OutgoingRecord;
  enqueuedAt: number;
  resolve(): void;
  reject(err: PluginError): void;
}

interface ListQueue {
  pending: Pending[];
  cancelTimer: (() => void) | undefined;
  /** Sends of this list accepted by enqueue and not yet settled. */
  inFlight: number;
  deliveries: Set<Promise<void>>;
}

/** The shortest time left worth another request. */
const MIN_REQUEST_MS = 500;

export class RecordSender {
  private readonly queues = new Map<string, ListQueue>();
  private readonly opts: SenderOptions;
  private stopping = false;

  constructor(opts: SenderOptions) {
    this.opts = opts;
  }

  /** Resolves once Five9 has the record in the list; rejects with a PluginError when it will not. */
  enqueue(listName: string, record: OutgoingRecord): Promise<void> {
    if (this.stopping) {
      return Promise.reject(new PluginError("PLUGIN_STOPPING", "the five9 instance is stopping", { retryable: true }));
    }
    const queue = this.queue(listName);
    queue.inFlight += 1;
    const settled = new Promise<void>((resolve, reject) => {
      const pending: Pending = { record, enqueuedAt: this.opts.now(), resolve, reject };
      const batching = queue.pending.length > 0 || queue.inFlight > this.opts.burstThreshold;
      if (!batching) {
        this.track(queue, this.deliverSingle(listName, pending));
        return;
      }
      queue.pending.push(pending);
      if (queue.pending.length >= this.opts.batchSize) this.flush(listName);
      else queue.cancelTimer ??= this.opts.timers.setTimer(() => this.flush(listName), this.opts.batchWindowMs);
    });
    return settled.finally(() => {
      queue.inFlight -= 1;
    });
  }

  /** Fails the records of the list not yet sent (the list is being flushed). */
  drop(listName: string, error: PluginError): number {
    const queue = this.queues.get(listName);
    if (!queue) return 0;
    queue.cancelTimer?.();
    queue.cancelTimer = undefined;
    const dropped = queue.pending.splice(0);
    for (const p of dropped) p.reject(error);
    return dropped.length;
  }

  /** Waits for every delivery started so far (of one list, or all). */
  async idle(listName?: string): Promise<void> {
    const queues = listName ? [this.queues.get(listName)].filter((q) => q !== undefined) : [...this.queues.values()];
    await Promise.all(queues.flatMap((q) => [...q.deliveries]));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const error = new PluginError("PLUGIN_STOPPING", "the five9 instance stopped before the record was sent", {
      retryable: true,
    });
    for (const listName of this.queues.keys()) this.drop(listName, error);
    await this.idle();
  }

  private queue(listName: string): ListQueue {
    let queue = this.queues.get(listName);
    if (!queue) {
      queue = { pending: [], cancelTimer: undefined, inFlight: 0, deliveries: new Set() };
      this.queues.set(listName, queue);
    }
    return queue;
  }

  private track(queue: ListQueue, delivery: Promise<void>): void {
    const tracked = delivery.finally(() => queue.deliveries.delete(tracked));
    queue.deliveries.add(tracked);
  }

  private flush(listName: string): void {
    const queue = this.queue(listName);
    queue.cancelTimer?.();
    queue.cancelTimer = undefined;
    while (queue.pending.length > 0) {
      this.track(queue, this.deliverBatch(listName, queue.pending.splice(0, this.opts.batchSize)));
    }
  }

  /**
   * Runs `attempt` until it settles the records, retrying retryable failures with backoff within
   * the budget of the oldest record; what is left then fails retryable.
   */
  private async withRetries(
    rows: Pending[],
    what: string,
    attempt: (remaining: Pending[], deadline: number) => Promise<Pending[]>,
  ): Promise<void> {
    const { logger } = this.opts;
    const deadline = Math.min(...rows.map((p) => p.enqueuedAt)) + this.opts.budgetMs;
    let remaining = rows;
    let lastError: Five9Error | undefined;
    for (let n = 0; remaining.length > 0; n++) {
      if (lastError) {
        const wait = backoffMs(n - 1, this.opts.retryBaseMs);
        if (this.opts.now() + wait + MIN_REQUEST_MS > deadline) break;
        await this.opts.timers.sleep(wait);
      }
      try {
        const waitMs = importWaitMs(await this.opts.counters(), what === "single" ? "single" : "async");
        if (waitMs > 0) {
          lastError = new Five9Error("fault", "the domain's call counters are at their limit", {
            fault: "OperationsLimitExceeded",
            retryable: true,
          });
          if (this.opts.now() + waitMs > deadline) break;
          continue;
        }
        remaining = await attempt(remaining, deadline);
        return this.failAll(remaining, lastError);
      } catch (err) {
        if (!(err instanceof Five9Error)) {
          // Not Five9's answer (a bug, a malformed reply): fail retryable rather than hang.
          const message = err instanceof Error ? err.message : String(err);
          logger.error("five9 request failed unexpectedly", { what, message });
          for (const p of remaining) p.reject(new PluginError("FIVE9_ERROR", `five9: ${message}`, { retryable: true }));
          return;
        }
        lastError = err;
        logger.warn("five9 request failed", {
          what,
          records: remaining.length,
          retryable: err.retryable,
          message: err.message,
        });
        if (!err.retryable) {
          const code = err.kind === "auth" ? "AUTH_FAILED" : faultCode(err.fault);
          for (const p of remaining) p.reject(new PluginError(code, err.message, { retryable: false }));
          return;
        }
      }
    }
    this.failAll(remaining, lastError);
  }

  private failAll(rows: Pending[], lastError: Five9Error | undefined): void {
    if (rows.length === 0) return;
    const message = lastError?.message ?? "Five9 did not confirm the record";
    const code = lastError?.fault === "OperationsLimitExceeded" ? "FIVE9_RATE_LIMITED" : "FIVE9_UNAVAILABLE";
    for (const p of rows) {
      p.reject(new PluginError(code, message, { retryable: true, retryAfterMs: backoffMs(4, this.opts.retryBaseMs) }));
    }
  }

  /**
   * A slot of the shared limiter, or a retryable failure once the budget would be past: a
   * record is never sent after its send was given up (the hub would report it failed while
   * Five9 dialled it). A slot granted too late goes unused.
   */
  private async slot(op: "single" | "async", deadline: number): Promise<void> {
    const left = deadline - this.opts.now();
    const late = new Five9Error("fault", "no slot of the domain's request limit within the send's budget", {
      fault: "OperationsLimitExceeded",
      retryable: true,
    });
    if (left <= 0) throw late;
    let cancel = () => {};
    const timedOut = await Promise.race([
      this.opts.acquire(op).then(() => false),
      new Promise<boolean>((resolve) => (cancel = this.opts.timers.setTimer(() => resolve(true), left))),
    ]);
    cancel();
    if (timedOut || this.opts.now() > deadline) throw late;
  }

  private deliverSingle(listName: string, pending: Pending): Promise<void> {
    return this.withRetries([pending], "single", async (remaining, deadline) => {
      await this.slot("single", deadline);
      const result = await this.opts.client.addRecordSimple(
        listName,
        this.opts.layout,
        pending.record.values,
        this.opts.countryCode,
      );
      this.settle(remaining, result);
      return [];
    });
  }

  private deliverBatch(listName: string, batch: Pending[]): Promise<void> {
    return this.withRetries(batch, "async", async (remaining, deadline) => {
      await this.slot("async", deadline);
      const identifier = await this.opts.client.asyncAddRecords(
        listName,
        this.opts.layout,
        remaining.map((p) => p.record.values),
        this.opts.countryCode,
      );
      const result = await this.awaitImport(identifier);
      this.opts.logger.info("five9 import confirmed", {
        listName,
        records: remaining.length,
        inserted: result.listRecordsInserted,
        duplicates: result.uploadDuplicatesCount,
        troubles: result.importTroubles.length,
      });
      this.settle(remaining, result);
      return [];
    });
  }

  /** Polls getListImportResult until the import is done; its own retryable faults are retried. */
  private async awaitImport(identifier: string): Promise<ListImportResult> {
    for (let n = 0; ; n++) {
      try {
        const result = await this.opts.client.listImportResult(identifier);
        if (result) return result;
        await this.opts.timers.sleep(this.opts.importPollMs);
      } catch (err) {
        // The records are with Five9: keep asking rather than sending them again.
        if (!(err instanceof Five9Error) || !err.retryable || n >= 5) throw err;
        await this.opts.timers.sleep(backoffMs(n, this.opts.retryBaseMs));
      }
    }
  }

  /** Rows Five9 reports as troubles fail (not retryable) with its message; the rest are in the list. */
  private settle(rows: Pending[], result: ListImportResult): void {
    const troubles = new Map<Pending, string>();
    for (const t of result.importTroubles) {
      const row = (t.key !== undefined ? rows.find((p) => p.record.key === t.key) : undefined) ?? rows[t.rowNumber - 1];
      if (row) troubles.set(row, `${t.kind ?? "trouble"}: ${t.troubleMessage ?? "refused"}`);
    }
    if (
      troubles.size === 0 &&
      result.failureMessage &&
      result.listRecordsInserted + result.uploadDuplicatesCount === 0
    ) {
      for (const p of rows) troubles.set(p, result.failureMessage);
    }
    for (const p of rows) {
      const trouble = troubles.get(p);
      if (trouble) {
        p.reject(new PluginError("FIVE9_INVALID_RECORD", `Five9 refused the record: ${trouble}`, { retryable: false }));
      } else {
        p.resolve();
      }
    }
  }
}
