/**
 * Private to the five9 plugin: the records in Five9 lists whose disposition has not come back
 * yet, so that a flush can end their activities CANCELLED. In the hub's database
 * (`ctx.storage`) when there is one, shared by every node; in memory otherwise.
 */
import type { Collection } from "mongodb";
import type { PluginStorage } from "@dialmesh/sdk";

export interface OpenRecord {
  key: string;
  listName: string;
  activityId: string;
}

export interface OpenRecordStore {
  init(): Promise<void>;
  /** Records a record Five9 accepted; recording it twice is harmless. */
  open(record: OpenRecord): Promise<void>;
  /** Forgets records whose disposition came back (or that were flushed). */
  close(keys: readonly string[]): Promise<void>;
  openIn(listName: string): Promise<OpenRecord[]>;
}

export class MemoryOpenRecordStore implements OpenRecordStore {
  private readonly records = new Map<string, OpenRecord>();
  async init(): Promise<void> {}
  async open(record: OpenRecord): Promise<void> {
    if (!this.records.has(record.key)) this.records.set(record.key, record);
  }
  async close(keys: readonly string[]): Promise<void> {
    for (const key of keys) this.records.delete(key);
  }
  async openIn(listName: string): Promise<OpenRecord[]> {
    return [...this.records.values()].filter((r) => r.listName === listName);
  }
}

interface OpenRecordDoc {
  _id: string;
  listName: string;
  activityId: string;
  openedAt: Date;
}

export class MongoOpenRecordStore implements OpenRecordStore {
  private readonly records: Collection<OpenRecordDoc>;

  constructor(storage: PluginStorage) {
    this.records = storage.collection<OpenRecordDoc>("open_records");
  }

  async init(): Promise<void> {
    // Flushes look records up by list.
    await this.records.createIndex({ listName: 1 });
  }

  async open(record: OpenRecord): Promise<void> {
    await this.records.updateOne(
      { _id: record.key },
      { $setOnInsert: { listName: record.listName, activityId: record.activityId, openedAt: new Date() } },
      { upsert: true },
    );
  }

  async close(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.records.deleteMany({ _id: { $in: [...keys] } });
  }

  async openIn(listName: string): Promise<OpenRecord[]> {
    const docs = await this.records.find({ listName }).toArray();
    return docs.map((d) => ({ key: d._id, listName: d.listName, activityId: d.activityId }));
  }
}
