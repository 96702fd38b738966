/**
 * Exclusive claims on activities, built on the one primitive that is atomic on both MongoDB
 * and FerretDB 1.x: inserting a document with a unique `_id`. (FerretDB's SQLite backend
 * evaluates update filters in its own process, so two concurrent conditional updates on one
 * document can both "match"; measured: several winners in 27 of 30 rounds of 8 racers.)
 *
 * A claim is the document `<activityId>:<epoch>`. Whoever inserts epoch k holds the activity;
 * it then writes `claimEpoch: k` and its lease on the activity in one update, renews that lease
 * when a send starts, and releases it when done. A claimant only tries k+1 when the activity's
 * lease for epoch k is free or has passed (or, should k's holder have died before writing its
 * lease, when k's own `until` has passed). Only a holder writes the activity document, so the
 * activity never sees two writers at once.
 */
import type { Connection, Collection } from "mongoose";
import type { AttemptDoc } from "./models.ts";
import { Batcher } from "./batcher.ts";
import { insertUnordered } from "./write-errors.ts";

export interface ClaimCandidate {
  _id: string;
  claimEpoch?: number;
}

interface ClaimDoc {
  _id: string;
  owner: string;
  until: Date;
  createdAt: Date;
  /** An attempt reservation that is the attempt's start record: the attempt as it was sent. */
  attempt?: AttemptDoc;
}

/** Generations of an attempt's reservation looked at when reading started attempts. */
const GENERATIONS_READ = 3;

export class ClaimStore {
  private readonly claims: Collection<ClaimDoc>;
  private readonly activities: Collection;

  /** Attempt reservations of concurrent sends, inserted together: true when the doc lost. */
  private readonly reservations: Batcher<ClaimDoc, boolean>;

  constructor(conn: Connection) {
    this.claims = conn.collection<ClaimDoc>("activity_claims");
    this.activities = conn.collection("activities");
    this.reservations = new Batcher(async (docs) => {
      const lost = await this.insert(docs);
      return docs.map((_, i) => lost.has(i));
    });
  }

  /** Inserts the claim docs; returns the indexes that lost to an existing claim. */
  private insert(docs: ClaimDoc[]): Promise<Set<number>> {
    return insertUnordered(this.claims, docs);
  }

  /**
   * Tries to claim each candidate; returns the epoch won per activity id. A candidate whose
   * next epoch is taken by a live claim is skipped; one taken by an expired claim, or by a
   * claim its holder released, moves on to the following epoch.
   */
  async acquire(candidates: ClaimCandidate[], owner: string, now: Date, leaseMs: number): Promise<Map<string, number>> {
    const won = new Map<string, number>();
    let pending = candidates.map((c) => ({ id: c._id, epoch: (c.claimEpoch ?? 0) + 1 }));
    const until = new Date(now.getTime() + leaseMs);
    for (let round = 0; round < 4 && pending.length > 0; round++) {
      const lost = await this.insert(pending.map((p) => ({ _id: `${p.id}:${p.epoch}`, owner, until, createdAt: now })));
      const losers = pending.filter((_, i) => lost.has(i));
      pending.forEach((p, i) => {
        if (!lost.has(i)) won.set(p.id, p.epoch);
      });
      if (losers.length === 0) break;
      // Why did we lose? Look at the claim we hit and at the activity's own view.
      const [taken, acts] = await Promise.all([
        this.claims.find({ _id: { $in: losers.map((l) => `${l.id}:${l.epoch}`) } }).toArray(),
        this.activities
          .find({ _id: { $in: losers.map((l) => l.id) } } as never, { projection: { claimEpoch: 1, leaseUntil: 1 } })
          .toArray() as unknown as Promise<{ _id: string; claimEpoch?: number; leaseUntil?: Date }[]>,
      ]);
      const claimById = new Map(taken.map((t) => [t._id, t]));
      const actById = new Map(acts.map((a) => [a._id, a]));
      const next: { id: string; epoch: number }[] = [];
      for (const l of losers) {
        const act = actById.get(l.id);
        if (!act) continue;
        const knownEpoch = act.claimEpoch ?? 0;
        if (knownEpoch >= l.epoch) {
          // The activity knows this epoch: its lease (renewed by the holder) says whether it is held.
          if (!act.leaseUntil || act.leaseUntil < now) next.push({ id: l.id, epoch: knownEpoch + 1 });
        } else {
          // A claim whose holder never wrote the lease: it died between the two writes, once its claim has passed.
          const claim = claimById.get(`${l.id}:${l.epoch}`);
          if (claim && claim.until < now) next.push({ id: l.id, epoch: l.epoch + 1 });
        }
      }
      pending = next;
    }
    return won;
  }

