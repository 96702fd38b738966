/**
 * Each number's dial history, for the regulators' per-number rules (attempt limits, the UK's
 * 72 hours after an abandoned call): one insert-only entry per dial and per abandoned call,
 * `_id` = `<keyed hash of the number>|<ms, 15 digits>|<d or a>|<contactId>`. A number's last
 * month is then one `_id` range (pushed down on FerretDB by our patch), whatever the number of
 * contacts stored; reading it from the contacts scanned every contact for every dial.
 *
 * The number is kept only as its keyed hash (privacy/keyed-hash.ts): the rules must still hold
 * for a number whose customer was erased, and the history holds no personal data in clear.
 * An entry is written before the call it records is placed, so a rule never misses a dial.
 */
import type { Collection, Connection } from "mongoose";
import type { KeyedHash } from "../privacy/keyed-hash.ts";
import { timeKey } from "./due-index.ts";
import { insertUnordered } from "./write-errors.ts";

type Kind = "d" | "a";

interface HistoryDoc {
  _id: string;
  at: Date;
}

export interface NumberHistoryView {
  dialedAt: Date[];
  lastAbandonedAt?: Date;
}

/** What the backfill reads of a contact that was dialled. */
export interface DialledContact {
  _id: string;
  phone: string;
  dialedAt?: Date | null;
  outcome?: string | null;
  endedAt?: Date | null;
}

const BACKFILLED = "~backfilled";

/** The number without `;ext=` and other parameters: the rules count the line, not the extension. */
export function lineOf(phone: string): string {
  return phone.split(";")[0]!;
}

export class NumberHistory {
  private readonly entries: Collection<HistoryDoc>;
  private readonly hash: KeyedHash;

  constructor(conn: Connection, hash: KeyedHash) {
    this.entries = conn.collection<HistoryDoc>("dialer_number_history");
    this.hash = hash;
  }

  /** The key prefix of a number's entries. */
  private lineKey(phone: string): string {
    return this.hash(lineOf(phone));
  }

  private key(phone: string, at: Date, kind: Kind, contactId: string): string {
    return `${this.lineKey(phone)}|${timeKey(at)}|${kind}|${contactId}`;
  }

  /** Records a dial (before it is placed) or an abandoned call; a repeat records nothing. */
  async record(phone: string, at: Date, kind: "dialed" | "abandoned", contactId: string): Promise<void> {
    await insertUnordered(this.entries, [{ _id: this.key(phone, at, kind === "dialed" ? "d" : "a", contactId), at }]);
  }

  async since(phone: string, since: Date): Promise<NumberHistoryView> {
    const line = this.lineKey(phone);
    const docs = await this.entries.find({ _id: { $gte: `${line}|${timeKey(since)}`, $lt: `${line}|~` } }).toArray();
    const dialedAt: Date[] = [];
    let lastAbandoned = -Infinity;
    for (const d of docs) {
      if (d._id.split("|")[2] === "d") dialedAt.push(d.at);
      else lastAbandoned = Math.max(lastAbandoned, d.at.getTime());
    }
    return { dialedAt, ...(lastAbandoned > -Infinity ? { lastAbandonedAt: new Date(lastAbandoned) } : {}) };
  }

  /** The dates the retention purge walks (MongoDB; FerretDB's SQLite backend reads them all). */
  async ensureIndexes(): Promise<void> {
    await this.entries.createIndex({ at: 1 }, { name: "at" });
  }

  /**
   * Deletes entries dated before `before` (the rules look back no further), `batchSize` at a
   * time and at most `maxBatches` batches a run; returns how many went.
   */
  async purge(before: Date, batchSize: number, maxBatches: number): Promise<number> {
    let n = 0;
    for (let batch = 0; batch < maxBatches; batch++) {
      const page = await this.entries
        .find({ at: { $lt: before } }, { projection: { _id: 1 } })
        .limit(batchSize)
        .toArray();
      if (page.length === 0) break;
      n += (await this.entries.deleteMany({ _id: { $in: page.map((d) => d._id) } })).deletedCount;
      if (page.length < batchSize) break;
    }
    return n;
  }

  /** Entries for the calls of a store written before this collection existed, once per store. */
  async backfillOnce(dialled: () => AsyncIterable<DialledContact>): Promise<void> {
    if (await this.entries.findOne({ _id: BACKFILLED })) return;
    let batch: HistoryDoc[] = [];
    for await (const c of dialled()) {
      batch.push({ _id: this.key(c.phone, c.dialedAt!, "d", c._id), at: c.dialedAt! });
      if (c.outcome === "ABANDONED") {
        const at = c.endedAt ?? c.dialedAt!;
        batch.push({ _id: this.key(c.phone, at, "a", c._id), at });
      }
      if (batch.length >= 1000) {
        await insertUnordered(this.entries, batch);
        batch = [];
      }
    }
    // The marker is dated at the end of time, so the retention purge never takes it.
    await insertUnordered(this.entries, [...batch, { _id: BACKFILLED, at: new Date(8.64e15) }]);
  }
}
