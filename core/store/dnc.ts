/**
 * DNC lists (`dnc_lists`) and their entries (`dnc_entries`, `_id` = `<list>:<entry>`, so adding
 * an entry twice stores it once). The check before an attempt looks up every address of the
 * attempts made at about the same time in one `_id: {$in}` query; prefix entries are few, so a
 * list's prefixes are loaded once with the list and kept briefly (another node's change is seen
 * at once after its `dnc.lists.changed` broadcast, see dnc.service.ts). Only what FerretDB 1.24
 * and MongoDB both do: `_id` and `$in` lookups, unordered inserts, countDocuments.
 */
import type { Collection } from "mongodb";
import type { Connection } from "mongoose";
import { entryKey, entryText, type DncEntry, type DncListState } from "../compliance/dnc.ts";
import { Batcher } from "./batcher.ts";
import { insertUnordered } from "./write-errors.ts";

export interface DncListDoc {
  _id: string;
  name: string;
  source: string;
  /** When entries were last added (a load of the list); null before the first. */
  lastRefreshedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface DncEntryDoc {
  _id: string;
  list: string;
  /** Normalised number or email; a prefix's digits without the `*`. */
  value: string;
  prefix?: true;
}

/** How long a list's state (refresh date, prefixes) is trusted without a broadcast. */
const LIST_CACHE_MS = 5_000;

interface Cached {
  until: number;
  state: Promise<DncListState | null>;
}

export class DncStore {
  readonly lists: Collection<DncListDoc>;
  readonly entries: Collection<DncEntryDoc>;
  private readonly cacheMs: number;
  private readonly cache = new Map<string, Cached>();
  /** Exact lookups of concurrent checks, as one query: each item's lists that hold its address. */
  private readonly lookups: Batcher<{ lists: readonly string[]; address: string }, Set<string>>;

  constructor(conn: Connection, opts: { cacheMs?: number } = {}) {
    this.lists = conn.collection<DncListDoc>("dnc_lists");
    this.entries = conn.collection<DncEntryDoc>("dnc_entries");
    this.cacheMs = opts.cacheMs ?? LIST_CACHE_MS;
    this.lookups = new Batcher(async (items) => {
      const keys = new Set(items.flatMap((it) => it.lists.map((l) => `${l}:${it.address}`)));
      const found = await this.entries.find({ _id: { $in: [...keys] } }, { projection: { _id: 1 } }).toArray();
      const hits = new Set(found.map((d) => d._id));
      return items.map((it) => new Set(it.lists.filter((l) => hits.has(`${l}:${it.address}`))));
    });
  }

  async ensureIndexes(): Promise<void> {
    // Counts, deletion of a list's entries and the load of its prefixes.
    await this.entries.createIndex({ list: 1, prefix: 1 }, { name: "list_prefix" });
  }

  /** Creates or renames a list; its entries and refresh date are kept. */
  async putList(
    id: string,
    fields: { name: string; source: string },
    now: Date,
  ): Promise<{ doc: DncListDoc; created: boolean }> {
    const doc: DncListDoc = { _id: id, ...fields, lastRefreshedAt: null, createdAt: now, updatedAt: now };
    const created = (await insertUnordered(this.lists, [doc])).size === 0;
    if (!created) await this.lists.updateOne({ _id: id }, { $set: { ...fields, updatedAt: now } });
    this.invalidate(id);
    return { doc: created ? doc : (await this.getList(id))!, created };
  }

  getList(id: string): Promise<DncListDoc | null> {
    return this.lists.findOne({ _id: id });
  }

  allLists(): Promise<DncListDoc[]> {
    return this.lists.find({}).sort({ _id: 1 }).toArray();
  }

  /** Which of `ids` are lists. */
  async existing(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const found = await this.lists.find({ _id: { $in: [...new Set(ids)] } }, { projection: { _id: 1 } }).toArray();
    return new Set(found.map((d) => d._id));
  }

  entryCount(id: string): Promise<number> {
    return this.entries.countDocuments({ list: id });
  }

  /** Deletes the list and its entries. */
  async removeList(id: string): Promise<boolean> {
    const res = await this.lists.deleteOne({ _id: id });
    await this.entries.deleteMany({ list: id });
    this.invalidate(id);
    return res.deletedCount === 1;
  }

  /** Adds entries (those already there stay as they are) and marks the list refreshed. */
  async addEntries(id: string, entries: readonly DncEntry[], now: Date): Promise<{ added: number; existing: number }> {
    const added = await this.insertEntries(id, entries);
    await this.markRefreshed(id, now);
    return { added, existing: entries.length - added };
  }

