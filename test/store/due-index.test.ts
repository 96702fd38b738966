/**
 * The due index on the real store: "what is due" is an index range over due entries only (the
 * patched FerretDB's plan says so), entries that no longer tell the truth correct themselves
 * when they come due, and a claimed activity is looked at again when its lease ends.
 */
import { test, beforeAll, afterAll } from "@jest/globals";
import assert from "node:assert/strict";
import { openStore, type Store } from "../../core/store/connection.ts";
import { ClaimStore } from "../../core/store/claims.ts";
import { ActivityStore } from "../../core/store/activities.ts";
import { DueIndex, dueKey, ORPHAN_GRACE_MS } from "../../core/store/due-index.ts";
import { freshDatabaseUrl } from "../support/mongo.ts";
import { emailActivity } from "../support/activities.ts";

let store: Store;
let due: DueIndex;
let activities: ActivityStore;
beforeAll(async () => {
  store = await openStore(freshDatabaseUrl("due_index"));
  due = new DueIndex(store.conn);
  activities = new ActivityStore(store.models, new ClaimStore(store.conn), due);
});
afterAll(async () => store?.close());

const entries = () => store.conn.collection<{ _id: string; a: string }>("activity_due");

test("the due query is an _id range on the index, and returns only what is due", async () => {
  const now = new Date();
  const future = Array.from({ length: 2000 }, (_, i) => ({
    activityId: `act_future${i}`,
    at: new Date(now.getTime() + 3_600_000 + i),
  }));
  await due.add(future);
  await due.add([{ activityId: "act_due1", at: new Date(now.getTime() - 5) }]);
  const found = await due.due(now, 100);
  assert.deepEqual(
    found.map((e) => e.activityId),
    ["act_due1"],
  );
  const plan = (await store.conn.db!.command({
    explain: { find: "activity_due", filter: { _id: { $lte: dueKey(now, "~") } }, limit: 100 },
  })) as { queryPlanner?: { Plan?: string[] }; filterPushdown?: boolean };
  // MongoDB explains differently; the embedded FerretDB must search the index, not scan.
  if (plan.filterPushdown !== undefined) {
    assert.equal(plan.filterPushdown, true, JSON.stringify(plan));
    assert.match(String(plan.queryPlanner?.Plan), /SEARCH .* USING INDEX .*_id_/, JSON.stringify(plan.queryPlanner));
  }
  await due.remove([...future.map((f) => dueKey(f.at, f.activityId)), dueKey(new Date(now.getTime() - 5), "act_due1")]);
});

test("with more due than a round takes, a round gets the oldest, oldest first", async () => {
  const now = new Date();
  // Written newest first, so that insertion order is not what answers.
  const entries = Array.from({ length: 300 }, (_, i) => ({
    activityId: `act_backlog${String(299 - i).padStart(3, "0")}`,
    at: new Date(now.getTime() - 60_000 + (299 - i) * 10),
  }));
  await due.add(entries);
  const round = await due.due(now, 100);
  assert.deepEqual(
    round.map((e) => e.activityId),
    Array.from({ length: 100 }, (_, i) => `act_backlog${String(i).padStart(3, "0")}`),
  );
  await due.remove(entries.map((e) => dueKey(e.at, e.activityId)));
});

test("accepted activities are due at their dueAt; a claimed one moves to its lease's end, and a released one goes", async () => {
  const now = new Date();
  const [a, b] = await activities.accept(
    [emailActivity("due-a", new Date(now.getTime() - 1000)), emailActivity("due-b", new Date(now.getTime() + 60_000))],
    now,
  );
  const claimed = await activities.claimDue("node-1", now, 10, 30_000);
  assert.deepEqual(
    claimed.map((c) => c._id),
    [a!.id],
  );
  const keys = (
    await entries()
      .find({ a: { $in: [a!.id, b!.id] } })
      .toArray()
  )
    .map((e) => e._id)
    .sort();
  assert.deepEqual(
    keys,
    [dueKey(claimed[0]!.leaseUntil, a!.id), dueKey(new Date(now.getTime() + 60_000), b!.id)].sort(),
  );
  // Nothing due for another node while the lease runs.
  assert.deepEqual(await activities.claimDue("node-2", new Date(now.getTime() + 1000), 10, 30_000), []);

  await activities.release(claimed[0]!, { status: "SENT", nextRunAt: null }, now);
  await activities.flushDueIndex();
  assert.equal(await entries().countDocuments({ a: a!.id }), 0, "a settled activity has no entry");
});

