/**
 * Erasure, export and retention purges over every collection that can hold a customer's
 * personal data. Which collections those are, and why the others are left (see
 * docs/architecture.md, "Privacy"):
 *
 * reached: customers, activities (+ activity_claims start records), dialer_contacts,
 * conversations, timeline, consents, suppressions, import_rejects, webhook_deliveries, and
 * every plugin_* collection (plugin state is opaque: documents naming the customer are deleted).
 * not reached: dnc_lists/dnc_entries (list data from a registry, see the service),
 * customer_attributes, customer_filters, import_mappings, import_jobs (declarations, counters),
 * activity_due, activity_claims claims, dialer_claims, dialer_campaigns, dialer_agents,
 * dialer_queues, dialer_queue (contact ids), dialer_number_history (keyed hashes of numbers and
 * dial times, kept 31 days for the rules), rate_windows, webhook_subscriptions, webhook_delivery_claims, plugin_instances
 * (ids, keys and config only).
 *
 * Only what FerretDB 1.24 and MongoDB both do. Activities are written as their holder (a claim,
 * claims.ts), as every other activity write is.
 */
import type { Collection, Connection } from "mongoose";
import type { Document } from "mongodb";
import type { ActivityStore } from "./activities.ts";
import type { ActivityDoc, ConversationDoc, Models, SuppressionDoc, TimelineEventDoc } from "./models.ts";
import type { CustomerDoc } from "./customers.ts";
import type { ConsentDoc } from "./consent.ts";
import type { ImportJobDoc, RejectDoc } from "./imports.ts";
import { webhookModels, type WebhookModels } from "../webhooks/models.ts";
import { escapeRegex } from "../audience/filters.ts";
import type { KeyedHash } from "../privacy/keyed-hash.ts";
import {
  addressesOf,
  erasedConversationId,
  mentionsAny,
  redactedActivity,
  isRedactedWebhookBody,
  redactedWebhookBody,
  rowMentions,
  TIMELINE_PERSONAL_FIELDS,
  type ErasureSubject,
} from "../privacy/redact.ts";
import { isOpenActivity, type PurgeKind, type PurgeStep } from "../privacy/retention.ts";
import { NumberHistory } from "./number-history.ts";
import { isDuplicateKey } from "./write-errors.ts";

/** Generations of an attempt's reservation (claims.ts GENERATIONS_READ) that may hold it. */
const START_RECORD_GENERATIONS = 3;
/** Batches per kind and run: a run ends, and the next one goes on where it stopped. */
const MAX_BATCHES_PER_RUN = 100;
/** `$in` and regex alternations stay below FerretDB's pushdown limit. */
const CHUNK = 500;

export interface ErasureCounts {
  customers: number;
  activities: number;
  startRecords: number;
  dialerContacts: number;
  conversations: number;
  timelineEvents: number;
  consents: number;
  objectionsKept: number;
  suppressionsHashed: number;
  importRejects: number;
  webhookDeliveries: number;
  pluginDocuments: number;
}

export type ErasureResult =
  | { outcome: "erased"; counts: ErasureCounts }
  | { outcome: "already-erased"; erasedAt: Date }
  | { outcome: "unknown" }
  /** Activities held by another node (being sent now): nothing else was erased yet; retry. */
  | { outcome: "busy"; activities: string[] };

export interface CustomerExport {
  customer: CustomerDoc | null;
  consents: ConsentDoc[];
  activities: ActivityDoc[];
  conversations: (ConversationDoc & { timeline: TimelineEventDoc[] })[];
  suppressions: SuppressionDoc[];
  importRejects: RejectDoc[];
}

interface ErasureDoc {
  /** Keyed hash of the customer id. */
  _id: string;
  erasedAt: Date;
  lastErasedAt: Date;
}

interface PurgeRunDoc {
  _id: string;
  node: string;
  startedAt: Date;
  finishedAt?: Date;
  counts?: Partial<Record<PurgeKind, number>>;
}

type DialerContactDoc = { _id: string; activityId: string; phone: string; customerId: string };

const chunks = <T>(items: readonly T[], size = CHUNK): T[][] =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