  /**
   * Inserts the entries not yet on the list (one unordered insert; a repeat, in `entries` or
   * of a stored entry, is a duplicate key) and answers how many were new.
   */
  async insertEntries(id: string, entries: readonly DncEntry[]): Promise<number> {
    const docs = [...new Map(entries.map((e) => [entryKey(id, e), e])).entries()].map(([key, e]): DncEntryDoc => ({
      _id: key,
      list: id,
      value: e.value,
      ...(e.prefix ? { prefix: true as const } : {}),
    }));
    const duplicates = await insertUnordered(this.entries, docs);
    return docs.length - duplicates.size;
  }

  /** A load of the list ended: its refresh date, and its cached state dropped. */
  async markRefreshed(id: string, now: Date): Promise<void> {
    await this.lists.updateOne({ _id: id }, { $set: { lastRefreshedAt: now, updatedAt: now } });
    this.invalidate(id);
  }

  async removeEntry(id: string, entry: DncEntry): Promise<boolean> {
    const res = await this.entries.deleteOne({ _id: entryKey(id, entry) });
    this.invalidate(id);
    return res.deletedCount === 1;
  }

  /** Entries of a list in key order, paged by `after` (an entry as the API writes it). */
  async listEntries(id: string, limit: number, after?: string): Promise<string[]> {
    const docs = await this.entries
      .find({ list: id, ...(after ? { _id: { $gt: `${id}:${after}` } } : {}) })
      .sort({ _id: 1 })
      .limit(limit)
      .toArray();
    return docs.map((d) => entryText({ value: d.value, prefix: d.prefix === true }));
  }

  /**
   * What the check of `address` against `lists` needs: each list's state (in the given order;
   * lists deleted since are left out) and the lists with an exact entry for it.
   */
  async lookup(
    lists: readonly string[],
    address: string,
    now = Date.now(),
  ): Promise<{ states: DncListState[]; exact: Set<string> }> {
    const [states, exact] = await Promise.all([this.states(lists, now), this.lookups.call({ lists, address })]);
    return { states, exact };
  }

  /** The lists' states as stored now (no cache), in the given order; missing lists left out. */
  async currentStates(ids: readonly string[]): Promise<DncListState[]> {
    const states = await this.load(ids);
    return ids.flatMap((id) => states.get(id) ?? []);
  }

  /** The keys of a list's entries, or undefined when it has more than `max` (read no further). */
  async exactKeysOf(id: string, max: number): Promise<Set<string> | undefined> {
    const keys = new Set<string>();
    const cursor = this.entries.find({ list: id }, { projection: { _id: 1 } }).batchSize(10_000);
    try {
      for await (const d of cursor) if (keys.add(d._id).size > max) return undefined;
    } finally {
      await cursor.close();
    }
    return keys;
  }

  /** Which of the exact-entry keys (`<list>:<address>`) exist: `_id $in` queries of 1,000 keys. */
  async existingKeys(keys: readonly string[]): Promise<Set<string>> {
    const unique = [...new Set(keys)];
    const found = new Set<string>();
    const chunks: string[][] = [];
    for (let i = 0; i < unique.length; i += 1000) chunks.push(unique.slice(i, i + 1000));
    await Promise.all(
      chunks.map(async (chunk) => {
        const docs = await this.entries.find({ _id: { $in: chunk } }, { projection: { _id: 1 } }).toArray();
        for (const d of docs) found.add(d._id);
      }),
    );
    return found;
  }

  /** Drops the cached state of one list (or all): the next check reads it again. */
  invalidate(id?: string): void {
    if (id === undefined) this.cache.clear();
    else this.cache.delete(id);
  }

  private async states(ids: readonly string[], now: number): Promise<DncListState[]> {
    const missing = ids.filter((id) => !((this.cache.get(id)?.until ?? 0) > now));
    if (missing.length > 0) {
      const loaded = this.load(missing);
      for (const id of missing)
        this.cache.set(id, { until: now + this.cacheMs, state: loaded.then((m) => m.get(id) ?? null) });
      // A failed load is not kept: the next check tries again.
      loaded.catch(() => missing.forEach((id) => this.cache.delete(id)));
    }
    const states = await Promise.all(ids.map((id) => this.cache.get(id)!.state));
    return states.filter((s): s is DncListState => s !== null);
  }

  private async load(ids: readonly string[]): Promise<Map<string, DncListState>> {
    const [docs, prefixes] = await Promise.all([
      this.lists.find({ _id: { $in: [...ids] } }).toArray(),
      this.entries.find({ list: { $in: [...ids] }, prefix: true }, { projection: { list: 1, value: 1 } }).toArray(),
    ]);
    return new Map(
      docs.map((d) => [
        d._id,
        {
          id: d._id,
          lastRefreshedAt: d.lastRefreshedAt,
          prefixes: prefixes.filter((p) => p.list === d._id).map((p) => p.value),
        },
      ]),
    );
  }
}
