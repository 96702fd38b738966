/**
 * The due index: which activities need looking at, ordered by when. One small document per
 * (time, activity), `_id` = `<ms since epoch, 15 digits>:<activityId>`, so "what is due now" is
 * one `_id` range on the `_id` index, on MongoDB and on FerretDB (whose SQLite backend pushes
 * `_id` ranges down with our patch, and nothing else): its cost is what is due, never what is
 * scheduled for later.
 *
 * The activity document stays the truth; an entry only says "look at it by then". Entries are
 * added before the state they announce is relied on and removed only once a newer entry (or no
 * need) exists, so an activity with a next run always has an entry at or before it. An entry
 * that no longer matches its activity (moved since, released, held by a lease) is corrected
 * when it comes due: see `ActivityStore.claimDue`.
 */
import type { Collection, Connection } from "mongoose";
import { insertUnordered } from "./write-errors.ts";

interface DueDoc {
  _id: string;
  a: string;
  /** When the entry was written. */
  c: Date;
}

export interface DueEntry {
  key: string;
  activityId: string;
  writtenAt: Date;
}

/**
 * How long an entry whose activity does not exist is kept: intake writes the entry before the
 * activity, so a claim round between the two finds the entry alone.
 */
export const ORPHAN_GRACE_MS = 60_000;

/** A time as a key part that sorts as the time does: ms since the epoch, 15 digits. */
export function timeKey(at: Date): string {
  return String(Math.max(0, at.getTime())).padStart(15, "0");
}

export function dueKey(at: Date, activityId: string): string {
  return `${timeKey(at)}:${activityId}`;
}

/** The highest key of everything due at `at` (`~` sorts after every id character). */
function dueBound(at: Date): string {
  return `${timeKey(at)}:~`;
}

const BACKFILLED = "~backfilled";

/** FerretDB's patch pushes `$in` down for at most 1,000 ids. */
const CHUNK = 1000;

export class DueIndex {
  private readonly entries: Collection<DueDoc>;
  private pendingAdds = new Map<string, DueDoc>();
  private pendingRemoves = new Set<string>();
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  /** How long buffered moves wait to be written together. */
  private readonly groupMs: number;

  constructor(conn: Connection, groupMs = 10) {
    this.entries = conn.collection<DueDoc>("activity_due");
    this.groupMs = groupMs;
  }

  /** Writes entries now (intake: before the activities they announce exist). */
  async add(items: { activityId: string; at: Date }[]): Promise<void> {
    if (items.length === 0) return;
    const c = new Date();
    await this.insert(items.map((i) => ({ _id: dueKey(i.at, i.activityId), a: i.activityId, c })));
  }

  private async insert(docs: DueDoc[]): Promise<void> {
    for (let i = 0; i < docs.length; i += CHUNK) await insertUnordered(this.entries, docs.slice(i, i + CHUNK));
  }

  async remove(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += CHUNK) {
      await this.entries.deleteMany({ _id: { $in: keys.slice(i, i + CHUNK) } });
    }
  }

  /**
   * Up to `limit` entries due at `now`, oldest first among them. Not sorted by the store: FerretDB
   * sorts in Go, after reading and decoding every entry of the range (4,000 due at once made each
   * claim round decode 4,000 to keep 200); unsorted, it stops after `limit` rows. Both stores
   * read an `_id` range from the `_id` index, in its order, so these are the oldest in practice;
   * which entries a round gets never matters for correctness, since rounds go on while full.
   */
  async due(now: Date, limit: number): Promise<DueEntry[]> {
    const docs = await this.entries
      .find({ _id: { $lte: dueBound(now) } })
      .limit(limit)
      .batchSize(limit)
      .toArray();
    docs.sort((a, b) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0));
    return docs.map((d) => ({ key: d._id, activityId: d.a, writtenAt: d.c }));
  }

  /**
   * An activity moved from entry `from` to `to` (null: it needs nothing more). Buffered and
   * written with the moves of the next few milliseconds, the new entry first. Losing the buffer
   * (a crash) loses nothing: `from` stays and corrects itself when it comes due.
   */
  move(activityId: string, from: string | undefined, to: Date | null): void {
    const toKey = to ? dueKey(to, activityId) : undefined;
    if (from !== undefined && from === toKey) return; // already where it belongs
    if (toKey) {
      this.pendingAdds.set(toKey, { _id: toKey, a: activityId, c: new Date() });
      this.pendingRemoves.delete(toKey);
    }
    if (from && from !== toKey) this.pendingRemoves.add(from);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush().catch(() => undefined);
    }, this.groupMs);
    this.timer.unref();
  }

  /** Writes the buffered moves; concurrent callers share one write. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.pendingAdds.size === 0 && this.pendingRemoves.size === 0) return;
    const adds = [...this.pendingAdds.values()];
    const removes = [...this.pendingRemoves];
    this.pendingAdds = new Map();
    this.pendingRemoves = new Set();
    this.flushing = (async () => {
      try {
        await this.insert(adds);
        if (removes.length) await this.remove(removes);
      } catch (err) {
        // Kept for the next flush: an entry not added yet must not be dropped.
        for (const d of adds) if (!this.pendingAdds.has(d._id)) this.pendingAdds.set(d._id, d);
        for (const k of removes) this.pendingRemoves.add(k);
        throw err;
      } finally {
        this.flushing = undefined;
      }
    })();
    await this.flushing;
  }

  /**
   * Entries for every activity with a next run, once per store (a store written before the
   * index existed); the marker's key sorts after every due key, so it is never due itself.
   */
  async backfillOnce(activities: Collection): Promise<number> {
    if (await this.entries.findOne({ _id: BACKFILLED })) return 0;
    const n = await this.backfill(activities);
    await insertUnordered(this.entries, [{ _id: BACKFILLED, a: "", c: new Date() }]);
    return n;
  }

  private async backfill(activities: Collection): Promise<number> {
    let n = 0;
    let batch: { activityId: string; at: Date }[] = [];
    const cursor = activities.find({ nextRunAt: { $ne: null } }, { projection: { _id: 1, nextRunAt: 1 } });
    for await (const a of cursor as AsyncIterable<{ _id: string; nextRunAt: Date }>) {
      batch.push({ activityId: a._id, at: a.nextRunAt });
      if (batch.length === CHUNK) {
        await this.add(batch);
        n += batch.length;
        batch = [];
      }
    }
    await this.add(batch);
    return n + batch.length;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