const unique = (values: Iterable<string | undefined | null>): string[] => [
  ...new Set([...values].filter((v): v is string => typeof v === "string" && v.length > 0)),
];

export class PrivacyStore {
  private readonly conn: Connection;
  private readonly models: Models;
  private readonly webhooks: WebhookModels;
  private readonly activities: ActivityStore;
  private readonly hash: KeyedHash;
  private readonly customers: Collection<CustomerDoc>;
  private readonly consents: Collection<ConsentDoc>;
  private readonly rejects: Collection<RejectDoc>;
  private readonly jobs: Collection<ImportJobDoc>;
  private readonly dialerContacts: Collection<DialerContactDoc>;
  private readonly erasures: Collection<ErasureDoc>;
  private readonly runs: Collection<PurgeRunDoc>;
  private readonly numberHistory: NumberHistory;

  constructor(conn: Connection, models: Models, activities: ActivityStore, hash: KeyedHash) {
    this.conn = conn;
    this.models = models;
    this.webhooks = webhookModels(conn);
    this.activities = activities;
    this.hash = hash;
    this.customers = conn.collection<CustomerDoc>("customers");
    this.consents = conn.collection<ConsentDoc>("consents");
    this.rejects = conn.collection<RejectDoc>("import_rejects");
    this.jobs = conn.collection<ImportJobDoc>("import_jobs");
    this.dialerContacts = conn.collection<DialerContactDoc>("dialer_contacts");
    this.erasures = conn.collection<ErasureDoc>("privacy_erasures");
    this.runs = conn.collection<PurgeRunDoc>("privacy_purge_runs");
    this.numberHistory = new NumberHistory(conn, hash);
  }

  /** The date ranges the purges walk. Creation dates: never rewritten, so no cost on updates. */
  async ensureIndexes(): Promise<void> {
    await this.models.Activity.collection.createIndex({ createdAt: 1 }, { name: "created_at" });
    await this.models.Conversation.collection.createIndex({ createdAt: 1 }, { name: "created_at" });
    await this.models.TimelineEvent.collection.createIndex({ type: 1, at: 1 }, { name: "type_at" });
    await this.jobs.createIndex({ finishedAt: 1 }, { name: "finished_at" });
    await this.numberHistory.ensureIndexes();
  }

  // ---------------------------------------------------------------- what is held

  /**
   * The customer's activities (by id: another customer's activities to a shared address are
   * theirs), their conversations, and the inbound ones of their addresses (nobody else's).
   */
  private async holdings(customerId: string) {
    const customer = await this.customers.findOne({ _id: customerId });
    const activities = await this.models.Activity.find({ "customer.id": customerId }).lean<ActivityDoc[]>();
    const emails = unique([customer?.email, ...activities.map((a) => a.customer.email?.toLowerCase())]);
    const phones = unique([
      ...(customer?.phones ?? []).map((p) => p.number),
      ...activities.map((a) => a.customer.phone),
    ]);
    const subject: ErasureSubject = { customerId, emails, phones };
    const conversations = await this.models.Conversation.find({
      $or: [
        { customerId },
        { _id: { $in: unique(activities.map((a) => a.conversationId)) } },
        // ConversationStore.ensureInbound: from an address no activity was sent to.
        { customerId: { $in: addressesOf(subject).map((a) => `unknown:${a}`) } },
      ],
    }).lean<ConversationDoc[]>();
    const consents = await this.consents.find({ customerId }).sort({ at: 1, _id: 1 }).toArray();
    return { customer, subject, activities, conversations, consents };
  }

  private async rejectsOf(subject: ErasureSubject): Promise<RejectDoc[]> {
    // No index can find a row by its cells: the rejects are read in pages (erasure is rare).
    const found: RejectDoc[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.rejects
        .find(after ? { _id: { $gt: after } } : {})
        .sort({ _id: 1 })
        .limit(CHUNK)
        .toArray();
      found.push(...page.filter((r) => rowMentions(r.raw ?? [], subject)));
      if (page.length < CHUNK) return found;
      after = page.at(-1)!._id;
    }
  }

