/**
 * Shared by the Cisco plugins: the contacts the hub sent that are not yet appended at Cisco
 * (the outbox), and which node flushes which campaign (flusher terms).
 *
 * In the hub's database (`ctx.storage`) the outbox survives a node: a send is answered once
 * its row is inserted, keyed by the account number (the attempt id), so a resend of the same
 * attempt adds nothing. Every decision between nodes rests on a unique insert (conditional
 * updates are not atomic on FerretDB, see docs/architecture.md): the node that inserts term
 * _k_ of a campaign flushes it until the term's lease passes; another node may then insert
 * _k_+1. Only the holder writes its term document (to renew it) and the rows it takes.
 * Without storage the outbox lives in memory (tests, a hub without a database).
 */
import type { Collection } from "mongodb";
import type { PluginStorage } from "@dialmesh/sdk";
import type { AppendRow } from "./batcher.ts";
import { isDuplicateKey } from "./store.ts";

export interface OutboxEntry<Row extends AppendRow> {
  campaignId: number;
  row: Row;
  /** The hub's activity id: events about the row name it. */
  activityId: string;
  enqueuedAt: Date;
  /** Set when a flusher took the row into a delivery: an append of it may have been applied. */
  takenAt?: Date;
}

/** What the flusher needs to decide whether a campaign's batch is due. */
export interface OutboxSummary {
  waiting: number;
  /** enqueuedAt of the oldest waiting row, ms. */
  oldestAt: number | undefined;
}

export interface ContactOutbox<Row extends AppendRow> {
  /** False when the rows live in this process only (they are lost when it stops). */
  readonly durable: boolean;
  init(): Promise<void>;
  /** Inserts the entry; false when its account number is already waiting. */
  add(entry: OutboxEntry<Row>): Promise<boolean>;
  /** Campaigns with waiting rows. */
  campaigns(): Promise<number[]>;
  summary(campaignId: number): Promise<OutboxSummary>;
  /** Up to `limit` of the campaign's rows (0: all), oldest first. */
  oldest(campaignId: number, limit: number): Promise<OutboxEntry<Row>[]>;
  markTaken(accountNumbers: readonly string[], at: Date): Promise<void>;
  remove(accountNumbers: readonly string[]): Promise<void>;
  /**
   * Holds the right to flush the campaign for `ms`: true while `holder`'s term runs (renewed)
   * or when it inserted the next term after the last one's lease passed.
   */
  holdTerm(campaignId: number, holder: string, now: Date, ms: number): Promise<boolean>;
  /** Ends `holder`'s term now, so that another node takes the campaign over at once. */
  releaseTerm(campaignId: number, holder: string, now: Date): Promise<void>;
}

interface OutboxDoc<Row> {
  _id: string;
  campaignId: number;
  row: Row;
  activityId: string;
  enqueuedAt: Date;
  takenAt?: Date;
}

interface TermDoc {
  _id: string;
  campaignId: number;
  term: number;
  holder: string;
  until: Date;
}

/** The indexes of an unordered insert's `count` documents whose _id existed; rethrows any other error. */
function duplicateIndexes(err: unknown, count: number): Set<number> {
  type WriteError = { code?: number; index?: number; err?: { code?: number; index?: number } };
  const writeErrors = (err as { writeErrors?: WriteError[] }).writeErrors ?? [];
  if (writeErrors.length === 0) {
    if (isDuplicateKey(err) && count === 1) return new Set([0]);
    throw err;
  }
  const indexes = new Set<number>();
  for (const we of writeErrors) {
    const index = we.index ?? we.err?.index;
    if ((we.code ?? we.err?.code) !== 11000 || index === undefined) throw err;
    indexes.add(index);
  }
  return indexes;
}

function entryOf<Row extends AppendRow>(doc: OutboxDoc<Row>): OutboxEntry<Row> {
  return {
    campaignId: doc.campaignId,
    row: doc.row,
    activityId: doc.activityId,
    enqueuedAt: doc.enqueuedAt,
    ...(doc.takenAt ? { takenAt: doc.takenAt } : {}),
  };
}

export class MongoContactOutbox<Row extends AppendRow> implements ContactOutbox<Row> {
  readonly durable = true;
  private readonly rows: Collection<OutboxDoc<Row>>;
  private readonly terms: Collection<TermDoc>;
  private pendingAdds: { entry: OutboxEntry<Row>; resolve(added: boolean): void; reject(err: unknown): void }[] = [];

  constructor(storage: PluginStorage) {
    this.rows = storage.collection<OutboxDoc<Row>>("outbox");
    this.terms = storage.collection<TermDoc>("flusher_terms");
  }

  async init(): Promise<void> {
    // A campaign's rows are counted and taken oldest first.
    await this.rows.createIndex({ campaignId: 1, enqueuedAt: 1 });
    await this.terms.createIndex({ campaignId: 1, term: -1 });
  }

