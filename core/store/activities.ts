/**
 * Activity persistence: idempotent intake, atomic claims with a lease, attempt records and
 * monotonic status updates. Every write is one atomic single-document update, guarded so
 * that a node that lost its lease, or a late callback, changes nothing.
 */
import type { PassedOver } from "../routing/plan.ts";
import type { NormalizedActivity } from "../domain/activity-input.ts";
import { addressField } from "../domain/activity-input.ts";
import { normalizeAddress } from "@dialmesh/sdk";
import { newId, stableId } from "../domain/ids.ts";
import type { AttemptStatus } from "@dialmesh/sdk";
import type { ActivityDoc, AttemptDoc, Models } from "./models.ts";
import type { ClaimStore } from "./claims.ts";
import { DueIndex, dueKey, ORPHAN_GRACE_MS } from "./due-index.ts";
import { insertUnordered } from "./write-errors.ts";
import type { JournaledOutcome } from "./outcome-journal.ts";
import { Batcher } from "./batcher.ts";

export interface AcceptedActivity {
  id: string;
  status: string;
  /** False when the idempotency key matched an earlier activity. */
  created: boolean;
  /** The key was reused with a different request. */
  conflict?: boolean;
}

const FREE = new Date(0);

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function conversationIdFor(activityId: string, customerId: string, campaignId?: string): string {
  return campaignId ? stableId("cv", campaignId, customerId) : `cv_${activityId.slice(4)}`;
}

/** Filters of GET /api/v1/activities; each one a plain value (validated by the caller). */
export interface ActivityListFilter {
  status?: string;
  channel?: string;
  campaignId?: string;
  customerId?: string;
  since?: Date;
  until?: Date;
}

/** An outcome pushed by the attempt's sender as the activity's holder (ActivityStore.finishAttempt). */
interface OutcomePush {
  filter: Record<string, unknown>;
  update: Record<string, unknown>;
  activityId: string;
  index: number;
  attemptId: string;
}

export class ActivityStore {
  private readonly models: Models;
  private readonly claims: ClaimStore;
  private readonly due: DueIndex;
  /**
   * The outcomes of concurrent sends, as one update command: FerretDB spends per command about
   * what it spends per document (its parsing, a transaction, a round trip), and this is the
   * one write per attempt left on the activity.
   */
  private readonly outcomes: Batcher<OutcomePush, boolean>;
  constructor(models: Models, claims: ClaimStore, due?: DueIndex) {
    this.models = models;
    this.claims = claims;
    this.due = due ?? new DueIndex(models.Activity.db);
    this.outcomes = new Batcher((pushes) => this.pushOutcomes(pushes), { windowMs: 5, maxBatch: 256 });
  }

  /**
   * One unordered bulk of the pushes. Its reply counts what it modified, not which: when it
   * modified fewer than all (a holder that lost its claim), each push is looked up, and it
   * applied exactly when its attempt is now at its index (only an attempt's sender pushes it).
   */
  private async pushOutcomes(pushes: OutcomePush[]): Promise<boolean[]> {
    const res = await this.models.Activity.collection.bulkWrite(
      pushes.map((p) => ({ updateOne: { filter: p.filter, update: p.update } })),
      { ordered: false },
    );
    if (res.modifiedCount === pushes.length) return pushes.map(() => true);
    const ids = [...new Set(pushes.map((p) => p.activityId))];
    const current = await this.models.Activity.find({ _id: { $in: ids } }, { attempts: 1 })
      .batchSize(ids.length)
      .lean<Pick<ActivityDoc, "_id" | "attempts">[]>();
    const byId = new Map(current.map((a) => [a._id, a]));
    return pushes.map((p) => byId.get(p.activityId)?.attempts[p.index]?.id === p.attemptId);
  }

  /**
   * After a holder's write: the activity's entry in the due index moves from its lease (where
   * claimDue put it) to its next run, or goes when it has none. `next` undefined: unchanged.
   */
  private moved(activity: ActivityDoc, next: Date | null | undefined): void {
    const held = activity.leaseUntil && new Date(activity.leaseUntil).getTime() > 0;
    this.due.move(
      activity._id,
      held ? dueKey(new Date(activity.leaseUntil), activity._id) : undefined,
      next === undefined ? activity.nextRunAt : next,
    );
  }

