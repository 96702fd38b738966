/**
 * Shared by the Cisco plugins: delivers one batch of contacts (UCCE import, UCCX contacts
 * POST) to a Cisco campaign exactly once and says what became of each row:
 *
 * - 503 and connection errors: back off and send the same rows again;
 * - an append whose answer was lost may have been applied: before sending again, the rows
 *   the campaign already lists are taken as accepted and left out (so are rows a node that
 *   died had sent: the flusher hands them over as `uncertain`);
 * - 400: the rows Cisco names fail with its message; the others are sent again without them.
 *
 * Which rows make a batch and when it goes is the flusher's business (flusher.ts); the send
 * that gave the contact was answered long before, so no send timeout bounds a delivery.
 */
import { PluginError, type Logger, type Timers } from "@dialmesh/sdk";
import { CiscoApiError, type RowError } from "./http.ts";

/** A contact as a delivery needs it: the vendor row holds more. */
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

export interface DeliveryOptions<Row extends AppendRow> {
  sink: ContactSink<Row>;
  names: BatcherNames;
  logger: Logger;
  timers: Timers;
  /** Deliveries of one batch before its rows fail retryable (default 8). */
  maxAttempts?: number;
  /** True once the plugin stops: no further attempt starts, the rows stay in the outbox. */
  stopping(): boolean;
}

/** What became of a batch's rows. */
export interface BatchOutcome<Row> {
  /** Cisco has them: appended now, or listed already (an earlier append was applied). */
  accepted: Row[];
  /** Cisco will not take them (or not now): each with the error the hub is told. */
  failed: { row: Row; error: PluginError }[];
  /** Not decided: the plugin stopped between attempts. They stay in the outbox. */
  left: Row[];
}

export const DEFAULT_MAX_ATTEMPTS = 8;
/** Each request's time limit: a 10,000-row import is a few hundred kilobytes. */
export const APPEND_TIMEOUT_MS = 30_000;
const BASE_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 10_000;

export function backoffMs(attempt: number, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, 60_000);
  return Math.min(BASE_BACKOFF_MS * 2 ** attempt, MAX_BACKOFF_MS);
}

export class BatchDelivery<Row extends AppendRow> {
  private readonly opts: DeliveryOptions<Row>;
  private readonly maxAttempts: number;
  private readonly log: string;

  constructor(opts: DeliveryOptions<Row>) {
    this.opts = opts;
    this.maxAttempts = opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    this.log = `cisco ${opts.names.operation}`;
  }

  /**
   * Appends `rows` to the campaign. `uncertain`: an earlier append of them may have been
   * applied (its answer was lost, or its node died), so the list is read before sending.
   *
   * Retry policy: 503s and connection errors are retried with backoff (0.5 s doubling to
   * 10 s, or Retry-After) up to maxAttempts deliveries, about 35 s with the default 8. Then
   * the rows fail retryable (CISCO_UNAVAILABLE with a retryAfterMs): the hub's retry policy
   * and fallback chain decide what happens to the activities, rather than the outbox holding
   * them for as long as Cisco is down with nobody told.
   */
  async deliver(campaignId: number, rows: readonly Row[], uncertain: boolean): Promise<BatchOutcome<Row>> {
    const outcome: BatchOutcome<Row> = { accepted: [], failed: [], left: [] };
    try {
      await this.attempts(campaignId, [...rows], uncertain, outcome);
    } catch (err) {
      // Not the vendor's answer (a bad list document, a bug): fail what is undecided,
      // retryable, and keep the flusher going.
      const message = err instanceof Error ? err.message : String(err);
      this.opts.logger.error(`${this.log} failed unexpectedly`, { campaignId, message });
      const decided = new Set([...outcome.accepted, ...outcome.failed.map((f) => f.row)]);
      const error = new PluginError("CISCO_ERROR", `${this.log} failed: ${message}`, { retryable: true });
      for (const row of rows) if (!decided.has(row)) outcome.failed.push({ row, error });
    }
    return outcome;
  }

