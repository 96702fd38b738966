/**
 * What the local Cisco servers (cisco-aw-server, cisco-uccx-server) share: HTTP Basic
 * credentials, listening, a queue of appends in process (503 beyond `maxQueued`), and the
 * faults tests inject into appends and list reads.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { escapeXml, isBasicAuth, listen, sendApiErrors, type ListeningServer } from "./http-vendor.ts";

/** A 400's complaint about one data row (1-based, the header not counted). */
export interface RowComplaint {
  row: number;
  accountNumber: string;
  field: string;
  message: string;
}

export interface CiscoVendorServerOptions {
  username?: string;
  password?: string;
  /** Appends processed at once before 503. */
  maxQueued?: number;
}

/** One append (UCCE import, UCCX contacts POST) as the server recorded it. */
export interface RecordedAppend {
  campaignId: number;
  accountNumbers: string[];
  /** What the server answered (0: cut after applying it; -1: cut before applying it). */
  status: number;
}

export abstract class CiscoVendorServer {
  /** Every authenticated request: method, path and answer. */
  readonly requests: { method: string; path: string; status: number }[] = [];
  /** Every append that passed authentication, in arrival order. */
  abstract readonly appendLog: readonly RecordedAppend[];
  /** How many times a contact with this account number was appended, over every campaign. */
  abstract rowCount(accountNumber: string): number;
  readonly username: string;
  readonly password: string;
  readonly maxQueued: number;
  /** Highest number of appends processed at once. */
  peakQueued = 0;
  private queued = 0;
  private unavailable = 0;
  private retryAfterSeconds: number | undefined;
  private listUnavailable = 0;
  private dropAnswers = 0;
  private cutRequests = 0;
  private rejectAll = 0;
  private readonly rejectedAccounts = new Set<string>();
  private server: ListeningServer | undefined;

  constructor(opts: CiscoVendorServerOptions, defaults: { username: string; maxQueued: number }) {
    this.username = opts.username ?? defaults.username;
    this.password = opts.password ?? randomBytes(12).toString("hex");
    this.maxQueued = opts.maxQueued ?? defaults.maxQueued;
  }

  get baseUrl(): string {
    return this.server?.url ?? "";
  }

  async start(): Promise<this> {
    this.server = await listen(
      (req, res) => this.handle(req, res),
      (res, err) => sendApiErrors(res, 500, [{ type: "internalError", message: String(err) }]),
    );
    return this;
  }

  async stop(): Promise<void> {
    await this.server?.stop();
  }

  protected abstract handle(req: IncomingMessage, res: ServerResponse): Promise<void>;

  protected authorized(req: IncomingMessage): boolean {
    return isBasicAuth(req.headers.authorization, this.username, this.password);
  }

  // ------------------------------------------------------------------------------------------
  // Test hooks

  /**
   * The next `times` appends are answered 503 without being applied, with a Retry-After header
   * when `retryAfterSeconds` is given (Cisco sends none).
   */
  injectUnavailable(times = 1, opts: { retryAfterSeconds?: number } = {}): void {
    this.unavailable += times;
    this.retryAfterSeconds = opts.retryAfterSeconds;
  }

  /** The next `times` list reads are answered 503. */
  injectListUnavailable(times = 1): void {
    this.listUnavailable += times;
  }

  /** The next append holding each of these account numbers refuses that row (400). */
  rejectAccounts(...accountNumbers: string[]): void {
    for (const a of accountNumbers) this.rejectedAccounts.add(a);
  }

  /** The next `times` appends are applied, then the connection is cut before the answer. */
  dropNextAnswer(times = 1): void {
    this.dropAnswers += times;
  }

  /** The next `times` appends are cut before being applied: no answer, nothing appended. */
  cutNextRequest(times = 1): void {
    this.cutRequests += times;
  }

  /** Every row of the next append is refused (400), as for a number the dialer cannot dial. */
  rejectNext(): void {
    this.rejectAll += 1;
  }

  // ------------------------------------------------------------------------------------------
  // For the servers' handlers: each take* consumes one injected fault.

  /** Answers 503 (and returns true) when a 503 is injected or the queue is full. */
  protected refuseWhenBusy(res: ServerResponse, message: string): boolean {
    if (this.unavailable === 0 && this.queued < this.maxQueued) return false;
    const injected = this.unavailable > 0;
    if (injected) this.unavailable -= 1;
    if (injected && this.retryAfterSeconds !== undefined) res.setHeader("retry-after", String(this.retryAfterSeconds));
    sendApiErrors(res, 503, [{ type: "serviceUnavailable", message }]);
    return true;
  }

  protected takeListUnavailable(): boolean {
    return this.take("listUnavailable");
  }

  protected takeCut(): boolean {
    return this.take("cutRequests");
  }

  protected takeDroppedAnswer(): boolean {
    return this.take("dropAnswers");
  }

  /**
   * The complaints of an append: every row when rejectNext() asked (else `validated`), and the
   * rows of the accounts rejectAccounts() named, as refused numbers in `phoneField`.
   */
  protected withInjectedComplaints(
    accountNumbers: string[],
    phoneField: string,
    validated: RowComplaint[],
  ): RowComplaint[] {
    const refused = (i: number, accountNumber: string): RowComplaint => ({
      row: i + 1,
      accountNumber,
      field: phoneField,
      message: `Row ${i + 1}: ${phoneField} is not a dialable number`,
    });
    const complaints = this.take("rejectAll") ? accountNumbers.map((a, i) => refused(i, a)) : [...validated];
    accountNumbers.forEach((a, i) => {
      if (this.rejectedAccounts.delete(a)) complaints.push(refused(i, a));
    });
    return complaints;
  }

  /** Runs `work` as one append in process (counted against maxQueued), after `delayMs` of processing. */
  protected async inQueue(delayMs: number, work: () => Promise<void>): Promise<void> {
    this.queued += 1;
    this.peakQueued = Math.max(this.peakQueued, this.queued);
    try {
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      await work();
    } finally {
      this.queued -= 1;
    }
  }

  private take(counter: "listUnavailable" | "cutRequests" | "dropAnswers" | "rejectAll"): boolean {
    if (this[counter] === 0) return false;
    this[counter] -= 1;
    return true;
  }
}

/** Answers 400 with one `<apiError>` per complaint, naming its row and account number. */
export function sendRowComplaints(res: ServerResponse, type: string, complaints: RowComplaint[]): void {
  sendApiErrors(
    res,
    400,
    complaints.map((c) => ({
      type,
      data: c.field,
      message: c.message,
      detail: `<row>${c.row}</row><accountNumber>${escapeXml(c.accountNumber)}</accountNumber>`,
    })),
  );
}