  /**
   * The filter of a holder's write: its lease token, or, for a claim claimDue won and nobody
   * wrote to the activity yet, the epoch the activity had when it was claimed (a later claim
   * by another node writes a newer one, and the filter then matches nothing).
   */
  private holder(a: ActivityDoc): Record<string, unknown> {
    return a.claimedFrom === undefined
      ? { _id: a._id, leaseToken: a.leaseToken }
      : { _id: a._id, $or: [{ leaseToken: a.leaseToken }, { claimEpoch: a.claimedFrom }] };
  }

  /**
   * Adds to each activity the attempt it has started and not finished, which lives in the
   * attempt's start record (claims.ts) until its outcome is pushed: as DISPATCHING, marked
   * `unstored`. Every read a decision or a view rests on goes through here.
   */
  private async withStarted(docs: ActivityDoc[]): Promise<ActivityDoc[]> {
    if (docs.length === 0) return docs;
    const started = await this.claims.startedAttempts(
      docs.map((d) => ({ activityId: d._id, index: d.attempts.length })),
    );
    if (started.size === 0) return docs;
    return docs.map((d) => {
      const attempt = started.get(d._id);
      return attempt
        ? { ...d, status: "DISPATCHING", attempts: [...d.attempts, { ...attempt, unstored: true as const }] }
        : d;
    });
  }

  /** Entries for activities stored before the due index existed; once per store. */
  async backfillDueIndex(): Promise<number> {
    return this.due.backfillOnce(this.models.Activity.collection);
  }

  /** Writes what the due index has buffered (tests, shutdown). */
  flushDueIndex(): Promise<void> {
    return this.due.flush();
  }

  /** Stores new activities; an idempotency key seen before returns the earlier activity. */
  async accept(items: NormalizedActivity[], now: Date): Promise<AcceptedActivity[]> {
    const docs = items.map((item) => {
      const id = newId("act");
      const doc: Omit<ActivityDoc, "leaseOwner" | "leaseToken"> & Partial<ActivityDoc> = {
        _id: id,
        idempotencyKey: item.idempotencyKey ?? `auto:${id}`,
        requestHash: item.requestHash,
        customer: item.customer,
        channel: item.channel,
        content: item.content,
        dueAt: item.dueAt,
        chain: item.chain,
        conversationId: conversationIdFor(id, item.customer.id, item.campaignId),
        status: "SCHEDULED",
        attempts: [],
        nextRunAt: item.dueAt,
        leaseUntil: FREE,
        claimEpoch: 0,
        createdAt: now,
        updatedAt: now,
        ...(item.window ? { window: item.window } : {}),
        ...(item.fallbackPolicy ? { fallbackPolicy: item.fallbackPolicy } : {}),
        ...(item.campaignId ? { campaignId: item.campaignId } : {}),
        ...(item.dncLists ? { dncLists: item.dncLists } : {}),
        ...(item.purpose ? { purpose: item.purpose } : {}),
        ...(item.requiresConsent ? { requiresConsent: true } : {}),
        ...(item.expiresAt ? { expiresAt: item.expiresAt } : {}),
      };
      return doc;
    });

    // Due entries first: an activity must never exist without one (an entry whose activity was
    // not stored, a duplicate, is dropped when it comes due).
    await this.due.add(docs.map((d) => ({ activityId: d._id, at: d.dueAt })));
    const failedIdx = await insertUnordered(this.models.Activity.collection, docs);
    // A repeated idempotency key stored nothing: its entry goes (the earlier activity has its own).
    if (failedIdx.size > 0) await this.due.remove([...failedIdx].map((i) => dueKey(docs[i]!.dueAt, docs[i]!._id)));

    const results: AcceptedActivity[] = docs.map((d) => ({ id: d._id, status: "SCHEDULED", created: true }));
    if (failedIdx.size > 0) {
      const keys = [...failedIdx].map((i) => docs[i]!.idempotencyKey);
      const existing = await this.models.Activity.find(
        { idempotencyKey: { $in: keys } },
        { _id: 1, idempotencyKey: 1, status: 1, requestHash: 1 },
      ).lean();
      const byKey = new Map(existing.map((e) => [e.idempotencyKey, e]));
      for (const i of failedIdx) {
        const doc = docs[i]!;
        const earlier = byKey.get(doc.idempotencyKey);
        if (!earlier) throw new Error(`idempotency key ${doc.idempotencyKey} collided but was not found`);
        results[i] = {
          id: earlier._id,
          status: earlier.status,
          created: false,
          ...(earlier.requestHash !== doc.requestHash ? { conflict: true } : {}),
        };
      }
    }

    // Conversations: one per customer per campaign, else per activity; created once. Their
    // ids are deterministic, so an unordered insert that ignores duplicates creates each once
    // (an upsert would rewrite existing rows on FerretDB, and large bulks of them stall it).
    const created = docs.filter((_, i) => !failedIdx.has(i));
    const conversations = new Map<string, Record<string, unknown>>();
    for (const d of created) {
      if (conversations.has(d.conversationId)) continue;
      conversations.set(d.conversationId, {
        _id: d.conversationId,
        customerId: d.customer.id,
        ...(d.campaignId ? { campaignId: d.campaignId } : {}),
        addresses: [d.customer.email, d.customer.phone].filter((x): x is string => !!x),
        createdAt: now,
        lastEventAt: now,
      });
    }
    // Existing conversations are the duplicates: nothing to do for them.
    await insertUnordered(this.models.Conversation.collection, [...conversations.values()]);
    return results;
  }

