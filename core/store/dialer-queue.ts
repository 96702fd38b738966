/**
 * Which contacts of a dialer campaign can be dialled, in dialling order: one small entry per
 * pending contact, `_id` = `<campaignId>|<earliest dial time, ms 15 digits>|<contactId>`, so
 * "the next n due" is one `_id` range read in order (pushed down on FerretDB by our patch). Its
 * cost is the contacts due now, never the ones dialled, ended or waiting for later: the sorted
 * query over the contacts decoded every contact of the collection on every pulse.
 *
 * The contact stays the truth. An entry is written before its contact is pending and removed
 * once it is not (dialled, offered, stopped, purged); one that no longer matches its contact is
 * dropped when it is read (see DialerStore.dueContacts). Campaign ids contain no `|`.
 */
import type { Collection, Connection } from "mongoose";
import { timeKey } from "./due-index.ts";
import { insertUnordered } from "./write-errors.ts";

interface QueueDoc {
  _id: string;
  /** The contact's id. */
  k: string;
  /** When the entry was written. */
  w: Date;
}

export interface QueueEntry {
  key: string;
  contactId: string;
  writtenAt: Date;
}

/** What an entry is made from: a pending contact's campaign, earliest dial time and id. */
export interface Queued {
  _id: string;
  campaignId: string;
  earliestAt: Date;
}

export function queueKey(c: Queued): string {
  return `${c.campaignId}|${timeKey(c.earliestAt)}|${c._id}`;
}

const BACKFILLED = "~backfilled";
/** FerretDB's patch pushes `$in` down for at most 1,000 ids. */
const CHUNK = 1000;

export class DialerQueue {
  private readonly entries: Collection<QueueDoc>;
  private pendingRemoves = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(conn: Connection) {
    this.entries = conn.collection<QueueDoc>("dialer_queue");
  }

  async add(contacts: readonly Queued[]): Promise<void> {
    // A contact back in the queue under a key whose drop is buffered or being written (stopped,
    // then started again) must keep its entry: the drop is cancelled, or finished first.
    while (this.flushing) await this.flushing;
    for (const c of contacts) this.pendingRemoves.delete(queueKey(c));
    const w = new Date();
    for (let i = 0; i < contacts.length; i += CHUNK)
      await insertUnordered(
        this.entries,
        contacts.slice(i, i + CHUNK).map((c) => ({ _id: queueKey(c), k: c._id, w })),
      );
  }

  /** Up to `limit` entries due at `now`, in dialling order (FIFO: earliest first). */
  async due(
    campaignId: string,
    now: Date,
    limit: number,
    order: "FIFO" | "LIFO",
    after?: string,
  ): Promise<QueueEntry[]> {
    const low = `${campaignId}|`;
    const high = `${campaignId}|${timeKey(now)}|~`;
    const range =
      order === "FIFO" ? { $gt: after ?? low, $lte: high } : { $gt: low, ...(after ? { $lt: after } : { $lte: high }) };
    const docs = await this.entries
      .find({ _id: range })
      .sort({ _id: order === "FIFO" ? 1 : -1 })
      .limit(limit)
      .batchSize(limit)
      .toArray();
    return docs.map((d) => ({ key: d._id, contactId: d.k, writtenAt: d.w }));
  }

  /** True while an entry's drop is buffered: its contact has left the queue. */
  dropping(key: string): boolean {
    return this.pendingRemoves.has(key);
  }

  /**
   * Drops entries whose contacts left the queue, written with the drops of the next few
   * milliseconds. Losing them (a crash) loses nothing: a stale entry is dropped when read.
   */
  drop(keys: readonly string[]): void {
    for (const k of keys) this.pendingRemoves.add(k);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush().catch(() => undefined);
    }, 10);
    this.timer.unref();
  }

  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.pendingRemoves.size === 0) return;
    const keys = [...this.pendingRemoves];
    this.flushing = (async () => {
      try {
        for (let i = 0; i < keys.length; i += CHUNK)
          await this.entries.deleteMany({ _id: { $in: keys.slice(i, i + CHUNK) } });
        for (const k of keys) this.pendingRemoves.delete(k);
      } finally {
        this.flushing = undefined;
      }
    })();
    await this.flushing;
  }

  /** Entries for the pending contacts of a store written before the queue existed, once per store. */
  async backfillOnce(pending: () => AsyncIterable<Queued>): Promise<void> {
    if (await this.entries.findOne({ _id: BACKFILLED })) return;
    let batch: Queued[] = [];
    for await (const c of pending()) {
      batch.push(c);
      if (batch.length === CHUNK) {
        await this.add(batch);
        batch = [];
      }
    }
    await this.add(batch);
    await insertUnordered(this.entries, [{ _id: BACKFILLED, k: "", w: new Date() }]);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
