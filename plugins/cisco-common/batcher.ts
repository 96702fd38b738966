/**
 * Shared by the Cisco plugins: gathers the contacts sent within `batchWindowMs` into one
 * append (UCCE import, UCCX contacts POST) per Cisco campaign (at most `batchSize` rows), and
 * delivers each batch exactly once:
 *
 * - 503 and connection errors: back off and send the same rows again;
 * - an append whose answer was lost may have been applied: before sending again, the rows
 *   the campaign already lists are taken as accepted and left out;
 * - 400: the rows Cisco names fail with its message; the others are sent again without them.
 *
 * Appends to one campaign go one after another; campaigns proceed independently. A batch
 * gives up within `budgetMs` of its oldest send, below the hub's send timeout (20 s), so the
 * hub never counts as failed a contact that Cisco takes later.
 */
import { PluginError, type Logger, type Timers } from "@dialmesh/sdk";
import { CiscoApiError, type RowError } from "./http.ts";
import type { OpenContactStore } from "./store.ts";

/** A contact as the batcher needs it: the vendor row holds more. */
export interface AppendRow {
  /** The hub's attempt id, Cisco's account number: what reconciliation looks for. */
  accountNumber: string;
}

/** The vendor's side of a batch. Both throw CiscoApiError for the vendor's answers. */
export interface ContactSink<Row extends AppendRow> {
  append(campaignId: number, rows: readonly Row[], timeoutMs: number): Promise<void>;
  /** The account numbers the campaign holds now (read after an answer was lost). */
  listed(campaignId: number, timeoutMs: number): Promise<Set<string>>;
}

/** How messages name things, e.g. { plugin: "cisco-cce", server: "Cisco AW", operation: "import" }. */
export interface BatcherNames {
  plugin: string;
  server: string;
  operation: string;
}

export interface BatcherOptions<Row extends AppendRow> {
  sink: ContactSink<Row>;
  names: BatcherNames;
  store: OpenContactStore;
  logger: Logger;
  timers: Timers;
  batchSize: number;
  batchWindowMs: number;
  /** Deliveries of one batch before its sends fail retryable (default 8). */
  maxAttempts?: number;
  /** Time from a batch's oldest send until it gives up (default 15,000 ms). */
  budgetMs?: number;
  now(): number;
}

interface PendingContact<Row> {
  row: Row;
  enqueuedAt: number;
  resolve(): void;
  reject(err: PluginError): void;
}

interface CampaignQueue<Row> {
  pending: PendingContact<Row>[];
  cancelTimer: (() => void) | undefined;
  /** The last delivery started for this campaign; the next one waits for it. */
  tail: Promise<void>;
}

export const DEFAULT_BUDGET_MS = 15_000;
/** The shortest time an import request is given to answer. */
const MIN_REQUEST_MS = 1000;
const BASE_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 10_000;

export function backoffMs(attempt: number, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, 60_000);
  return Math.min(BASE_BACKOFF_MS * 2 ** attempt, MAX_BACKOFF_MS);
}

export class ContactBatcher<Row extends AppendRow> {
  private readonly queues = new Map<number, CampaignQueue<Row>>();
  private readonly maxAttempts: number;
  private readonly budgetMs: number;
  private stopping = false;

  private readonly opts: BatcherOptions<Row>;
  private readonly log: string;

  constructor(opts: BatcherOptions<Row>) {
    this.log = `cisco ${opts.names.operation}`;
    this.opts = opts;
    this.maxAttempts = opts.maxAttempts ?? 8;
    this.budgetMs = opts.budgetMs ?? DEFAULT_BUDGET_MS;
  }

  /** Resolves once Cisco has the contact; rejects with a PluginError when it will not. */
  enqueue(campaignId: number, row: Row): Promise<void> {
    if (this.stopping) {
      return Promise.reject(
        new PluginError("PLUGIN_STOPPING", `the ${this.opts.names.plugin} instance is stopping`, { retryable: true }),
      );
    }
    const queue = this.queue(campaignId);
    const accepted = new Promise<void>((resolve, reject) =>
      queue.pending.push({ row, enqueuedAt: this.opts.now(), resolve, reject }),
    );
    if (queue.pending.length >= this.opts.batchSize) this.flush(campaignId);
    else queue.cancelTimer ??= this.opts.timers.setTimer(() => this.flush(campaignId), this.opts.batchWindowMs);
    return accepted;
  }