  async get(id: string): Promise<ActivityDoc | null> {
    const doc = await this.models.Activity.findById(id).lean<ActivityDoc>();
    return doc ? ((await this.withStarted([doc]))[0] ?? null) : null;
  }

  /** Cancels an activity that has not been dispatched; returns the activity as it is now. */
  async cancel(id: string, owner: string, now: Date): Promise<{ cancelled: boolean; activity: ActivityDoc | null }> {
    const claimed = await this.claimOne(id, owner, 10_000, 2_000);
    if (!claimed) return { cancelled: false, activity: await this.get(id) };
    if (claimed.status !== "SCHEDULED" || claimed.attempts.length > 0) {
      await this.release(claimed, {}, now);
      return { cancelled: false, activity: { ...claimed, leaseToken: null } };
    }
    await this.release(claimed, { status: "CANCELLED", nextRunAt: null }, now);
    return { cancelled: true, activity: { ...claimed, status: "CANCELLED", nextRunAt: null, leaseToken: null } };
  }

  /** Writes the lease of claims just won, and reads the activities back. */
  private async takeLeases(
    won: Map<string, number>,
    owner: string,
    now: Date,
    leaseMs: number,
  ): Promise<ActivityDoc[]> {
    if (won.size === 0) return [];
    const until = new Date(now.getTime() + leaseMs);
    await this.models.Activity.bulkWrite(
      [...won].map(([id, epoch]) => ({
        updateOne: {
          filter: { _id: id },
          update: { $set: { leaseOwner: owner, leaseToken: `${id}:${epoch}`, leaseUntil: until, claimEpoch: epoch } },
        },
      })),
      { ordered: false },
    );
    return this.withStarted(await this.models.Activity.find({ _id: { $in: [...won.keys()] } }).lean<ActivityDoc[]>());
  }

  /** See ClaimStore.reserveAttempt. */
  reserveAttempt(activity: ActivityDoc, owner: string, now: Date): Promise<boolean> {
    return this.claims.reserveAttempt(activity._id, activity.attempts.length, owner, now);
  }

  /** Drops claim records older than `before` (their activities have long moved on). */
  purgeClaims(before: Date): Promise<number> {
    return this.claims.purge(before);
  }

  /** Claims one activity (API cancel, vendor events), waiting up to `waitMs` for a current holder. */
  async claimOne(id: string, owner: string, leaseMs: number, waitMs: number): Promise<ActivityDoc | null> {
    const epoch = await this.claims.acquireOne(id, owner, leaseMs, waitMs);
    if (epoch === undefined) return null;
    const [activity] = await this.takeLeases(new Map([[id, epoch]]), owner, new Date(), leaseMs);
    return activity ?? null;
  }

