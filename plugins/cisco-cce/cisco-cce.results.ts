/**
 * Private to the cisco-cce plugin: reads the call results back. Every `pollIntervalMs` the
 * import list of each campaign with open contacts is read page by page; a contact Cisco has
 * closed (`C`, `M`) yields its final result once. With shared storage every node runs the
 * poller, but a lease per campaign lets one node read it at a time, and a claim per contact
 * lets one node report it.
 */
import type { CanonicalEvent, Logger } from "@dialmesh/sdk";
import { MAX_RESULTS_PER_PAGE, type CiscoAwClient, type ImportedContact } from "./cisco-cce.api.ts";
import { isClosedCallStatus, mapCallResult } from "./cisco-cce.mapping.ts";
import type { OpenContactStore } from "./cisco-cce.store.ts";

export interface ResultPollerOptions {
  client: CiscoAwClient;
  store: OpenContactStore;
  logger: Logger;
  emit(events: CanonicalEvent[]): Promise<void>;
  now(): Date;
  /** This process, as holder of poll leases. */
  nodeId: string;
  pollIntervalMs: number;
}

/** The code that decided the contact: the overall result, else the last phone's. */
export function decidingCode(contact: ImportedContact): number {
  if (contact.callResultOverall !== 0) return contact.callResultOverall;
  return [...contact.phoneResults].reverse().find((code) => code !== 0) ?? 0;
}

/** The final event of a closed contact (vendorId = AccountNumber, raw = the CallResult code). */
export function resultEvent(contact: ImportedContact, at: Date): CanonicalEvent {
  const code = decidingCode(contact);
  const mapping = mapCallResult(code);
  const reason = `${mapping.reason} (Cisco callStatus ${contact.callStatus}, ${contact.callsMade} call(s))`;
  if (mapping.kind === "status") {
    return {
      kind: "status",
      vendorId: contact.accountNumber,
      status: mapping.status,
      raw: String(code),
      reasonCode: mapping.reasonCode,
      reason,
      retryable: mapping.retryable,
      at,
    };
  }
  return {
    kind: "call-result",
    vendorId: contact.accountNumber,
    outcome: mapping.outcome,
    raw: String(code),
    reason,
    ...(mapping.reasonCode !== undefined ? { reasonCode: mapping.reasonCode } : {}),
    // Cisco closed the contact: the campaign's own attempts and retries are used up, so the
    // journey moves to its next step rather than the hub appending the contact again.
    retryable: mapping.retryable ?? false,
    at,
  };
}

export class ResultPoller {
  private cancel: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  lastPollError: string | undefined;

  private readonly opts: ResultPollerOptions;

  constructor(opts: ResultPollerOptions) {
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
          this.opts.logger.warn("cisco result poll failed", { message: this.lastPollError });
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
    for (let start = 0; ;) {
      const page = await this.opts.client.listContacts(campaignId, start, MAX_RESULTS_PER_PAGE);
      reported += await this.reportClosed(campaignId, page.contacts);
      start += page.contacts.length;
      if (page.contacts.length === 0 || start >= page.totalResults) return reported;
    }
  }

  private async reportClosed(campaignId: number, contacts: ImportedContact[]): Promise<number> {
    const closed = contacts.filter((c) => isClosedCallStatus(c.callStatus));
    if (closed.length === 0) return 0;
    const { store } = this.opts;
    const open = await store.openAmong(
      campaignId,
      closed.map((c) => c.accountNumber),
    );
    const now = this.opts.now();
    const claimed: ImportedContact[] = [];
    for (const contact of closed) {
      // A claim older than a few intervals belongs to a node that died while reporting.
      if (
        open.has(contact.accountNumber) &&
        (await store.claim(contact.accountNumber, now, this.opts.pollIntervalMs * 4))
      ) {
        claimed.push(contact);
      }
    }
    if (claimed.length === 0) return 0;
    const accountNumbers = claimed.map((c) => c.accountNumber);
    try {
      await this.opts.emit(claimed.map((c) => resultEvent(c, now)));
    } catch (err) {
      for (const a of accountNumbers) await store.release(a);
      throw err;
    }
    await store.close(accountNumbers);
    return claimed.length;
  }
}
