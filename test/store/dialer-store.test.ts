/**
 * The dialer's store on the suite's FerretDB: its exactly-once decisions (campaign terms, dial
 * claims, agent seizure) under racing callers, the retirement of a dead node's unused dial
 * claim, and the number history the compliance check reads.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, test } from "@jest/globals";
import { openStore, type Store } from "../../core/store/connection.ts";
import { DialerStore } from "../../core/store/dialer.ts";
import { NumberHistory } from "../../core/store/number-history.ts";
import { keyedHasher } from "../../core/privacy/keyed-hash.ts";
import type { DialerContact } from "../../core/dialer/contacts.ts";
import { parseCampaign } from "../../core/dialer/campaign.ts";
import { freshDatabaseUrl } from "../support/mongo.ts";

const hasDb = Boolean(process.env.DIALMESH_TEST_MONGO_URL);

function contact(id: string, over: Partial<DialerContact> = {}): DialerContact {
  const now = new Date();
  return {
    _id: id,
    campaignId: "c1",
    activityId: `act-${id}`,
    attemptNumber: 1,
    phone: "+14155550100",
    customerId: `cu-${id}`,
    type: "AGENT",
    priority: 5,
    status: "pending",
    receivedAt: now,
    earliestAt: now,
    ...over,
  };
}

(hasDb ? describe : describe.skip)("DialerStore", () => {
  let store: Store;
  let dialer: DialerStore;
  const hash = keyedHasher(randomBytes(32));
  beforeAll(async () => {
    store = await openStore(freshDatabaseUrl("dialer_store"));
    dialer = new DialerStore(store.conn, hash);
    await dialer.ensureIndexes();
    const parsed = parseCampaign({ mode: "progressive", voicePlugin: "v", queue: "q" }, () => true);
    assert.ok(parsed.ok);
    await dialer.putCampaign("c1", parsed.spec, new Date());
  });
  afterAll(async () => {
    await store?.conn.dropDatabase().catch(() => undefined);
    await store?.close();
  });

  test("eight nodes race for a campaign's next term: exactly one wins", async () => {
    const now = new Date();
    const wins = await Promise.all(
      Array.from({ length: 8 }, (_, i) => dialer.acquireTerm("c1", 0, `node-${i}`, now, 5_000)),
    );
    assert.equal(wins.filter(Boolean).length, 1);
    const doc = (await dialer.getCampaign("c1"))!;
    assert.equal(doc.ownerTerm, 1);
    assert.equal(doc.ownerNode, `node-${wins.indexOf(true)}`);
    assert.equal(await dialer.renewTerm("c1", 1, "someone-else", new Date()), false, "only the holder renews");
  });

  test("a contact is dialled once per generation; a repeated hand-over stores nothing twice", async () => {
    assert.equal(await dialer.enqueue(contact("k1")), true);
    assert.equal(await dialer.enqueue(contact("k1")), false);
    const stored = (await dialer.getContact("k1"))!;
    const claims = await Promise.all(
      Array.from({ length: 6 }, (_, i) => dialer.claimDial(stored, `n${i}`, new Date())),
    );
    assert.equal(claims.filter(Boolean).length, 1);
    // Gateway down: back to pending, a new generation that may be dialled once more.
    await dialer.backToPending(stored, new Date());
    const again = (await dialer.getContact("k1"))!;
    assert.equal(again.dialGeneration, 1);
    assert.equal(await dialer.claimDial(again, "n0", new Date()), true);
    assert.equal(await dialer.claimDial(again, "n1", new Date()), false);
  });

  test("a dial claim its holder never used is retired only once it is older than the lease", async () => {
    await dialer.enqueue(contact("k2"));
    const stored = (await dialer.getContact("k2"))!;
    const claimedAt = new Date();
    assert.equal(await dialer.claimDial(stored, "dead-node", claimedAt), true);
    assert.equal(await dialer.retireStaleDialClaim(stored, new Date(claimedAt.getTime() - 1)), false, "still fresh");
    assert.equal(await dialer.retireStaleDialClaim(stored, new Date(claimedAt.getTime() + 1)), true);
    const next = (await dialer.getContact("k2"))!;
    assert.equal(next.dialGeneration, 1);
    assert.equal(await dialer.claimDial(next, "survivor", new Date()), true);
    // A contact that was dialled (not pending) is never retired.
    await dialer.markDialing(next, { callId: "call-1", node: "survivor", term: 2 }, new Date());
    assert.equal(await dialer.retireStaleDialClaim(next, new Date(Date.now() + 60_000)), false);
  });

  test("an agent is seized by one campaign at a time", async () => {
    await dialer.putAgent("a1", "user/1001", ["q"], new Date());
    const agent = (await dialer.getAgent("a1"))!;
    const seized = await Promise.all(
      ["c1", "c2", "c3", "c4"].map((c, i) => dialer.seize(agent, c, `node-${i}`, new Date())),
    );
    assert.equal(seized.filter(Boolean).length, 1);
    assert.equal((await dialer.getAgent("a1"))!.seizedBy, ["c1", "c2", "c3", "c4"][seized.indexOf(true)]);
  });

  test("a number's history: when it was dialled, and its last abandoned call (for the 72-hour rule)", async () => {
    const phone = "+447700900123";
    const t = (h: number) => new Date(Date.now() - h * 3_600_000);
    const h1 = { ...contact("h1", { phone }), dialGeneration: 0 };
    const h2 = { ...contact("h2", { phone: `${phone};ext=12` }), dialGeneration: 0 };
    await dialer.enqueue(h1);
    await dialer.markDialing(h1, { callId: "x1", node: "n", term: 1 }, t(50));
    await dialer.finish(h1, "ended", { outcome: "ABANDONED", resultDescription: "NORMAL_CLEARING" }, t(50));
    await dialer.enqueue(h2);
    await dialer.markDialing(h2, { callId: "x2", node: "n", term: 1 }, t(10));
    await dialer.finish(h2, "ended", { outcome: "NO_ANSWER", resultDescription: "NO_ANSWER" }, t(10));
    const history = await dialer.numberHistory(phone, t(24 * 31));
    assert.equal(history.dialedAt.length, 2);
    assert.ok(history.lastAbandonedAt && Math.abs(history.lastAbandonedAt.getTime() - t(50).getTime()) < 1_000);
    assert.equal((await dialer.numberHistory("+447700900999", t(24))).dialedAt.length, 0);
    const lastDay = await dialer.numberHistory(phone, t(24));
    assert.equal(lastDay.dialedAt.length, 1, "only the dial within the window");
    assert.equal(lastDay.lastAbandonedAt, undefined);
    const entries = await store.conn.db!.collection("dialer_number_history").find({}).toArray();
    assert.ok(entries.length >= 3);
    assert.ok(
      entries.every((e) => !JSON.stringify(e).includes("7700900123")),
      "numbers are kept only as keyed hashes",
    );
    const line = String(entries[0]!._id).split("|")[0]!;
    const plan = (await store.conn.db!.command({
      explain: { find: "dialer_number_history", filter: { _id: { $gte: `${line}|0`, $lt: `${line}|~` } } },
    })) as { queryPlanner?: { Plan?: string[] }; filterPushdown?: boolean };
    // MongoDB explains differently; the embedded FerretDB must search the index, not scan.
    if (plan.filterPushdown !== undefined)
      assert.match(String(plan.queryPlanner?.Plan), /SEARCH .* USING INDEX .*_id_/, JSON.stringify(plan.queryPlanner));

    // Kept as long as the rules read back (31 days), then purged by the retention job.
    const entries40 = new NumberHistory(store.conn, hash);
    await entries40.record(phone, t(24 * 40), "dialed", "h0");
    assert.equal((await dialer.numberHistory(phone, t(24 * 41))).dialedAt.length, 3);
    assert.equal(await entries40.purge(t(24 * 31), 1, 10), 1, "only the entry older than 31 days");
    assert.equal((await dialer.numberHistory(phone, t(24 * 41))).dialedAt.length, 2);
  });

  test("the queue gives due pending contacts in dialling order and drops the ones that left it", async () => {
    const parsed = parseCampaign({ mode: "progressive", voicePlugin: "v", queue: "q" }, () => true);
    assert.ok(parsed.ok);
    await dialer.putCampaign("cq", parsed.spec, new Date());
    const base = Date.now();
    const at = (s: number) => new Date(base + s * 1000);
    const queued = (id: string, s: number, over: Partial<DialerContact> = {}) =>
      contact(id, { campaignId: "cq", receivedAt: at(s), earliestAt: at(s), ...over });
    for (const [id, s] of [
      ["q1", -3],
      ["q2", -2],
      ["q3", -1],
      ["q4", 60],
    ] as const)
      await dialer.enqueue(queued(id, s));
    await dialer.enqueue(queued("q5", -4, { status: "stopped" }));
    const ids = async (limit: number, order: "FIFO" | "LIFO") =>
      (await dialer.dueContacts("cq", at(0), limit, order)).map((c) => c._id);

    assert.deepEqual(await ids(2, "FIFO"), ["q1", "q2"]);
    assert.deepEqual(await ids(2, "LIFO"), ["q3", "q2"]);
    assert.deepEqual(await ids(10, "FIFO"), ["q1", "q2", "q3"], "neither the future one nor the stopped one");
    assert.deepEqual(
      await dialer.dueContacts("c1", at(0), 10, "FIFO").then((cs) => cs.filter((c) => c.campaignId === "cq")),
      [],
    );

    const q1 = (await dialer.getContact("q1"))!;
    await dialer.markDialing(q1, { callId: "call-q1", node: "n", term: 1 }, at(0));
    assert.deepEqual(await ids(10, "FIFO"), ["q2", "q3"], "a dialled contact has left");
    const q2 = (await dialer.getContact("q2"))!;
    await dialer.backToPending(q2, at(30));
    assert.deepEqual(await ids(10, "FIFO"), ["q3"], "a gateway-down contact waits for its retry time");
    assert.deepEqual(
      (await dialer.dueContacts("cq", at(31), 10, "FIFO")).map((c) => c._id),
      ["q3", "q2"],
    );

    await dialer.control("cq", "stop", at(0));
    assert.deepEqual(await ids(10, "FIFO"), [], "a stopped campaign's contacts are not due");
    await dialer.control("cq", "start", at(0));
    assert.deepEqual(await ids(10, "FIFO"), ["q5", "q3"], "started again: the stopped ones are back, in order");

    assert.equal((await dialer.purge("cq")).length, 4);
    assert.deepEqual(
      (await dialer.dueContacts("cq", at(120), 10, "FIFO")).map((c) => c._id),
      [],
    );
  });
});