  /**
   * Claims up to `limit` due activities for `owner`: each by inserting its next claim epoch
   * (see claims.ts), so concurrent nodes never share one. Candidates come from the due index;
   * an entry that no longer says the truth (its activity moved, was released, or is held by
   * another node) is moved to the activity's real next time, or dropped. An activity won gets
   * its entry moved to its lease's end, where it is looked at again should this node die.
   * With `horizon` after `now`, an activity nobody holds that falls due by then is claimed
   * ahead (the caller dispatches it at its time); one held by another node only once its lease
   * has passed, as ever: its next epoch is not ours to take before.
   */
  async claimDue(
    owner: string,
    now: Date,
    limit: number,
    leaseMs: number,
    horizon: Date = now,
  ): Promise<ActivityDoc[]> {
    const entries = await this.due.due(horizon, limit);
    if (entries.length === 0) return [];
    const ids = [...new Set(entries.map((e) => e.activityId))];
    // One batch: a cursor's default first batch (101) would cost a getMore round trip.
    const acts = await this.models.Activity.find({ _id: { $in: ids } })
      .batchSize(ids.length)
      .lean<ActivityDoc[]>();
    const byId = new Map(acts.map((a) => [a._id, a]));
    const keyOf = new Map<string, string>();
    const candidates: ActivityDoc[] = [];
    for (const e of entries) {
      const act = byId.get(e.activityId);
      if (!act) {
        // Intake in progress (its entry is written first), or an intake that died in between.
        if (e.writtenAt.getTime() < now.getTime() - ORPHAN_GRACE_MS) this.due.move(e.activityId, e.key, null);
        continue;
      }
      const lease = act?.leaseUntil && act.leaseUntil > now ? act.leaseUntil : undefined;
      const next = act.nextRunAt === null ? null : lease && lease > act.nextRunAt ? lease : act.nextRunAt;
      const by = lease ? now : horizon;
      if (next === null || next > by || keyOf.has(e.activityId)) this.due.move(e.activityId, e.key, next);
      else {
        keyOf.set(e.activityId, e.key);
        candidates.push(act);
      }
    }
    const won = candidates.length
      ? await this.claims.acquire(candidates, owner, now, leaseMs)
      : new Map<string, number>();
    // The claim is not written to the activity here (that would be one more update per
    // activity): its first write carries it, guarded by the epoch it was claimed from.
    const until = new Date(now.getTime() + leaseMs);
    const claimed = candidates.flatMap((a) => {
      const epoch = won.get(a._id);
      if (epoch === undefined) return [];
      return [
        {
          ...a,
          claimedFrom: a.claimEpoch ?? 0,
          claimEpoch: epoch,
          leaseOwner: owner,
          leaseToken: `${a._id}:${epoch}`,
          leaseUntil: until,
        },
      ];
    });
    for (const a of claimed) this.due.move(a._id, keyOf.get(a._id), a.leaseUntil);
    // Written before the next round looks, so that it does not find these again.
    await this.due.flush();
    return this.withStarted(claimed);
  }

  /**
   * Records that an attempt is starting: its reservation, which carries the attempt (one insert,
   * grouped with the other sends'; the activity is not written). False when another holder has
   * this attempt, or the claim runs out before `heldUntil` (FerretDB has no compare-and-swap:
   * only a claim with time left keeps a takeover away from the send).
   */
  async startAttempt(activity: ActivityDoc, attempt: AttemptDoc, now: Date, heldUntil: Date = now): Promise<boolean> {
    if (new Date(activity.leaseUntil) <= heldUntil) return false;
    return this.claims.reserveAttempt(activity._id, activity.attempts.length, activity.leaseOwner ?? "", now, attempt);
  }

  /** Records an attempt that ended without reaching a vendor, and releases the lease. */
  async recordAttempt(activity: ActivityDoc, attempt: AttemptDoc, nextRunAt: Date | null, now: Date): Promise<boolean> {
    const res = await this.models.Activity.updateOne(this.holder(activity), {
      $push: { attempts: attempt },
      $set: {
        status: attempt.status,
        nextRunAt,
        updatedAt: now,
        claimEpoch: activity.claimEpoch,
        leaseOwner: null,
        leaseToken: null,
        leaseUntil: FREE,
      },
    });
    if (res.modifiedCount !== 1) return false;
    this.moved(activity, nextRunAt);
    return true;
  }