  private async attempts(
    campaignId: number,
    rows: Row[],
    uncertainAtStart: boolean,
    outcome: BatchOutcome<Row>,
  ): Promise<void> {
    const { sink, logger } = this.opts;
    let remaining = rows;
    let uncertain = uncertainAtStart;
    let lastError: CiscoApiError | undefined;
    for (let attempt = 0; attempt < this.maxAttempts && remaining.length > 0; attempt++) {
      if (attempt > 0 && lastError && lastError.kind !== "rejected") {
        await this.opts.timers.sleep(backoffMs(attempt - 1, lastError.retryAfterMs));
      }
      if (attempt > 0 && this.opts.stopping()) {
        outcome.left.push(...remaining);
        return;
      }
      try {
        if (uncertain) {
          remaining = await this.reconcile(campaignId, remaining, outcome);
          uncertain = false;
          if (remaining.length === 0) return;
        }
        await sink.append(campaignId, remaining, APPEND_TIMEOUT_MS);
        outcome.accepted.push(...remaining);
        logger.info(`${this.log} accepted`, { campaignId, rows: remaining.length, attempt: attempt + 1 });
        return;
      } catch (err) {
        if (!(err instanceof CiscoApiError)) throw err;
        lastError = err;
        logger.warn(`${this.log} failed`, { campaignId, rows: remaining.length, kind: err.kind, message: err.message });
        if (err.kind === "answer-lost") uncertain = true;
        else if (err.kind === "rejected") remaining = failNamedRows(remaining, err, outcome);
        else if (err.kind !== "unavailable" && err.kind !== "not-sent") {
          failAll(remaining, permanentError(err), outcome);
          return;
        }
      }
    }
    if (remaining.length === 0) return;
    if (uncertain) {
      // Cisco may hold these contacts and may dial them: a new attempt would append them
      // again under another AccountNumber, so the hub must not retry on its own.
      failAll(
        remaining,
        new PluginError(
          "OUTCOME_UNKNOWN",
          `no answer from the ${this.opts.names.server} to the ${this.opts.names.operation} and its list could not be read; the contacts may have been appended (${lastError?.message ?? ""})`,
          { retryable: false },
        ),
        outcome,
      );
      return;
    }
    const message = lastError?.message ?? `${this.opts.names.server} unavailable`;
    failAll(
      remaining,
      new PluginError("CISCO_UNAVAILABLE", message, {
        retryable: true,
        retryAfterMs: backoffMs(this.maxAttempts, lastError?.retryAfterMs),
      }),
      outcome,
    );
  }

  /** The rows Cisco already lists count as accepted; returns the others. */
  private async reconcile(campaignId: number, rows: Row[], outcome: BatchOutcome<Row>): Promise<Row[]> {
    const listed = await this.opts.sink.listed(campaignId, APPEND_TIMEOUT_MS);
    const present = rows.filter((r) => listed.has(r.accountNumber));
    const missing = rows.filter((r) => !listed.has(r.accountNumber));
    this.opts.logger.info(`${this.log} reconciled against the list`, {
      campaignId,
      alreadyImported: present.length,
      toSend: missing.length,
    });
    outcome.accepted.push(...present);
    return missing;
  }
}

/** Fails the rows a 400 names and returns the others; none named: all fail. */
function failNamedRows<Row extends AppendRow>(rows: Row[], err: CiscoApiError, outcome: BatchOutcome<Row>): Row[] {
  const named = new Map<Row, string>();
  for (const complaint of err.rowErrors) {
    const row = rowOf(rows, complaint);
    if (row) named.set(row, named.has(row) ? `${named.get(row)}; ${complaint.message}` : complaint.message);
  }
  if (named.size === 0) {
    failAll(rows, new PluginError("CISCO_REJECTED", err.message, { retryable: false }), outcome);
    return [];
  }
  for (const [row, message] of named) {
    const error = new PluginError("CISCO_INVALID_ROW", `Cisco refused the contact: ${message}`, { retryable: false });
    outcome.failed.push({ row, error });
  }
  return rows.filter((r) => !named.has(r));
}

function failAll<Row>(rows: readonly Row[], error: PluginError, outcome: BatchOutcome<Row>): void {
  for (const row of rows) outcome.failed.push({ row, error });
}

function rowOf<Row extends AppendRow>(rows: Row[], complaint: RowError): Row | undefined {
  if (complaint.accountNumber !== undefined) {
    const byAccount = rows.find((r) => r.accountNumber === complaint.accountNumber);
    if (byAccount) return byAccount;
  }
  if (complaint.row !== undefined && complaint.row >= 1) return rows[complaint.row - 1];
  return undefined;
}

function permanentError(err: CiscoApiError): PluginError {
  const code = err.kind === "auth" ? "AUTH_FAILED" : err.kind === "not-found" ? "CAMPAIGN_NOT_FOUND" : "CISCO_REJECTED";
  return new PluginError(code, err.message, { retryable: false });
}