  /** Claims one activity, retrying while another holder has it, up to `waitMs`. */
  async acquireOne(id: string, owner: string, leaseMs: number, waitMs: number): Promise<number | undefined> {
    const deadline = Date.now() + waitMs;
    for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
      const act = (await this.activities.findOne({ _id: id } as never, {
        projection: { claimEpoch: 1, leaseUntil: 1 },
      })) as {
        claimEpoch?: number;
        leaseUntil?: Date;
      } | null;
      if (!act) return undefined;
      const now = new Date();
      // Held now (a send in progress): the next epoch is not ours to take; wait for the release.
      if (!act.leaseUntil || act.leaseUntil < now) {
        const won = await this.acquire([{ _id: id, claimEpoch: act.claimEpoch ?? 0 }], owner, now, leaseMs);
        const epoch = won.get(id);
        if (epoch !== undefined) return epoch;
      }
      if (Date.now() + delay > deadline) return undefined;
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  /**
   * Reserves attempt number `index` of an activity for `owner`: true for exactly one caller.
   * The dispatcher reserves before it sends an attempt, so two nodes that both believe they
   * hold the activity (a lease that passed while a write was in flight) can never both start
   * the same attempt. With `attempt`, the reservation is also the attempt's start record (one
   * insert, no update of the activity): it is never stale, and readers of the activity see the
   * attempt as DISPATCHING until its outcome is written (`startedAttempts`). A reservation
   * without one (an attempt that ends before any send, recorded right after) whose maker never
   * recorded it goes stale after `staleMs`; the holder then takes the next generation.
   */
  async reserveAttempt(
    activityId: string,
    index: number,
    owner: string,
    now: Date,
    attempt?: AttemptDoc,
    staleMs = 10_000,
  ): Promise<boolean> {
    for (let generation = 0; generation < 50; generation++) {
      const id = `${activityId}#attempt-${index}.${generation}`;
      const doc: ClaimDoc = { _id: id, owner, until: now, createdAt: now, ...(attempt ? { attempt } : {}) };
      if (!(await this.reservations.call(doc))) return true;
      const existing = await this.claims.findOne({ _id: id });
      if (existing?.attempt) return false;
      if (existing && existing.createdAt.getTime() > now.getTime() - staleMs) return false;
    }
    return false;
  }

  /** The started attempts recorded only in their reservation: attempt `index` of each activity. */
  async startedAttempts(next: { activityId: string; index: number }[]): Promise<Map<string, AttemptDoc>> {
    const found = new Map<string, AttemptDoc>();
    const ids = next.flatMap((n) =>
      Array.from({ length: GENERATIONS_READ }, (_, g) => `${n.activityId}#attempt-${n.index}.${g}`),
    );
    for (let i = 0; i < ids.length; i += 999) {
      const docs = await this.claims
        .find({ _id: { $in: ids.slice(i, i + 999) }, attempt: { $exists: true } })
        .toArray();
      for (const d of docs) found.set(d._id.slice(0, d._id.indexOf("#attempt-")), d.attempt!);
    }
    return found;
  }

  /** Failover of a started attempt kept in its reservation: the instance it is on now. */
  async moveStartedAttempt(
    activityId: string,
    index: number,
    attemptId: string,
    from: string,
    set: Partial<AttemptDoc>,
  ): Promise<boolean> {
    const ids = Array.from({ length: GENERATIONS_READ }, (_, g) => `${activityId}#attempt-${index}.${g}`);
    const fields = Object.fromEntries(Object.entries(set).map(([k, v]) => [`attempt.${k}`, v]));
    const res = await this.claims.updateOne(
      { _id: { $in: ids }, "attempt.id": attemptId, "attempt.pluginId": from },
      { $set: fields },
    );
    return res.modifiedCount === 1;
  }

  /**
   * Claims older than `before` (their activities have moved on): a purge job, as FerretDB has no
   * TTL index. Start records too: a send lasts at most the plugin host's timeout (20 s), and a
   * dead sender's attempt is recovered within a lease, long before the hour the scheduler passes.
   */
  async purge(before: Date): Promise<number> {
    const res = await this.claims.deleteMany({ until: { $lt: before } });
    return res.deletedCount;
  }
}
