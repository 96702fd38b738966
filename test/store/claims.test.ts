import { test, beforeAll, afterAll } from "@jest/globals";
import assert from "node:assert/strict";
import { openStore, type Store } from "../../core/store/connection.ts";
import { ClaimStore } from "../../core/store/claims.ts";
import { freshDatabaseUrl } from "../support/mongo.ts";

let store: Store;
beforeAll(async () => {
  store = await openStore(freshDatabaseUrl("claims"));
});
afterAll(async () => store?.close());

const activities = () => store.conn.collection("activities");
async function activity(id: string): Promise<void> {
  await activities().insertOne({ _id: id, claimEpoch: 0, leaseUntil: new Date(0) } as never);
}
/** What a winner does right after its insert: write its epoch and lease on the activity. */
async function lease(id: string, epoch: number, until: Date): Promise<void> {
  await activities().updateOne({ _id: id } as never, { $set: { claimEpoch: epoch, leaseUntil: until } });
}

test("eight nodes racing for one activity: exactly one wins", async () => {
  await activity("a1");
  const nodes = Array.from({ length: 8 }, () => new ClaimStore(store.conn));
  const results = await Promise.all(
    nodes.map((n, i) => n.acquire([{ _id: "a1", claimEpoch: 0 }], `node-${i}`, new Date(), 30_000)),
  );
  assert.equal(results.filter((r) => r.has("a1")).length, 1);
});

test("a held activity is not taken, a released one is, at the next epoch", async () => {
  await activity("a2");
  const [a, b] = [new ClaimStore(store.conn), new ClaimStore(store.conn)];
  const epoch = await a.acquireOne("a2", "A", 30_000, 0);
  assert.equal(epoch, 1);
  await lease("a2", 1, new Date(Date.now() + 30_000));
  assert.equal(await b.acquireOne("a2", "B", 30_000, 200), undefined, "held by A: B waits and gives up");
  await lease("a2", 1, new Date(0)); // A releases
  assert.equal(await b.acquireOne("a2", "B", 30_000, 200), 2);
});

test("a stale claimant that read an old epoch loses to the holder", async () => {
  await activity("a3");
  const [a, b] = [new ClaimStore(store.conn), new ClaimStore(store.conn)];
  const won = await a.acquire([{ _id: "a3", claimEpoch: 0 }], "A", new Date(), 30_000);
  await lease("a3", won.get("a3")!, new Date(Date.now() + 30_000));
  const stale = await b.acquire([{ _id: "a3", claimEpoch: 0 }], "B", new Date(), 30_000);
  assert.equal(stale.has("a3"), false);
});

test("a holder that died between its claim and its lease is taken over once the claim passes", async () => {
  await activity("a4");
  const dead = new ClaimStore(store.conn);
  await dead.acquire([{ _id: "a4", claimEpoch: 0 }], "dead", new Date(Date.now() - 60_000), 1_000); // until long past
  const b = new ClaimStore(store.conn);
  const won = await b.acquire([{ _id: "a4", claimEpoch: 0 }], "B", new Date(), 30_000);
  assert.equal(won.get("a4"), 2);
});

test("an attempt number is started by one node only; a reservation its maker abandoned goes stale", async () => {
  const nodes = Array.from({ length: 6 }, () => new ClaimStore(store.conn));
  const now = new Date();
  const won = await Promise.all(nodes.map((n, i) => n.reserveAttempt("a5", 0, `node-${i}`, now)));
  assert.equal(won.filter(Boolean).length, 1);
  const b = new ClaimStore(store.conn);
  assert.equal(
    await b.reserveAttempt("a5", 0, "B", new Date(now.getTime() + 1_000)),
    false,
    "fresh: its maker may be starting it",
  );
  assert.equal(
    await b.reserveAttempt("a5", 0, "B", new Date(now.getTime() + 11_000)),
    true,
    "stale: the next generation is taken",
  );
  assert.equal(await b.reserveAttempt("a5", 1, "B", now), true, "the next attempt number is free");
});
