/**
 * Shared by the Cisco plugins (cisco-cce, cisco-uccx): which appended contacts are still open
 * at Cisco, and who polls which campaign. In the hub's database (`ctx.storage`) the state
 * survives a restart and is shared by every hub node running the instance; without storage
 * (tests, a hub without a database) it lives in memory and results are polled by this process
 * only.
 */
import type { Collection } from "mongodb";
import type { PluginStorage } from "@dialmesh/sdk";

export interface OpenContact {
  accountNumber: string;
  campaignId: number;
}

export interface OpenContactStore {
  /** Prepares the storage (indexes); called once at start. */
  init(): Promise<void>;
  /** Records contacts Cisco accepted; recording one twice is harmless. */
  open(contacts: readonly OpenContact[]): Promise<void>;
  /** Cisco campaigns with open contacts. */
  campaigns(): Promise<number[]>;
  /** The open ones among `accountNumbers` of the campaign. */
  openAmong(campaignId: number, accountNumbers: readonly string[]): Promise<Set<string>>;
  /** Every open contact of the campaign. */
  openIn(campaignId: number): Promise<string[]>;
  /**
   * Takes the right to report the contact's final result: true for exactly one caller across
   * nodes, until `release` (the report failed) or until the claim is older than `staleMs`.
   */
  claim(accountNumber: string, now: Date, staleMs: number): Promise<boolean>;
  release(accountNumber: string): Promise<void>;
  /** Forgets a contact whose final result was reported (or that was flushed). */
  close(accountNumbers: readonly string[]): Promise<void>;
  /** Holds `name` for `ms` unless another holder's lease is still running. */
  lease(name: string, holder: string, now: Date, ms: number): Promise<boolean>;
}

interface OpenContactDoc {
  _id: string;
  campaignId: number;
  openedAt: Date;
  claimedAt?: Date;
}

interface LeaseDoc {
  _id: string;
  holder: string;
  until: Date;
}

export function isDuplicateKey(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === 11000;
}

export class MongoOpenContactStore implements OpenContactStore {
  private readonly contacts: Collection<OpenContactDoc>;
  private readonly leases: Collection<LeaseDoc>;

  constructor(storage: PluginStorage) {
    this.contacts = storage.collection<OpenContactDoc>("open_contacts");
    this.leases = storage.collection<LeaseDoc>("poll_leases");
  }

  async init(): Promise<void> {
    // Polls and flushes look contacts up by campaign.
    await this.contacts.createIndex({ campaignId: 1 });
  }

  async open(contacts: readonly OpenContact[]): Promise<void> {
    if (contacts.length === 0) return;
    const openedAt = new Date();
    await this.contacts.bulkWrite(
      contacts.map((c) => ({
        updateOne: {
          filter: { _id: c.accountNumber },
          update: { $setOnInsert: { campaignId: c.campaignId, openedAt } },
          upsert: true,
        },
      })),
      { ordered: false },
    );
  }

  async campaigns(): Promise<number[]> {
    return (await this.contacts.distinct("campaignId")).filter((v): v is number => typeof v === "number");
  }

  async openAmong(campaignId: number, accountNumbers: readonly string[]): Promise<Set<string>> {
    if (accountNumbers.length === 0) return new Set();
    const docs = await this.contacts
      .find({ campaignId, _id: { $in: [...accountNumbers] } }, { projection: { _id: 1 } })
      .toArray();
    return new Set(docs.map((d) => d._id));
  }

  async openIn(campaignId: number): Promise<string[]> {
    const docs = await this.contacts.find({ campaignId }, { projection: { _id: 1 } }).toArray();
    return docs.map((d) => d._id);
  }

  async claim(accountNumber: string, now: Date, staleMs: number): Promise<boolean> {
    const result = await this.contacts.updateOne(
      {
        _id: accountNumber,
        $or: [{ claimedAt: { $exists: false } }, { claimedAt: { $lt: new Date(now.getTime() - staleMs) } }],
      },
      { $set: { claimedAt: now } },
    );
    return result.modifiedCount === 1;
  }

  async release(accountNumber: string): Promise<void> {
    await this.contacts.updateOne({ _id: accountNumber }, { $unset: { claimedAt: "" } });
  }

  async close(accountNumbers: readonly string[]): Promise<void> {
    if (accountNumbers.length === 0) return;
    await this.contacts.deleteMany({ _id: { $in: [...accountNumbers] } });
  }

  async lease(name: string, holder: string, now: Date, ms: number): Promise<boolean> {
    try {
      // Matches a free, expired or own lease; when another node holds it, the upsert tries
      // to insert a second document with the same _id and fails: not ours.
      await this.leases.updateOne(
        { _id: name, $or: [{ holder }, { until: { $lt: now } }] },
        { $set: { holder, until: new Date(now.getTime() + ms) } },
        { upsert: true },
      );
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }
}

export class MemoryOpenContactStore implements OpenContactStore {
  private readonly contacts = new Map<string, { campaignId: number; claimedAt?: Date }>();
  private readonly leases = new Map<string, { holder: string; until: Date }>();

  async init(): Promise<void> {}

  async open(contacts: readonly OpenContact[]): Promise<void> {
    for (const c of contacts) {
      if (!this.contacts.has(c.accountNumber)) this.contacts.set(c.accountNumber, { campaignId: c.campaignId });
    }
  }

  async campaigns(): Promise<number[]> {
    return [...new Set([...this.contacts.values()].map((c) => c.campaignId))];
  }

  async openAmong(campaignId: number, accountNumbers: readonly string[]): Promise<Set<string>> {
    return new Set(accountNumbers.filter((a) => this.contacts.get(a)?.campaignId === campaignId));
  }

  async openIn(campaignId: number): Promise<string[]> {
    return [...this.contacts.entries()].filter(([, c]) => c.campaignId === campaignId).map(([a]) => a);
  }

  async claim(accountNumber: string, now: Date, staleMs: number): Promise<boolean> {
    const contact = this.contacts.get(accountNumber);
    if (!contact) return false;
    if (contact.claimedAt && contact.claimedAt.getTime() >= now.getTime() - staleMs) return false;
    contact.claimedAt = now;
    return true;
  }

  async release(accountNumber: string): Promise<void> {
    const contact = this.contacts.get(accountNumber);
    if (contact) delete contact.claimedAt;
  }

  async close(accountNumbers: readonly string[]): Promise<void> {
    for (const a of accountNumbers) this.contacts.delete(a);
  }

  async lease(name: string, holder: string, now: Date, ms: number): Promise<boolean> {
    const current = this.leases.get(name);
    if (current && current.holder !== holder && current.until.getTime() >= now.getTime()) return false;
    this.leases.set(name, { holder, until: new Date(now.getTime() + ms) });
    return true;
  }
}