  /** Everything held about the customer (portability), or null when nothing is. */
  async export(customerId: string): Promise<CustomerExport | null> {
    const h = await this.holdings(customerId);
    if (!h.customer && !h.activities.length && !h.conversations.length && !h.consents.length) return null;
    const timeline = await this.models.TimelineEvent.find({
      conversationId: { $in: h.conversations.map((c) => c._id) },
    })
      .sort({ at: 1, _id: 1 })
      .lean<TimelineEventDoc[]>();
    const addresses = addressesOf(h.subject);
    const suppressions = await this.models.Suppression.find({
      _id: { $in: [...addresses, ...addresses.map(this.hash)] },
    }).lean<SuppressionDoc[]>();
    return {
      customer: h.customer,
      consents: h.consents,
      activities: h.activities,
      conversations: h.conversations.map((c) => ({
        ...c,
        timeline: timeline.filter((t) => t.conversationId === c._id),
      })),
      suppressions,
      importRejects: await this.rejectsOf(h.subject),
    };
  }

  // ---------------------------------------------------------------- erasure

  /**
   * Erases the customer's personal data everywhere it is held. Activities first, each as its
   * holder; if one is held by a node sending it, nothing else is touched and the caller retries.
   * The customer document goes last, so that a retry still finds the addresses.
   */
  async erase(customerId: string, owner: string, now: Date): Promise<ErasureResult> {
    const h = await this.holdings(customerId);
    if (!h.customer && !h.activities.length && !h.conversations.length && !h.consents.length) {
      const tomb = await this.erasures.findOne({ _id: this.hash(customerId) });
      return tomb ? { outcome: "already-erased", erasedAt: tomb.erasedAt } : { outcome: "unknown" };
    }
    // Conversation ids can be plain hashes of the customer id or address (stableId): new ids.
    const rekey = new Map(h.conversations.map((c) => [c._id, erasedConversationId(c._id, this.hash)]));
    const busy: string[] = [];
    const erasedActivities: ActivityDoc[] = [];
    for (const a of h.activities) {
      const held = await this.activities.claimOne(a._id, owner, 10_000, 2_000);
      if (!held) {
        busy.push(a._id);
        continue;
      }
      // An attempt in flight (its sender died, or its answer waits in a journal) is recovered first.
      if (held.attempts.some((t) => t.unstored || t.status === "DISPATCHING")) {
        await this.activities.release(held, {}, now);
        busy.push(a._id);
      } else if (
        await this.activities.release(
          held,
          {
            ...redactedActivity(held, this.hash),
            conversationId: rekey.get(held.conversationId) ?? held.conversationId,
          },
          now,
        )
      )
        erasedActivities.push(held);
      else busy.push(a._id);
    }
    if (busy.length) return { outcome: "busy", activities: busy };

    const subject = h.subject;
    const addresses = addressesOf(subject);
    const activityIds = erasedActivities.map((a) => a._id);
    const conversationIds = h.conversations.map((c) => c._id);
    const counts: ErasureCounts = {
      customers: 0,
      activities: erasedActivities.length,
      startRecords: await this.eraseStartRecords(erasedActivities),
      dialerContacts: 0,
      conversations: 0,
      timelineEvents: 0,
      consents: 0,
      objectionsKept: 0,
      suppressionsHashed: 0,
      importRejects: 0,
      webhookDeliveries: 0,
      pluginDocuments: 0,
    };
    for (const ids of chunks(activityIds))
      counts.dialerContacts += (await this.dialerContacts.deleteMany({ activityId: { $in: ids } })).deletedCount;

    // Moved to its new id: written there first, so a retry after a crash finds the old one again.
    const unset = Object.fromEntries(TIMELINE_PERSONAL_FIELDS.map((f) => [f, ""]));
    for (const c of h.conversations) {
      const to = rekey.get(c._id)!;
      await this.models.Conversation.collection.replaceOne(
        { _id: to } as never,
        {
          customerId: this.hash(c.customerId),
          ...(c.campaignId ? { campaignId: c.campaignId } : {}),
          addresses: [],
          createdAt: c.createdAt,
          lastEventAt: c.lastEventAt,
        },
        { upsert: true },
      );
      counts.timelineEvents += (
        await this.models.TimelineEvent.updateMany(
          { conversationId: c._id },
          { $set: { conversationId: to }, $unset: unset },
        )
      ).matchedCount;
      counts.conversations += (await this.models.Conversation.deleteOne({ _id: c._id })).deletedCount;
    }

    const objection = h.consents.some((c) => c.kind === "objection");
    counts.consents = (await this.consents.deleteMany({ customerId, kind: "consent" })).deletedCount;
    counts.objectionsKept = (
      await this.consents.updateMany(
        { customerId, kind: "objection" },
        { $set: { customerId: this.hash(customerId), source: "kept after erasure" }, $unset: { evidence: "" } },
      )
    ).matchedCount;
    counts.suppressionsHashed = await this.hashSuppressions(addresses, objection, now);

    const rejects = await this.rejectsOf(subject);
    for (const ids of chunks(rejects.map((r) => r._id)))
      counts.importRejects += (await this.rejects.deleteMany({ _id: { $in: ids } })).deletedCount;
    // Every event names the customer id or the conversation (a reply's customer may be unknown).
    counts.webhookDeliveries = await this.eraseWebhookBodies(rekey, [customerId, ...conversationIds, ...addresses]);
    counts.pluginDocuments = await this.erasePluginDocuments([customerId, ...addresses]);

    counts.customers = (await this.customers.deleteOne({ _id: customerId })).deletedCount;
    await this.erasures.updateOne(
      { _id: this.hash(customerId) },
      { $setOnInsert: { erasedAt: now }, $set: { lastErasedAt: now } },
      { upsert: true },
    );
    return { outcome: "erased", counts };
  }