  /** Sets the outcome of attempt `index` and releases the lease, in one update. */
  /**
   * Moves a DISPATCHING attempt from one plugin instance to the next (failover), guarded by
   * the lease and by the instance it is on, before the next instance is called.
   */
  async switchAttemptPlugin(
    activity: ActivityDoc,
    index: number,
    from: string,
    to: string,
    passedOver: PassedOver[],
    now: Date,
  ): Promise<boolean> {
    const attempt = activity.attempts[index];
    if (attempt?.unstored)
      return this.claims.moveStartedAttempt(activity._id, index, attempt.id, from, {
        pluginId: to,
        passedOver,
        updatedAt: now,
      });
    const res = await this.models.Activity.updateOne(
      {
        ...this.holder(activity),
        [`attempts.${index}.status`]: "DISPATCHING",
        [`attempts.${index}.pluginId`]: from,
      },
      {
        $set: {
          [`attempts.${index}.pluginId`]: to,
          [`attempts.${index}.passedOver`]: passedOver,
          [`attempts.${index}.updatedAt`]: now,
          updatedAt: now,
        },
      },
    );
    return res.modifiedCount === 1;
  }

  /**
   * Writes the outcome of attempt `index` and releases the lease, in one update. An attempt
   * kept only in its start record is pushed whole; should this holder have lost the activity
   * meanwhile (a send that outlived the claim), the outcome is still the truth and is pushed by
   * the attempt's sender alone (nobody else writes attempt `index` while its sender answers
   * "in flight"), with the activity due at once so that its holder looks again.
   */
  async finishAttempt(
    activity: ActivityDoc,
    index: number,
    outcome: Partial<AttemptDoc> & { status: AttemptStatus },
    nextRunAt: Date | null,
    now: Date,
  ): Promise<boolean> {
    const started = activity.attempts[index];
    if (started?.unstored) {
      const { unstored: _, ...attempt } = started;
      const done: AttemptDoc = { ...attempt, ...definedOnly(outcome), updatedAt: now };
      const notRecorded = { [`attempts.${index}`]: { $exists: false } };
      const own = await this.outcomes.call({
        filter: { ...this.holder(activity), ...notRecorded },
        update: {
          // Through the driver, not mongoose: an undefined field would be stored as null.
          $push: { attempts: definedOnly(done) },
          $set: {
            status: outcome.status,
            nextRunAt,
            updatedAt: now,
            claimEpoch: activity.claimEpoch,
            leaseOwner: null,
            leaseToken: null,
            leaseUntil: FREE,
          },
        },
        activityId: activity._id,
        index,
        attemptId: done.id,
      });
      if (own) {
        this.moved(activity, nextRunAt);
        return true;
      }
      return this.pushUnrecorded(activity._id, index, done, outcome.status, now, now);
    }
    const set: Record<string, unknown> = { status: outcome.status, nextRunAt, updatedAt: now };
    for (const [k, v] of Object.entries(outcome)) if (v !== undefined) set[`attempts.${index}.${k}`] = v;
    set[`attempts.${index}.updatedAt`] = now;
    const res = await this.models.Activity.updateOne(
      { ...this.holder(activity), [`attempts.${index}.status`]: "DISPATCHING" },
      { $set: { ...set, claimEpoch: activity.claimEpoch, leaseOwner: null, leaseToken: null, leaseUntil: FREE } },
    );
    if (res.modifiedCount !== 1) return false;
    this.moved(activity, nextRunAt);
    return true;
  }

  /**
   * Pushes an attempt known only from its start record, with its outcome, whoever holds the
   * activity (its sender alone writes attempt `index` while it answers), unless someone recorded
   * it since; the activity is due by `nextRunAt` so that its holder looks again.
   */
  private async pushUnrecorded(
    activityId: string,
    index: number,
    attempt: AttemptDoc,
    status: AttemptStatus,
    nextRunAt: Date,
    now: Date,
  ): Promise<boolean> {
    const res = await this.models.Activity.updateOne(
      { _id: activityId, [`attempts.${index}`]: { $exists: false } },
      { $push: { attempts: attempt }, $set: { status, nextRunAt, updatedAt: now } },
    );
    if (res.modifiedCount !== 1) return false;
    await this.due.add([{ activityId, at: nextRunAt }]);
    return true;
  }