  /**
   * Adds made in the same turn of the event loop (the hub's concurrent sends) become one
   * unordered insert: FerretDB spends per command about what it spends per document.
   */
  add(entry: OutboxEntry<Row>): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.pendingAdds.push({ entry, resolve, reject });
      if (this.pendingAdds.length === 1) setImmediate(() => void this.insertPending());
    });
  }

  private async insertPending(): Promise<void> {
    const adds = this.pendingAdds;
    this.pendingAdds = [];
    const docs = adds.map(({ entry }) => ({
      _id: entry.row.accountNumber,
      campaignId: entry.campaignId,
      row: entry.row,
      activityId: entry.activityId,
      enqueuedAt: entry.enqueuedAt,
    })) as OutboxDoc<Row>[];
    let duplicates: Set<number>;
    try {
      await this.rows.insertMany(docs, { ordered: false });
      duplicates = new Set();
    } catch (err) {
      try {
        duplicates = duplicateIndexes(err, docs.length);
      } catch (other) {
        for (const add of adds) add.reject(other);
        return;
      }
    }
    adds.forEach((add, i) => add.resolve(!duplicates.has(i)));
  }

  async campaigns(): Promise<number[]> {
    return (await this.rows.distinct("campaignId")).filter((v): v is number => typeof v === "number");
  }

  async summary(campaignId: number): Promise<OutboxSummary> {
    const waiting = await this.rows.countDocuments({ campaignId });
    if (waiting === 0) return { waiting, oldestAt: undefined };
    const oldest = await this.rows.findOne(
      { campaignId },
      { sort: { enqueuedAt: 1, _id: 1 }, projection: { enqueuedAt: 1 } },
    );
    return { waiting, oldestAt: oldest?.enqueuedAt.getTime() };
  }

  async oldest(campaignId: number, limit: number): Promise<OutboxEntry<Row>[]> {
    const docs = await this.rows.find({ campaignId }).sort({ enqueuedAt: 1, _id: 1 }).limit(limit).toArray();
    return docs.map((d) => entryOf(d as OutboxDoc<Row>));
  }

  async markTaken(accountNumbers: readonly string[], at: Date): Promise<void> {
    if (accountNumbers.length === 0) return;
    await this.rows.updateMany({ _id: { $in: [...accountNumbers] } }, { $set: { takenAt: at } });
  }

  async remove(accountNumbers: readonly string[]): Promise<void> {
    if (accountNumbers.length === 0) return;
    await this.rows.deleteMany({ _id: { $in: [...accountNumbers] } });
  }

  async holdTerm(campaignId: number, holder: string, now: Date, ms: number): Promise<boolean> {
    const latest = await this.terms.findOne({ campaignId }, { sort: { term: -1 } });
    const until = new Date(now.getTime() + ms);
    if (latest && latest.until.getTime() > now.getTime()) {
      if (latest.holder !== holder) return false;
      // Only the holder writes its term, and nobody inserts the next one while it runs.
      await this.terms.updateOne({ _id: latest._id }, { $set: { until } });
      return true;
    }
    const term = (latest?.term ?? 0) + 1;
    try {
      await this.terms.insertOne({ _id: `${campaignId}:${term}`, campaignId, term, holder, until });
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
    await this.terms.deleteMany({ campaignId, term: { $lt: term } });
    return true;
  }

  async releaseTerm(campaignId: number, holder: string, now: Date): Promise<void> {
    const latest = await this.terms.findOne({ campaignId }, { sort: { term: -1 } });
    if (latest?.holder === holder) {
      await this.terms.updateOne({ _id: latest._id }, { $set: { until: new Date(now.getTime() - 1) } });
    }
  }
}

export class MemoryContactOutbox<Row extends AppendRow> implements ContactOutbox<Row> {
  readonly durable = false;
  private readonly rows = new Map<string, OutboxEntry<Row>>();

  async init(): Promise<void> {}

  async add(entry: OutboxEntry<Row>): Promise<boolean> {
    if (this.rows.has(entry.row.accountNumber)) return false;
    this.rows.set(entry.row.accountNumber, { ...entry });
    return true;
  }

  async campaigns(): Promise<number[]> {
    return [...new Set([...this.rows.values()].map((e) => e.campaignId))];
  }

  async summary(campaignId: number): Promise<OutboxSummary> {
    let waiting = 0;
    let oldestAt: number | undefined;
    for (const e of this.rows.values()) {
      if (e.campaignId !== campaignId) continue;
      waiting += 1;
      oldestAt = Math.min(oldestAt ?? Infinity, e.enqueuedAt.getTime());
    }
    return { waiting, oldestAt };
  }

  async oldest(campaignId: number, limit: number): Promise<OutboxEntry<Row>[]> {
    // Map order is insertion order: oldest first.
    const out: OutboxEntry<Row>[] = [];
    for (const e of this.rows.values()) {
      if (limit > 0 && out.length >= limit) break;
      if (e.campaignId === campaignId) out.push({ ...e });
    }
    return out;
  }

  async markTaken(accountNumbers: readonly string[], at: Date): Promise<void> {
    for (const a of accountNumbers) {
      const e = this.rows.get(a);
      if (e) e.takenAt = at;
    }
  }

  async remove(accountNumbers: readonly string[]): Promise<void> {
    for (const a of accountNumbers) this.rows.delete(a);
  }

  /** One process: it always holds its campaigns. */
  async holdTerm(): Promise<boolean> {
    return true;
  }

  async releaseTerm(): Promise<void> {}
}