  /** Start records keep the attempt as sent (its address): the attempt goes, the guard stays. */
  private async eraseStartRecords(activities: ActivityDoc[]): Promise<number> {
    const ids = activities.flatMap((a) =>
      Array.from({ length: a.attempts.length + 1 }, (_, i) =>
        Array.from({ length: START_RECORD_GENERATIONS }, (_, g) => `${a._id}#attempt-${i}.${g}`),
      ).flat(),
    );
    const claims = this.conn.collection<{ _id: string; attempt?: unknown }>("activity_claims");
    let n = 0;
    for (const part of chunks(ids))
      n += (await claims.updateMany({ _id: { $in: part }, attempt: { $exists: true } }, { $unset: { attempt: "" } }))
        .modifiedCount;
    return n;
  }

  /**
   * A suppressed address is kept as its keyed hash, so the check before every attempt still
   * blocks it; with an objection to marketing, every address gets a hashed entry that blocks
   * marketing only (the objection's fact, honoured by address as well as by customer id).
   */
  private async hashSuppressions(addresses: string[], objection: boolean, now: Date): Promise<number> {
    const collection = this.models.Suppression.collection;
    let n = 0;
    for (const address of addresses) {
      const clear = await this.models.Suppression.findOne({ _id: address }).lean<SuppressionDoc>();
      const hashed = this.hash(address);
      if (clear) {
        // A full entry replaces a marketing-only one: it blocks more.
        await collection.replaceOne(
          { _id: hashed } as never,
          { reason: "suppressed before the customer was erased", source: clear.source, createdAt: clear.createdAt },
          { upsert: true },
        );
        await collection.deleteOne({ _id: address } as never);
        n++;
      } else if (objection) {
        try {
          await collection.insertOne({
            _id: hashed,
            reason: "objection to marketing, kept after erasure",
            source: "erasure",
            purposes: ["marketing"],
            createdAt: now,
          } as never);
          n++;
        } catch (err) {
          if (!isDuplicateKey(err)) throw err;
        }
      }
    }
    return n;
  }

  /**
   * Deliveries kept for replay (pending, dead, delivered not yet purged) naming the customer.
   * FerretDB applies an update as read-modify-write of the whole document: a sender's concurrent
   * write to a delivery can put its old body back, so the search runs again until it finds none.
   */
  private async eraseWebhookBodies(rekey: ReadonlyMap<string, string>, values: string[]): Promise<number> {
    let n = 0;
    for (let pass = 0; pass < 5; pass++) {
      const changed = await this.eraseWebhookBodiesOnce(rekey, values);
      if (changed === 0) return n;
      n += changed;
    }
    throw new Error("webhook deliveries kept being rewritten during the erasure: retry it");
  }

