/**
 * The retention purge on FerretDB: old closed activities, quiet conversations, old call results
 * and old rejected rows go, in batches; open activities (however old), conversations an open
 * activity belongs to, and anything recent stay. One node per run.
 */
import { afterAll, beforeAll, test } from "@jest/globals";
import assert from "node:assert/strict";
import { openStore, type Store } from "../../core/store/connection.ts";
import { ActivityStore } from "../../core/store/activities.ts";
import { ClaimStore } from "../../core/store/claims.ts";
import { PrivacyStore } from "../../core/store/privacy.ts";
import { NumberHistory } from "../../core/store/number-history.ts";
import { keyedHasher } from "../../core/privacy/keyed-hash.ts";
import { purgePlan, retentionPolicy } from "../../core/privacy/retention.ts";
import { freshDatabaseUrl } from "../support/mongo.ts";

const DAY = 86_400_000;
const NOW = new Date("2026-06-01T00:00:00Z");
const daysAgo = (n: number) => new Date(NOW.getTime() - n * DAY);
const CLOSED_OLD = 1_200;

let store: Store;
let privacy: PrivacyStore;
beforeAll(async () => {
  store = await openStore(freshDatabaseUrl("privacy-purge"));
  const activities = new ActivityStore(store.models, new ClaimStore(store.conn));
  privacy = new PrivacyStore(store.conn, store.models, activities, keyedHasher(Buffer.alloc(32, 3)));
  await privacy.ensureIndexes();
});
afterAll(async () => store?.close());

function activity(id: string, customerId: string, createdAt: Date, over: Record<string, unknown> = {}) {
  return {
    _id: id,
    idempotencyKey: id,
    customer: { id: customerId, phone: "+14155550100" },
    channel: "sms",
    content: { text: "hello" },
    dueAt: createdAt,
    chain: [],
    conversationId: `cv-${customerId}`,
    status: "DELIVERED",
    attempts: [],
    nextRunAt: null,
    leaseOwner: null,
    leaseUntil: new Date(0),
    leaseToken: null,
    claimEpoch: 0,
    createdAt,
    updatedAt: createdAt,
    ...over,
  };
}

const conversation = (customerId: string, createdAt: Date, lastEventAt: Date) => ({
  _id: `cv-${customerId}`,
  customerId,
  addresses: ["+14155550100"],
  createdAt,
  lastEventAt,
});

const event = (id: string, conversationId: string, type: string, at: Date) => ({
  _id: id,
  conversationId,
  type,
  channel: "voice",
  at,
  recordedAt: at,
});

test("purges what is past its period, in batches, and keeps open and recent data", async () => {
  const A = store.models.Activity.collection;
  await A.insertMany(
    Array.from({ length: CLOSED_OLD }, (_, i) =>
      activity(`old-${String(i).padStart(4, "0")}`, "c-closed", daysAgo(400 + (i % 7))),
    ) as never[],
  );
  await A.insertMany([
    activity("old-scheduled", "c-open", daysAgo(500), { status: "SCHEDULED", nextRunAt: daysAgo(-1) }),
    activity("old-waiting-step", "c-open", daysAgo(500), { status: "SENT", nextRunAt: daysAgo(-1) }),
    activity("old-leased", "c-open", daysAgo(500), { leaseUntil: new Date(NOW.getTime() + 60_000) }),
    activity("recent-closed", "c-recent", daysAgo(10)),
  ] as never[]);
  await store.models.Conversation.collection.insertMany([
    conversation("c-closed", daysAgo(420), daysAgo(400)),
    conversation("c-open", daysAgo(500), daysAgo(400)),
    conversation("c-active", daysAgo(500), daysAgo(5)),
    conversation("c-recent", daysAgo(10), daysAgo(10)),
  ] as never[]);
  await store.models.TimelineEvent.collection.insertMany([
    event("t-closed", "cv-c-closed", "STATUS", daysAgo(400)),
    event("t-open", "cv-c-open", "STATUS", daysAgo(400)),
    event("t-call-old", "cv-c-active", "CALL_RESULT", daysAgo(120)),
    event("t-call-recent", "cv-c-active", "CALL_RESULT", daysAgo(5)),
    event("t-status-old", "cv-c-active", "STATUS", daysAgo(120)),
  ] as never[]);
  const jobs = store.conn.collection<{ _id: string }>("import_jobs");
  const rejects = store.conn.collection<{ _id: string }>("import_rejects");
  await jobs.insertMany([
    { _id: "job-old", state: "completed", finishedAt: daysAgo(60) },
    { _id: "job-recent", state: "completed", finishedAt: daysAgo(2) },
    { _id: "job-running", state: "running" },
  ] as never[]);
  await rejects.insertMany(
    ["job-old", "job-recent", "job-running"].map((jobId, i) => ({
      _id: `r${i}`,
      jobId,
      line: 2,
      column: "Email",
      reason: "x",
      raw: ["a"],
    })) as never[],
  );

  // The dial history: one dial read back by the rules (20 days ago), one past their 31 days.
  const dials = new NumberHistory(store.conn, keyedHasher(Buffer.alloc(32, 3)));
  await dials.record("+14155550100", daysAgo(20), "dialed", "c-recent");
  await dials.record("+14155550100", daysAgo(40), "dialed", "c-old");

  const checked = retentionPolicy({
    purgeIntervalMs: 3_600_000,
    batchSize: 500,
    activities: "P365D",
    conversations: "P365D",
    callResults: "P90D",
    importRejects: "P30D",
  });
  assert.ok("policy" in checked);
  const counts: Record<string, number> = {};
  const started = process.hrtime.bigint();
  for (const step of purgePlan(checked.policy, NOW)) counts[step.kind] = await privacy.purge(step, 500, NOW);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  console.log(`purge of ${CLOSED_OLD} old activities and the rest: ${ms.toFixed(0)} ms`);

  assert.deepEqual(counts, {
    activities: CLOSED_OLD,
    conversations: 1,
    callResults: 1,
    importRejects: 1,
    dialHistory: 1,
  });
  assert.equal((await dials.since("+14155550100", daysAgo(60))).dialedAt.length, 1, "the recent dial kept");
  const left = (await A.find({}, { projection: { _id: 1 } }).toArray()).map((d) => d._id).sort();
  assert.deepEqual(left, ["old-leased", "old-scheduled", "old-waiting-step", "recent-closed"]);
  const convs = (await store.models.Conversation.collection.find({}).toArray()).map((d) => d._id).sort();
  assert.deepEqual(convs, ["cv-c-active", "cv-c-open", "cv-c-recent"]);
  const events = (await store.models.TimelineEvent.collection.find({}).toArray()).map((d) => d._id).sort();
  assert.deepEqual(events, ["t-call-recent", "t-open", "t-status-old"]);
  assert.deepEqual((await rejects.find({}).toArray()).map((d) => d._id).sort(), ["r1", "r2"]);

  // A second run finds nothing more.
  for (const step of purgePlan(checked.policy, NOW)) assert.equal(await privacy.purge(step, 500, NOW), 0);
});

test("one node per purge slot: the unique insert of the slot decides", async () => {
  const others = Array.from(
    { length: 4 },
    () =>
      new PrivacyStore(
        store.conn,
        store.models,
        new ActivityStore(store.models, new ClaimStore(store.conn)),
        keyedHasher(Buffer.alloc(32, 3)),
      ),
  );
  const won = await Promise.all(others.map((p, i) => p.claimRun("purge:42", `node-${i}`, NOW)));
  assert.equal(won.filter(Boolean).length, 1);
  assert.equal(await privacy.claimRun("purge:43", "node-x", NOW), true);
});
