/**
 * Shared by the Cisco plugins: reads the call results back. Every `pollIntervalMs` the contact
 * list of each campaign with open contacts is read (page by page where the vendor pages); a
 * contact Cisco has closed yields its final result once. With shared storage every node runs
 * the poller, but a lease per campaign lets one node read it at a time, and a claim per
 * contact lets one node report it.
 */
import type { CanonicalEvent, Logger } from "@dialmesh/sdk";
import type { OpenContactStore } from "./store.ts";

/** What the poller needs to know of a vendor's contact list. */
export interface ResultSource<Contact> {
  /** The campaign's contacts, a page at a time. */
  pages(campaignId: number): AsyncIterable<readonly Contact[]>;
  accountNumber(contact: Contact): string;
  /** Cisco will not call the contact again: its result is final. */
  isClosed(contact: Contact): boolean;
  /** The final event of a closed contact (vendorId = its account number). */
  event(contact: Contact, at: Date): CanonicalEvent;
}

export interface ResultPollerOptions<Contact> {
  source: ResultSource<Contact>;
  store: OpenContactStore;
  logger: Logger;
  emit(events: CanonicalEvent[]): Promise<void>;
  now(): Date;
  /** This process, as holder of poll leases. */
  nodeId: string;
  pollIntervalMs: number;
  /** Names the vendor in log lines, e.g. "cisco". */
  logName: string;
}

export class ResultPoller<Contact> {
  private cancel: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  lastPollError: string | undefined;

  private readonly opts: ResultPollerOptions<Contact>;

  constructor(opts: ResultPollerOptions<Contact>) {
    this.opts = opts;
  }

  /** Polls every pollIntervalMs until stop(); a failed poll is logged and the next one runs. */
  start(setTimer: (fn: () => void, ms: number) => () => void): void {
    const tick = (): void => {
      if (this.stopped) return;
      this.running = this.pollOnce()
        .then(() => undefined)
        .catch((err: unknown) => {
          this.lastPollError = err instanceof Error ? err.message : String(err);
          this.opts.logger.warn(`${this.opts.logName} result poll failed`, { message: this.lastPollError });
        })
        .finally(() => {
          this.running = undefined;
          if (!this.stopped) this.cancel = setTimer(tick, this.opts.pollIntervalMs);
        });
    };
    this.cancel = setTimer(tick, this.opts.pollIntervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancel?.();
    await this.running;
  }

  /** One pass over every campaign with open contacts; returns the number of results reported. */
  async pollOnce(): Promise<number> {
    let reported = 0;
    for (const campaignId of await this.opts.store.campaigns()) {
      // A lease of a few intervals: a node that died is replaced after it runs out.
      const leased = await this.opts.store.lease(
        `campaign-${campaignId}`,
        this.opts.nodeId,
        this.opts.now(),
        this.opts.pollIntervalMs * 3,
      );
      if (leased) reported += await this.pollCampaign(campaignId);
    }
    this.lastPollError = undefined;
    return reported;
  }

  private async pollCampaign(campaignId: number): Promise<number> {
    let reported = 0;
    for await (const page of this.opts.source.pages(campaignId)) reported += await this.reportClosed(campaignId, page);
    return reported;
  }

  private async reportClosed(campaignId: number, contacts: readonly Contact[]): Promise<number> {
    const { source, store } = this.opts;
    const closed = contacts.filter((c) => source.isClosed(c));
    if (closed.length === 0) return 0;
    const open = await store.openAmong(
      campaignId,
      closed.map((c) => source.accountNumber(c)),
    );
    const now = this.opts.now();
    const claimed: Contact[] = [];
    for (const contact of closed) {
      const accountNumber = source.accountNumber(contact);
      // A claim older than a few intervals belongs to a node that died while reporting.
      if (open.has(accountNumber) && (await store.claim(accountNumber, now, this.opts.pollIntervalMs * 4))) {
        claimed.push(contact);
      }
    }
    if (claimed.length === 0) return 0;
    const accountNumbers = claimed.map((c) => source.accountNumber(c));
    try {
      await this.opts.emit(claimed.map((c) => source.event(c, now)));
    } catch (err) {
      for (const a of accountNumbers) await store.release(a);
      throw err;
    }
    await store.close(accountNumbers);
    return claimed.length;
  }
}