  private async eraseWebhookBodiesOnce(rekey: ReadonlyMap<string, string>, values: string[]): Promise<number> {
    let n = 0;
    for (const part of chunks(values, 100)) {
      // Bodies are JSON: a value appears as a whole quoted string.
      const pattern = part.map((v) => escapeRegex(JSON.stringify(v))).join("|");
      // A body already redacted may still hold a matching string (a kept field whose value is
      // the id, as with customer "0"): only bodies not yet redacted count, or this never ends.
      const found = (
        await this.webhooks.Delivery.find({ body: { $regex: pattern } }, { _id: 1, body: 1 }).lean()
      ).filter((d) => !isRedactedWebhookBody(d.body));
      if (!found.length) continue;
      const res = await this.webhooks.Delivery.bulkWrite(
        found.map((d) => ({
          updateOne: {
            filter: { _id: d._id },
            update: { $set: { body: redactedWebhookBody(d.body, this.hash, rekey) } },
          },
        })),
        { ordered: false },
      );
      n += res.matchedCount;
    }
    return n;
  }

  /** Plugin state is the plugin's own shape: documents that name the customer are deleted. */
  private async erasePluginDocuments(values: string[]): Promise<number> {
    const db = this.conn.db!;
    const names = (await db.listCollections({}, { nameOnly: true }).toArray())
      .map((c) => c.name)
      .filter((name) => name.startsWith("plugin_") && !name.endsWith(".chunks"));
    let n = 0;
    for (const name of names) {
      const collection = db.collection<Document>(name);
      const ids = (await collection.find({}).toArray())
        .filter((d) => mentionsAny(JSON.stringify(d), values))
        .map((d) => d._id);
      if (ids.length) n += (await collection.deleteMany({ _id: { $in: ids } })).deletedCount;
    }
    return n;
  }

  // ---------------------------------------------------------------- retention