  /**
   * Writes a journaled vendor answer (outcome-journal.ts) to the attempt it belongs to, if that
   * attempt is still DISPATCHING: the answer is the truth whoever holds the activity now. The
   * lease is released only when it is still the sender's; otherwise the holder releases it.
   * False when there was nothing to apply (already applied, or the attempt was settled since).
   */
  async applyJournaledOutcome(entry: JournaledOutcome, now: Date): Promise<boolean> {
    const i = entry.attemptIndex;
    if (entry.attempt) {
      // Sent from its start record: the attempt goes in whole, unless someone recorded it since.
      const { unstored: _, ...attempt } = entry.attempt;
      const done = { ...attempt, ...definedOnly(entry.update), updatedAt: new Date(entry.answeredAt) };
      const nextRunAt = entry.nextRunAt ? new Date(entry.nextRunAt) : now;
      return this.pushUnrecorded(entry.activityId, i, done, entry.update.status, nextRunAt, now);
    }
    const set: Record<string, unknown> = {
      status: entry.update.status,
      nextRunAt: entry.nextRunAt ? new Date(entry.nextRunAt) : null,
      updatedAt: now,
      [`attempts.${i}.updatedAt`]: new Date(entry.answeredAt),
    };
    for (const [k, v] of Object.entries(entry.update)) if (v !== undefined) set[`attempts.${i}.${k}`] = v;
    const attemptFilter = {
      _id: entry.activityId,
      [`attempts.${i}.id`]: entry.attemptId,
      [`attempts.${i}.status`]: "DISPATCHING",
    };
    if (entry.leaseToken) {
      const own = await this.models.Activity.updateOne(
        { ...attemptFilter, leaseToken: entry.leaseToken },
        { $set: { ...set, leaseOwner: null, leaseToken: null, leaseUntil: FREE } },
      );
      if (own.modifiedCount === 1) {
        this.due.move(entry.activityId, undefined, set.nextRunAt as Date | null);
        return true;
      }
    }
    const res = await this.models.Activity.updateOne(attemptFilter, { $set: set });
    if (res.modifiedCount !== 1) return false;
    this.due.move(entry.activityId, undefined, set.nextRunAt as Date | null);
    return true;
  }

  /**
   * Makes an activity due by `at` at the latest, without holding it: for an event its holder
   * could not take (the holder may have died), so that the next claim folds it in. The only
   * write by a non-holder; it can only bring the next run earlier.
   */
  async wake(id: string, at: Date): Promise<void> {
    await this.models.Activity.updateOne(
      { _id: id, $or: [{ nextRunAt: null }, { nextRunAt: { $gt: at } }] },
      { $set: { nextRunAt: at } },
    );
    // The entry whatever the update found: one too many is dropped when it comes due.
    await this.due.add([{ activityId: id, at }]);
  }

  /** Releases the lease with a new status and next run time. */
  async release(activity: ActivityDoc, set: Partial<ActivityDoc>, now: Date): Promise<boolean> {
    const res = await this.models.Activity.updateOne(this.holder(activity), {
      $set: {
        ...set,
        updatedAt: now,
        claimEpoch: activity.claimEpoch,
        leaseOwner: null,
        leaseToken: null,
        leaseUntil: FREE,
      },
    });
    if (res.modifiedCount !== 1) return false;
    this.moved(activity, "nextRunAt" in set ? (set.nextRunAt ?? null) : undefined);
    return true;
  }

  /** The activity and attempt index a vendor id belongs to. */
  async findByVendorId(pluginId: string, vendorId: string): Promise<{ activity: ActivityDoc; index: number } | null> {
    const activity = await this.models.Activity.findOne({ "attempts.vendorId": vendorId }).lean<ActivityDoc>();
    if (!activity) return null;
    const index = activity.attempts.findIndex((a) => a.vendorId === vendorId && a.pluginId === pluginId);
    return index < 0 ? null : { activity, index };
  }

