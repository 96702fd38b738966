/**
 * Outcomes of concurrent sends are written as one bulk update (ActivityStore.finishAttempt). A
 * bulk's reply says how many it modified, not which: these check that each sender still learns
 * its own answer, on the real store, when one of the holders lost its claim meanwhile.
 */
import { test, beforeAll, afterAll } from "@jest/globals";
import assert from "node:assert/strict";
import { openStore, type Store } from "../../core/store/connection.ts";
import { ClaimStore } from "../../core/store/claims.ts";
import { ActivityStore } from "../../core/store/activities.ts";
import type { ActivityDoc, AttemptDoc } from "../../core/store/models.ts";
import { freshDatabaseUrl } from "../support/mongo.ts";
import { emailActivity } from "../support/activities.ts";

let store: Store;
let activities: ActivityStore;
beforeAll(async () => {
  store = await openStore(freshDatabaseUrl("activity_outcomes"));
  activities = new ActivityStore(store.models, new ClaimStore(store.conn));
});
afterAll(async () => store?.close());

function attemptFor(a: ActivityDoc, now: Date): AttemptDoc {
  return {
    id: `att_${a._id}`,
    step: 0,
    retry: 0,
    channel: "email",
    pluginId: "mail",
    status: "DISPATCHING",
    node: "node-1",
    dispatchedAt: now,
    updatedAt: now,
  };
}

/** Claims the three activities and starts an attempt on each, as the dispatcher does. */
async function startedThree(tag: string): Promise<ActivityDoc[]> {
  const now = new Date();
  await activities.accept(
    ["a", "b", "c"].map((i) => emailActivity(`outcome-${tag}-${i}`, new Date(now.getTime() - 10))),
    now,
  );
  const claimed = (await activities.claimDue("node-1", now, 10, 30_000)).sort((x, y) => x._id.localeCompare(y._id));
  assert.equal(claimed.length, 3);
  const started: ActivityDoc[] = [];
  for (const a of claimed) {
    const attempt = attemptFor(a, now);
    assert.equal(await activities.startAttempt(a, attempt, now), true);
    started.push({ ...a, status: "DISPATCHING", attempts: [{ ...attempt, unstored: true }] });
  }
  return started;
}

const stored = (id: string) => store.models.Activity.findById(id).lean<ActivityDoc>();

test("three outcomes at once: each is pushed, each claim released, and each sender told so", async () => {
  const started = await startedThree("all");
  const now = new Date();
  const results = await Promise.all(
    started.map((a, i) => activities.finishAttempt(a, 0, { status: "SENT", vendorId: `msg-${i}` }, null, now)),
  );
  assert.deepEqual(results, [true, true, true]);
  for (const [i, a] of started.entries()) {
    const doc = await stored(a._id);
    assert.equal(doc?.status, "SENT");
    assert.equal(doc?.leaseToken, null, "the claim is released");
    assert.equal(doc?.nextRunAt, null);
    assert.deepEqual(
      doc?.attempts.map((t) => [t.id, t.status, t.vendorId]),
      [[`att_${a._id}`, "SENT", `msg-${i}`]],
    );
  }
});

test("one holder of three lost its claim: its outcome is still pushed, the new holder's claim kept", async () => {
  const [first, lost, third] = await startedThree("lost");
  // Another node claimed `lost` since (its lease written on the activity, a newer epoch).
  const until = new Date(Date.now() + 30_000);
  await store.models.Activity.updateOne(
    { _id: lost!._id },
    { $set: { claimEpoch: 9, leaseOwner: "node-2", leaseToken: `${lost!._id}:9`, leaseUntil: until } },
  );
  const now = new Date();
  const results = await Promise.all(
    [first!, lost!, third!].map((a) => activities.finishAttempt(a, 0, { status: "SENT", vendorId: "v" }, null, now)),
  );
  assert.deepEqual(results, [true, true, true], "each outcome is the truth and is recorded");

  const taken = await stored(lost!._id);
  assert.equal(taken?.leaseToken, `${lost!._id}:9`, "the new holder keeps its claim");
  assert.equal(taken?.leaseOwner, "node-2");
  assert.deepEqual(
    taken?.attempts.map((t) => [t.id, t.status]),
    [[`att_${lost!._id}`, "SENT"]],
  );
  assert.ok(taken?.nextRunAt, "due at once, so that its holder looks again");
  for (const a of [first!, third!]) {
    const doc = await stored(a._id);
    assert.equal(doc?.leaseToken, null, `${a._id}: released by its own holder`);
    assert.equal(doc?.nextRunAt, null);
  }
});

test("an outcome already recorded is not pushed twice, and its sender is told it is recorded", async () => {
  const [a] = await startedThree("twice");
  const now = new Date();
  assert.equal(await activities.finishAttempt(a!, 0, { status: "SENT", vendorId: "v" }, null, now), true);
  // The same answer again (a sender that did not see the reply of its first write).
  assert.equal(await activities.finishAttempt(a!, 0, { status: "SENT", vendorId: "v" }, null, now), true);
  const doc = await stored(a!._id);
  assert.equal(doc?.attempts.length, 1);
});