  /** Starts delivering what is pending for the campaign (in batches of at most batchSize). */
  flush(campaignId: number): void {
    const queue = this.queue(campaignId);
    queue.cancelTimer?.();
    queue.cancelTimer = undefined;
    while (queue.pending.length > 0) {
      const batch = queue.pending.splice(0, this.opts.batchSize);
      queue.tail = queue.tail
        .then(() => this.deliver(campaignId, batch))
        .catch((err: unknown) => {
          // Not the AW's answer (a bad list document, a bug): fail what is still waiting
          // (settled sends stay as they are) and keep the queue going.
          const message = err instanceof Error ? err.message : String(err);
          this.opts.logger.error(`${this.log} failed unexpectedly`, { campaignId, message });
          this.failAll(batch, new PluginError("CISCO_ERROR", `${this.log} failed: ${message}`, { retryable: true }));
        });
    }
  }

  /** Fails the contacts of the campaign not yet sent (the campaign is being flushed). */
  drop(campaignId: number, error: PluginError): number {
    const queue = this.queues.get(campaignId);
    if (!queue) return 0;
    queue.cancelTimer?.();
    queue.cancelTimer = undefined;
    const dropped = queue.pending.splice(0);
    for (const p of dropped) p.reject(error);
    return dropped.length;
  }