  /**
   * As the activity's holder: sets attempt fields (vendor statuses, folded events) and the
   * activity's own fields, and (unless told otherwise) releases the claim.
   */
  async applyAttemptUpdates(
    holder: ActivityDoc,
    updates: { index: number; set: Partial<AttemptDoc> }[],
    activitySet: Partial<ActivityDoc>,
    now: Date,
    opts: { release: boolean } = { release: true },
  ): Promise<boolean> {
    const set: Record<string, unknown> = { ...activitySet, updatedAt: now, claimEpoch: holder.claimEpoch };
    if (opts.release) Object.assign(set, { leaseOwner: null, leaseToken: null, leaseUntil: FREE });
    // Holding on without a written claim: write it now, or the next write could not prove it.
    else if (holder.claimedFrom !== undefined)
      Object.assign(set, {
        leaseOwner: holder.leaseOwner,
        leaseToken: holder.leaseToken,
        leaseUntil: holder.leaseUntil,
      });
    for (const { index, set: fields } of updates) {
      // Not in the activity yet (only in its start record): its sender's outcome pushes it, and
      // the events stay on the timeline for the next claim to fold.
      if (holder.attempts[index]?.unstored) continue;
      for (const [k, v] of Object.entries(fields)) if (v !== undefined) set[`attempts.${index}.${k}`] = v;
      set[`attempts.${index}.updatedAt`] = now;
    }
    const res = await this.models.Activity.updateOne(this.holder(holder), { $set: set });
    if (res.modifiedCount !== 1) return false;
    if (opts.release) {
      this.moved(holder, "nextRunAt" in activitySet ? (activitySet.nextRunAt ?? null) : undefined);
    } else if (activitySet.nextRunAt) this.due.move(holder._id, undefined, activitySet.nextRunAt);
    return true;
  }

  /**
   * The activity that last wrote to an address on a channel: where a reply belongs. Ranked by
   * when its latest attempt on that channel was dispatched (attempts that reached a vendor
   * first), not by the activity's last update, which a late status callback of an older
   * message also moves. Candidates are the 50 most recently updated activities to the
   * address: the one last dispatched to is among them unless more than 50 others were updated
   * after it.
   */
  async latestToAddress(channel: string, address: string): Promise<ActivityDoc | null> {
    const field = addressField(channel);
    const normalized = normalizeAddress(address) ?? address;
    const candidates = await this.models.Activity.find({
      [`customer.${field}`]: normalized,
      "attempts.channel": channel,
    })
      .sort({ updatedAt: -1 })
      .limit(50)
      .lean<ActivityDoc[]>();
    // Rank: reached a vendor (blocked or unroutable attempts never did), then dispatch time.
    let best: { activity: ActivityDoc; sent: boolean; at: number } | null = null;
    for (const activity of candidates) {
      for (const attempt of activity.attempts) {
        if (attempt.channel !== channel) continue;
        const sent = attempt.vendorId !== undefined;
        const at = new Date(attempt.dispatchedAt).getTime();
        if (!best || (sent && !best.sent) || (sent === best.sent && at > best.at)) best = { activity, sent, at };
      }
    }
    return best?.activity ?? null;
  }

  /** Counts by status and channel, for metrics. */
  /**
   * One page of activities matching `filter`, in id order (ids begin with their creation time),
   * after the cursor: up to `limit` read, of which `docs` match (`lastId`: the last one read, the
   * next page's cursor). A send in flight shows as DISPATCHING (its start record, not its stored
   * status): a status filter is applied to what is shown, and DISPATCHING looks among the
   * activities that were due (a send starts only once its activity is).
   */
  async list(
    filter: ActivityListFilter,
    after: string | undefined,
    limit: number,
    now = new Date(),
  ): Promise<{ docs: ActivityDoc[]; read: number; lastId: string | undefined }> {
    const query: Record<string, unknown> = {};
    if (filter.status === "DISPATCHING") query.nextRunAt = { $lte: now };
    else if (filter.status) query.status = filter.status;
    if (filter.channel) query.channel = filter.channel;
    if (filter.campaignId) query.campaignId = filter.campaignId;
    if (filter.customerId) query["customer.id"] = filter.customerId;
    if (filter.since || filter.until)
      query.createdAt = {
        ...(filter.since ? { $gte: filter.since } : {}),
        ...(filter.until ? { $lt: filter.until } : {}),
      };
    if (after) query._id = { $gt: after };
    const page = await this.withStarted(
      await this.models.Activity.find(query).sort({ _id: 1 }).limit(limit).lean<ActivityDoc[]>(),
    );
    const docs = filter.status ? page.filter((d) => d.status === filter.status) : page;
    return { docs, read: page.length, lastId: page.at(-1)?._id };
  }

  async countsByStatus(): Promise<{ status: string; channel: string; count: number }[]> {
    const rows = await this.models.Activity.aggregate<{ _id: { status: string; channel: string }; n: number }>([
      { $group: { _id: { status: "$status", channel: "$channel" }, n: { $sum: 1 } } },
    ]);
    return rows.map((r) => ({ status: r._id.status, channel: r._id.channel, count: r.n }));
  }
}