test("a node dies holding an activity: its entry comes due when the lease ends, and another node claims it", async () => {
  const now = new Date();
  const [a] = await activities.accept([emailActivity("due-dead", new Date(now.getTime() - 10))], now);
  const [held] = await activities.claimDue("node-dead", now, 10, 5_000);
  assert.equal(held?._id, a!.id);
  // The holder never writes again. Before its lease ends nobody takes it; after, one node does.
  assert.deepEqual(await activities.claimDue("node-live", new Date(now.getTime() + 4_000), 10, 5_000), []);
  const [taken] = await activities.claimDue("node-live", new Date(now.getTime() + 5_001), 10, 5_000);
  assert.equal(taken?._id, a!.id);
  assert.equal(taken?.leaseOwner, "node-live");
});

test("claimed ahead: what nobody holds is claimed by the horizon; another node's claim only once it has passed", async () => {
  const now = new Date();
  const soon = new Date(now.getTime() + 100);
  const [a] = await activities.accept([emailActivity("due-ahead", soon)], now);
  assert.deepEqual(await activities.claimDue("node-1", now, 10, 30_000), [], "not due without a horizon");
  const [early] = await activities.claimDue("node-1", now, 10, 30_000, new Date(now.getTime() + 250));
  assert.equal(early?._id, a!.id);
  assert.deepEqual(early?.nextRunAt, soon, "claimed with its own time, for the caller to wait for");

  const [b] = await activities.accept([emailActivity("due-ahead-held", new Date(now.getTime() - 10))], now);
  const [held] = await activities.claimDue("node-dead", now, 10, 5_000);
  assert.equal(held?._id, b!.id);
  // The holder's claim ends within the horizon of node-live's round, but has not ended yet.
  const at = new Date(now.getTime() + 4_900);
  assert.deepEqual(await activities.claimDue("node-live", at, 10, 5_000, new Date(at.getTime() + 250)), []);
  const [taken] = await activities.claimDue("node-live", new Date(now.getTime() + 5_001), 10, 5_000);
  assert.equal(taken?._id, b!.id);
});

test("entries that no longer tell the truth correct themselves when they come due", async () => {
  const now = new Date();
  const later = new Date(now.getTime() + 120_000);
  const [a] = await activities.accept([emailActivity("due-moved", later)], now);
  // A stale early entry (e.g. one a crash left behind).
  await due.add([{ activityId: a!.id, at: new Date(now.getTime() - 100) }]);
  assert.deepEqual(await activities.claimDue("node-1", now, 10, 30_000), [], "not due");
  await activities.flushDueIndex();
  const left = (await entries().find({ a: a!.id }).toArray()).map((e) => e._id);
  assert.deepEqual(left, [dueKey(later, a!.id)], "the stale entry is gone; the true one stays");
  // And the activity is due at its own time.
  const claimed = await activities.claimDue("node-1", new Date(later.getTime() + 1), 10, 30_000);
  assert.ok(claimed.some((c) => c._id === a!.id));
});

test("an entry whose activity is not stored yet (intake writes the entry first) is kept, and dropped once it is old", async () => {
  const now = new Date();
  await due.add([{ activityId: "act_notyet", at: new Date(now.getTime() - 100) }]);
  assert.deepEqual(await activities.claimDue("node-1", now, 10, 30_000), []);
  await activities.flushDueIndex();
  assert.equal(await entries().countDocuments({ a: "act_notyet" }), 1, "a claim round mid-intake keeps it");
  const muchLater = new Date(now.getTime() + ORPHAN_GRACE_MS + 1_000);
  await activities.claimDue("node-1", muchLater, 1000, 30_000);
  await activities.flushDueIndex();
  assert.equal(await entries().countDocuments({ a: "act_notyet" }), 0, "an orphan from a dead intake goes");
});

test("a repeated idempotency key leaves no entry behind", async () => {
  const now = new Date();
  const [first] = await activities.accept([emailActivity("due-repeat", now)], now);
  const [again] = await activities.accept([emailActivity("due-repeat", now)], now);
  assert.equal(again!.id, first!.id);
  assert.equal(again!.created, false);
  const stored = new Set(
    (
      await store.conn
        .collection("activities")
        .find({}, { projection: { _id: 1 } })
        .toArray()
    ).map((d) => String(d._id)),
  );
  // Entries this test file wrote itself for activities it never stored are named act_future*/act_notyet.
  const orphans = (await entries().find({}).toArray()).filter((e) => e.a.startsWith("act_0") && !stored.has(e.a));
  assert.deepEqual(
    orphans.map((e) => e._id),
    [],
  );
});

test("a store written before the due index: the backfill gives every activity with a next run its entry, once", async () => {
  const now = new Date();
  await store.conn.collection("activities").insertOne({
    _id: "act_legacy",
    nextRunAt: new Date(now.getTime() - 1),
    claimEpoch: 0,
    leaseUntil: new Date(0),
  } as never);
  await entries().deleteOne({ _id: "~backfilled" });
  assert.ok((await activities.backfillDueIndex()) >= 1);
  assert.equal(await activities.backfillDueIndex(), 0, "the second start does not scan again");
  assert.ok((await due.due(now, 1000)).some((e) => e.activityId === "act_legacy"));
});