  /** True for the one node whose unique insert of `slot` won: it runs that purge. */
  async claimRun(slot: string, node: string, now: Date): Promise<boolean> {
    try {
      await this.runs.insertOne({ _id: slot, node, startedAt: now });
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  async finishRun(slot: string, counts: Partial<Record<PurgeKind, number>>, now: Date): Promise<void> {
    await this.runs.updateOne({ _id: slot }, { $set: { finishedAt: now, counts } });
    // The runs' own records: a month is enough to see what the job did.
    await this.runs.deleteMany({ startedAt: { $lt: new Date(now.getTime() - 30 * 86_400_000) } });
  }

  /** Deletes one kind's data before its cutoff, in batches; returns how many records went. */
  purge(step: PurgeStep, batchSize: number, now: Date): Promise<number> {
    switch (step.kind) {
      case "activities":
        return this.purgeActivities(step.before, batchSize, now);
      case "conversations":
        return this.purgeConversations(step.before, batchSize, now);
      case "callResults":
        return this.purgeCallResults(step.before, batchSize);
      case "importRejects":
        return this.purgeImportRejects(step.before, batchSize);
      case "dialHistory":
        return this.numberHistory.purge(step.before, batchSize, MAX_BATCHES_PER_RUN);
    }
  }

  /** Pages of `collection` created before `before`, oldest first, by (createdAt, _id). */
  private async *createdBefore<T extends { _id: string; createdAt: Date }>(
    find: (filter: Record<string, unknown>, limit: number) => Promise<T[]>,
    before: Date,
    batchSize: number,
  ): AsyncGenerator<T[]> {
    let cursor: { at: Date; id: string } | undefined;
    for (let batch = 0; batch < MAX_BATCHES_PER_RUN; batch++) {
      const range = { $lt: before };
      const filter = cursor
        ? {
            createdAt: range,
            $or: [{ createdAt: { $gt: cursor.at } }, { createdAt: cursor.at, _id: { $gt: cursor.id } }],
          }
        : { createdAt: range };
      const page = await find(filter, batchSize);
      if (page.length) yield page;
      if (page.length < batchSize) return;
      const last = page.at(-1)!;
      cursor = { at: last.createdAt, id: last._id };
    }
  }

  private async purgeActivities(before: Date, batchSize: number, now: Date): Promise<number> {
    let n = 0;
    const find = (filter: Record<string, unknown>, limit: number) =>
      this.models.Activity.find(filter, { status: 1, nextRunAt: 1, leaseUntil: 1, attempts: 1, createdAt: 1 })
        .sort({ createdAt: 1, _id: 1 })
        .limit(limit)
        .lean<ActivityDoc[]>();
    for await (const page of this.createdBefore(find, before, batchSize)) {
      const closed = page.filter((a) => !isOpenActivity(a, now));
      if (!closed.length) continue;
      const ids = closed.map((a) => a._id);
      // Checked again in the delete itself: one may have been claimed since it was read.
      const res = await this.models.Activity.deleteMany({
        _id: { $in: ids },
        status: { $nin: ["SCHEDULED", "DISPATCHING"] },
        nextRunAt: null,
        leaseUntil: { $lte: now },
      });
      n += res.deletedCount;
      await this.eraseStartRecords(closed);
      await this.dialerContacts.deleteMany({ activityId: { $in: ids } });
    }
    return n;
  }

  private async purgeConversations(before: Date, batchSize: number, now: Date): Promise<number> {
    let n = 0;
    const find = (filter: Record<string, unknown>, limit: number) =>
      this.models.Conversation.find(filter).sort({ createdAt: 1, _id: 1 }).limit(limit).lean<ConversationDoc[]>();
    for await (const page of this.createdBefore(find, before, batchSize)) {
      const quiet = page.filter((c) => c.lastEventAt.getTime() < before.getTime());
      if (!quiet.length) continue;
      const ids = quiet.map((c) => c._id);
      // The customer.id index finds their activities; an open one keeps its conversation.
      const acts = await this.models.Activity.find(
        { "customer.id": { $in: unique(quiet.map((c) => c.customerId)) }, conversationId: { $in: ids } },
        { status: 1, nextRunAt: 1, leaseUntil: 1, conversationId: 1 },
      ).lean<ActivityDoc[]>();
      const kept = new Set(acts.filter((a) => isOpenActivity(a, now)).map((a) => a.conversationId));
      const gone = ids.filter((id) => !kept.has(id));
      if (!gone.length) continue;
      await this.models.TimelineEvent.deleteMany({ conversationId: { $in: gone } });
      n += (await this.models.Conversation.deleteMany({ _id: { $in: gone } })).deletedCount;
    }
    return n;
  }

  private async purgeCallResults(before: Date, batchSize: number): Promise<number> {
    let n = 0;
    for (let batch = 0; batch < MAX_BATCHES_PER_RUN; batch++) {
      const page = await this.models.TimelineEvent.find({ type: "CALL_RESULT", at: { $lt: before } }, { _id: 1 })
        .sort({ type: 1, at: 1 })
        .limit(batchSize)
        .lean<{ _id: string }[]>();
      if (!page.length) break;
      n += (await this.models.TimelineEvent.deleteMany({ _id: { $in: page.map((p) => p._id) } })).deletedCount;
      if (page.length < batchSize) break;
    }
    return n;
  }

  private async purgeImportRejects(before: Date, batchSize: number): Promise<number> {
    let n = 0;
    for (let batch = 0; batch < MAX_BATCHES_PER_RUN; batch++) {
      const jobs = await this.jobs
        .find({ finishedAt: { $lt: before }, rejectsPurgedAt: { $exists: false } } as never, { projection: { _id: 1 } })
        .sort({ finishedAt: 1 })
        .limit(batchSize)
        .toArray();
      if (!jobs.length) break;
      const ids = jobs.map((j) => j._id);
      n += (await this.rejects.deleteMany({ jobId: { $in: ids } })).deletedCount;
      await this.jobs.updateMany({ _id: { $in: ids } }, { $set: { rejectsPurgedAt: new Date() } } as never);
      if (jobs.length < batchSize) break;
    }
    return n;
  }
}