  /** Waits for every delivery started so far. */
  async idle(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.tail));
  }

  /** Fails what was not sent yet (retryable: nothing reached Cisco) and waits for the rest. */
  async stop(): Promise<void> {
    this.stopping = true;
    const { plugin, operation } = this.opts.names;
    const error = new PluginError("PLUGIN_STOPPING", `the ${plugin} instance stopped before the ${operation}`, {
      retryable: true,
    });
    for (const campaignId of this.queues.keys()) this.drop(campaignId, error);
    await this.idle();
  }

  private queue(campaignId: number): CampaignQueue<Row> {
    let queue = this.queues.get(campaignId);
    if (!queue) {
      queue = { pending: [], cancelTimer: undefined, tail: Promise.resolve() };
      this.queues.set(campaignId, queue);
    }
    return queue;
  }

  private async deliver(campaignId: number, batch: PendingContact<Row>[]): Promise<void> {
    const { sink, logger } = this.opts;
    const deadline = Math.min(...batch.map((p) => p.enqueuedAt)) + this.budgetMs;
    let remaining = batch;
    /** An earlier import of these rows may have been applied: look before sending again. */
    let uncertain = false;
    let lastError: CiscoApiError | undefined;
    for (let attempt = 0; attempt < this.maxAttempts && remaining.length > 0; attempt++) {
      if (attempt > 0 && lastError && lastError.kind !== "rejected") {
        const wait = backoffMs(attempt - 1, lastError.retryAfterMs);
        if (this.opts.now() + wait + MIN_REQUEST_MS > deadline) break;
        await this.opts.timers.sleep(wait);
      }
      const requestMs = Math.max(MIN_REQUEST_MS, deadline - this.opts.now());
      try {
        if (uncertain) {
          remaining = await this.reconcile(campaignId, remaining, requestMs);
          uncertain = false;
          if (remaining.length === 0) return;
        }
        await sink.append(
          campaignId,
          remaining.map((p) => p.row),
          requestMs,
        );
        await this.accept(campaignId, remaining);
        logger.info(`${this.log} accepted`, { campaignId, rows: remaining.length, attempt: attempt + 1 });
        return;
      } catch (err) {
        if (!(err instanceof CiscoApiError)) throw err;
        lastError = err;
        logger.warn(`${this.log} failed`, {
          campaignId,
          rows: remaining.length,
          kind: err.kind,
          message: err.message,
        });
        if (err.kind === "answer-lost") uncertain = true;
        else if (err.kind === "rejected") remaining = this.failNamedRows(remaining, err);
        else if (err.kind !== "unavailable" && err.kind !== "not-sent") {
          this.failAll(remaining, permanentError(err));
          return;
        }
      }
    }
    if (remaining.length === 0) return;
    if (uncertain) {
      // Cisco may hold these contacts and may dial them: a new attempt would append them
      // again under another AccountNumber, so the hub must not retry on its own.
      this.failAll(
        remaining,
        new PluginError(
          "OUTCOME_UNKNOWN",
          `no answer from the ${this.opts.names.server} to the ${this.opts.names.operation} and its list could not be read; the contacts may have been appended (${lastError?.message ?? ""})`,
          { retryable: false },
        ),
      );
      return;
    }
    const message = lastError?.message ?? `${this.opts.names.server} unavailable`;
    this.failAll(
      remaining,
      new PluginError("CISCO_UNAVAILABLE", message, {
        retryable: true,
        retryAfterMs: backoffMs(this.maxAttempts, lastError?.retryAfterMs),
      }),
    );
  }

  /** The rows Cisco already lists count as accepted; returns the others. */
  private async reconcile(
    campaignId: number,
    rows: PendingContact<Row>[],
    requestMs: number,
  ): Promise<PendingContact<Row>[]> {
    const listed = await this.opts.sink.listed(campaignId, requestMs);
    const present = rows.filter((p) => listed.has(p.row.accountNumber));
    const missing = rows.filter((p) => !listed.has(p.row.accountNumber));
    this.opts.logger.info(`${this.log} reconciled after a lost answer`, {
      campaignId,
      alreadyImported: present.length,
      toSend: missing.length,
    });
    await this.accept(campaignId, present);
    return missing;
  }

  private async accept(campaignId: number, rows: PendingContact<Row>[]): Promise<void> {
    if (rows.length === 0) return;
    try {
      await this.opts.store.open(rows.map((p) => ({ accountNumber: p.row.accountNumber, campaignId })));
    } catch (err) {
      // Cisco has the contacts: failing the sends would append them again. Their results
      // will not be polled; say so loudly.
      this.opts.logger.error(
        `${this.log} applied but its contacts not recorded as open: their results will be missed`,
        {
          campaignId,
          rows: rows.length,
          error: err instanceof Error ? err.message : String(err),
        },
      );
    }
    for (const p of rows) p.resolve();
  }

  /** Fails the rows a 400 names and returns the others; none named: all fail. */
  private failNamedRows(rows: PendingContact<Row>[], err: CiscoApiError): PendingContact<Row>[] {
    const named = new Map<PendingContact<Row>, string>();
    for (const complaint of err.rowErrors) {
      const p = rowOf(rows, complaint);
      if (p) named.set(p, named.has(p) ? `${named.get(p)}; ${complaint.message}` : complaint.message);
    }
    if (named.size === 0) {
      this.failAll(rows, new PluginError("CISCO_REJECTED", err.message, { retryable: false }));
      return [];
    }
    for (const [p, message] of named) {
      p.reject(new PluginError("CISCO_INVALID_ROW", `Cisco refused the contact: ${message}`, { retryable: false }));
    }
    return rows.filter((p) => !named.has(p));
  }

  private failAll(rows: PendingContact<Row>[], error: PluginError): void {
    for (const p of rows) p.reject(error);
  }
}

function rowOf<Row extends AppendRow>(
  rows: PendingContact<Row>[],
  complaint: RowError,
): PendingContact<Row> | undefined {
  if (complaint.accountNumber !== undefined) {
    const byAccount = rows.find((p) => p.row.accountNumber === complaint.accountNumber);
    if (byAccount) return byAccount;
  }
  if (complaint.row !== undefined && complaint.row >= 1) return rows[complaint.row - 1];
  return undefined;
}

function permanentError(err: CiscoApiError): PluginError {
  const code = err.kind === "auth" ? "AUTH_FAILED" : err.kind === "not-found" ? "CAMPAIGN_NOT_FOUND" : "CISCO_REJECTED";
  return new PluginError(code, err.message, { retryable: false });
}
