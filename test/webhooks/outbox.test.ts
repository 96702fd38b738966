/**
 * The webhook outbox against the suite's FerretDB and a real local HTTP receiver.
 * Targets on 127.0.0.1 need allowPrivateNetworks: true; refusal without it is asserted apart.
 */
import { test, beforeAll, afterAll } from "@jest/globals";
import assert from "node:assert/strict";
import mongoose, { type Connection } from "mongoose";
import { freshDatabaseUrl } from "../support/mongo.ts";
import { startReceiver, type Receiver } from "./receiver.ts";
import { WebhookOutbox, type WebhookLogger, type WebhookOutboxOptions } from "../../core/webhooks/outbox.ts";
import { verifySignature } from "../../core/webhooks/signature.ts";
import { webhookModels } from "../../core/webhooks/models.ts";
import { WebhookValidationError } from "../../core/webhooks/validate.ts";
import type { LookupAll } from "../../core/webhooks/target-guard.ts";

const SECRET = "whsec-test-0123456789-abcdef";
const fast = { baseDelayMs: 20, factor: 2, maxDelayMs: 200, jitter: 0 };

let dbUrl: string;
const connections: Connection[] = [];
const receivers: Receiver[] = [];
const outboxes: WebhookOutbox[] = [];

async function connect(): Promise<Connection> {
  const conn = await mongoose.createConnection(dbUrl).asPromise();
  connections.push(conn);
  return conn;
}

async function outbox(options: WebhookOutboxOptions = {}, conn?: Connection): Promise<WebhookOutbox> {
  const o = new WebhookOutbox(conn ?? (await connect()), {
    allowPrivateNetworks: true,
    backoff: fast,
    pollIntervalMs: 10,
    timeoutMs: 2000,
    ...options,
  });
  await o.init();
  outboxes.push(o);
  return o;
}

async function receiver(...args: Parameters<typeof startReceiver>): Promise<Receiver> {
  const r = await startReceiver(...args);
  receivers.push(r);
  return r;
}

function recordingLogger(): WebhookLogger & { lines: string[] } {
  const lines: string[] = [];
  const rec = (msg: string, data?: Record<string, unknown>) => lines.push(`${msg} ${JSON.stringify(data ?? {})}`);
  return { lines, info: rec, warn: rec, error: rec };
}

async function until<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

let seq = 0;
const event = (name = "activity.status", data: unknown = { activityId: "a1", status: "SENT" }) => ({
  id: `evt-${Date.now()}-${++seq}`,
  name,
  occurredAt: new Date("2026-03-02T14:00:00Z"),
  data,
});

beforeAll(() => {
  dbUrl = freshDatabaseUrl("webhooks_outbox");
});

afterAll(async () => {
  await Promise.all(outboxes.map((o) => o.stop()));
  await Promise.all(receivers.map((r) => r.close()));
  await connections[0]?.dropDatabase();
  await Promise.all(connections.map((c) => c.close()));
});

test("a delivery is a signed JSON POST that verifies against the raw body", async () => {
  const r = await receiver();
  const o = await outbox();
  const sub = await o.createSubscription({ url: r.url, secret: SECRET, events: ["activity.status"] });
  const e = event("activity.status", { activityId: "a1", status: "DELIVERED", note: "héllo ✓" });
  assert.deepEqual(await o.enqueue(e), { matched: 1, created: 1 });
  assert.deepEqual(await o.enqueue(e), { matched: 1, created: 0 }, "the same event again creates nothing");

  const summary = await o.deliverDue();
  assert.deepEqual(summary, { claimed: 1, delivered: 1, retried: 0, dead: 0 });
  assert.equal(r.requests.length, 1);
  const req = r.requests[0]!;
  assert.equal(req.method, "POST");
  assert.equal(req.path, "/hooks/dialmesh");
  assert.equal(req.headers["content-type"], "application/json");
  assert.equal(req.headers["x-dialmesh-event"], "activity.status");
  assert.equal(req.headers["x-dialmesh-attempt"], "1");
  assert.equal(verifySignature(SECRET, req.rawBody, req.headers["x-dialmesh-signature"]), true);
  assert.equal(verifySignature("wrong-secret-wrong-secret", req.rawBody, req.headers["x-dialmesh-signature"]), false);
  assert.deepEqual(JSON.parse(req.rawBody.toString("utf8")), {
    id: e.id,
    event: "activity.status",
    occurredAt: "2026-03-02T14:00:00.000Z",
    data: { activityId: "a1", status: "DELIVERED", note: "héllo ✓" },
  });
  const [delivery] = await o.listDeliveries({ subscriptionId: sub.id });
  assert.equal(req.headers["x-dialmesh-delivery"], delivery?.id);
  assert.equal(delivery?.status, "DELIVERED");
  assert.equal(delivery?.attempts, 1);
  assert.equal(delivery?.lastStatusCode, 204);

  // Nothing left to do.
  assert.deepEqual(await o.deliverDue(), { claimed: 0, delivered: 0, retried: 0, dead: 0 });
  await o.deleteSubscription(sub.id);
});

test("subscriptions are read once per event name; a change here or a broadcast from another node is seen at once", async () => {
  const r = await receiver();
  const [here, there] = [await outbox(), await outbox()];
  for (const o of [here, there]) assert.equal((await o.enqueue(event("activity.status"))).matched, 0);
  const sub = await here.createSubscription({ url: r.url, secret: SECRET, events: ["activity.status"] });
  try {
    assert.equal((await here.enqueue(event("activity.status"))).matched, 1, "this node's own change");
    assert.equal((await there.enqueue(event("activity.status"))).matched, 0, "the other node's list is cached");
    there.invalidateSubscriptions(); // what the webhooks.subscriptions.changed broadcast does
    assert.equal((await there.enqueue(event("activity.status"))).matched, 1);
  } finally {
    await here.deleteSubscription(sub.id);
  }
  assert.equal((await here.enqueue(event("activity.status"))).matched, 0);
});

test("event selection: names, prefixes, '*', inactive subscriptions", async () => {
  const r = await receiver();
  const o = await outbox();
  const exact = await o.createSubscription({ url: r.url, secret: SECRET, events: ["activity.status"] });
  const prefix = await o.createSubscription({ url: r.url, secret: SECRET, events: ["conversation.*"] });
  const all = await o.createSubscription({ url: r.url, secret: SECRET, events: ["*"] });
  const inactive = await o.createSubscription({ url: r.url, secret: SECRET, events: ["*"], active: false });
  assert.equal((await o.enqueue(event("activity.status"))).matched, 2);
  assert.equal((await o.enqueue(event("conversation.reply.received"))).matched, 2);
  assert.equal((await o.enqueue(event("plugin.health"))).matched, 1);
  for (const s of [exact, prefix, all, inactive]) assert.equal(await o.deleteSubscription(s.id), true);
  assert.equal(await o.deleteSubscription(exact.id), false);
  assert.equal(await o.deleteSubscription("nope"), false);
  assert.deepEqual(await o.listDeliveries(), [], "deleting a subscription removes its deliveries");
});

test("failures are retried with backoff until the receiver accepts", async () => {
  const r = await receiver((_req, i) => (i < 3 ? { status: 500, body: "database down" } : { status: 200 }));
  const o = await outbox({ maxAttempts: 6 });
  const sub = await o.createSubscription({ url: r.url, secret: SECRET, events: ["*"] });
  await o.enqueue(event());
  o.start();
  const delivered = await until(
    "delivery",
    async () => (await o.listDeliveries({ subscriptionId: sub.id, status: "DELIVERED" }))[0],
  );
  await o.stop();

  assert.equal(r.requests.length, 4);
  assert.equal(delivered.attempts, 4);
  assert.deepEqual(
    r.requests.map((q) => q.headers["x-dialmesh-attempt"]),
    ["1", "2", "3", "4"],
  );
  // Same delivery id, same signed bytes on every attempt.
  assert.equal(new Set(r.requests.map((q) => q.headers["x-dialmesh-delivery"])).size, 1);
  assert.equal(new Set(r.requests.map((q) => q.rawBody.toString("hex"))).size, 1);
  // Gaps follow the schedule: 20, 40, 80 ms (no jitter), give or take the poll interval.
  const gaps = r.requests.slice(1).map((q, i) => q.at - r.requests[i]!.at);
  [20, 40, 80].forEach((min, i) =>
    assert.ok(gaps[i]! >= min - 5, `gap ${i + 1} was ${gaps[i]} ms, expected >= ${min}`),
  );
  await o.deleteSubscription(sub.id);
});

test("what keeps failing becomes a dead letter after maxAttempts; replay delivers it", async () => {
  let accept = false;
  const r = await receiver(() => (accept ? { status: 202 } : { status: 503, body: "maintenance" }));
  const log = recordingLogger();
  const o = await outbox({ maxAttempts: 3, logger: log });
  const sub = await o.createSubscription({ url: r.url, secret: SECRET, events: ["*"] });
  const e1 = event();
  const e2 = event();
  await o.enqueue(e1);
  await o.enqueue(e2);
  o.start();
  const dead = await until("dead letters", async () => {
    const list = await o.listDeadLetters({ subscriptionId: sub.id });
    return list.length === 2 ? list : undefined;
  });
  await o.stop();
  assert.equal(r.requests.length, 6, "3 attempts each, then nothing more");
  for (const d of dead) {
    assert.equal(d.attempts, 3);
    assert.equal(d.lastStatusCode, 503);
    assert.match(d.lastError ?? "", /^HTTP 503 from http:\/\/127\.0\.0\.1:\d+: maintenance$/);
    assert.ok(d.deadAt);
  }
  assert.deepEqual(
    dead.map((d) => d.payload.id),
    [e1.id, e2.id],
  );
  assert.deepEqual(await o.backlog(), {
    pending: 0,
    due: 0,
    dead: 2,
    delivered: 0,
    oldestPendingAgeSeconds: 0,
  });
  assert.ok(log.lines.some((l) => l.startsWith("webhook delivery dead-lettered")));

  // Replay one by id, then the rest.
  accept = true;
  assert.equal(await o.replay(dead[0]!.id), 1);
  assert.equal(await o.replay(dead[0]!.id), 0, "only dead letters are replayed");
  const again = await o.getDelivery(dead[0]!.id);
  assert.equal(again?.status, "PENDING");
  assert.equal(again?.attempts, 0);
  assert.deepEqual(await o.deliverDue(), { claimed: 1, delivered: 1, retried: 0, dead: 0 });
  assert.equal(await o.replay({ all: true }), 1);
  assert.deepEqual(await o.deliverDue(), { claimed: 1, delivered: 1, retried: 0, dead: 0 });
  assert.equal(r.requests.length, 8);
  const final = await o.listDeliveries({ subscriptionId: sub.id });
  assert.deepEqual(
    final.map((d) => [d.status, d.attempts, d.replays]),
    [
      ["DELIVERED", 1, 1],
      ["DELIVERED", 1, 1],
    ],
  );
  assert.equal((await o.backlog()).delivered, 2);
  assert.equal(await o.purgeDelivered(new Date(Date.now() + 1000)), 2);
  await o.deleteSubscription(sub.id);
});

test("a receiver that does not answer times out and is retried", async () => {
  const r = await receiver((_req, i) => (i === 0 ? { hang: true } : { status: 200 }));
  const o = await outbox({ timeoutMs: 150, leaseMs: 1000 });
  const sub = await o.createSubscription({ url: r.url, secret: SECRET, events: ["*"] });
  await o.enqueue(event());
  assert.deepEqual(await o.deliverDue(), { claimed: 1, delivered: 0, retried: 1, dead: 0 });
  const [d] = await o.listDeliveries({ subscriptionId: sub.id });
  assert.match(d?.lastError ?? "", /no response from http:\/\/127\.0\.0\.1:\d+ within 150 ms/);
  await new Promise((res) => setTimeout(res, 30));
  assert.deepEqual(await o.deliverDue(), { claimed: 1, delivered: 1, retried: 0, dead: 0 });
  await o.deleteSubscription(sub.id);
});

test("three nodes on the same database deliver each event exactly once", async () => {
  const r = await receiver(() => ({ status: 200, delayMs: 5 }));
  const nodes = await Promise.all(
    ["node-a", "node-b", "node-c"].map((nodeId) => outbox({ nodeId, concurrency: 4, batchSize: 10 })),
  );
  const [nodeA] = nodes;
  assert.ok(nodeA);
  const sub = await nodeA.createSubscription({ url: r.url, secret: SECRET, events: ["*"] });
  const events = Array.from({ length: 60 }, () => event());
  // Every node enqueues every event (as if each saw it): still one delivery per event.
  const results = await Promise.all(events.flatMap((e) => nodes.map((n) => n.enqueue(e))));
  assert.equal(
    results.reduce((n, x) => n + x.created, 0),
    60,
  );
  for (const n of nodes) n.start();
  await r.waitFor(60);
  await until("all delivered", async () => (await nodeA.backlog()).delivered === 60);
  await new Promise((res) => setTimeout(res, 100)); // room for a duplicate, if there were one
  await Promise.all(nodes.map((n) => n.stop()));

  assert.equal(r.requests.length, 60);
  const ids = r.requests.map((q) => JSON.parse(q.rawBody.toString("utf8")).id as string);
  assert.equal(new Set(ids).size, 60);
  assert.deepEqual(new Set(ids), new Set(events.map((e) => e.id)));
  assert.ok(new Set(r.requests.map((q) => q.headers["x-dialmesh-attempt"])).size === 1, "each delivered on attempt 1");
  assert.equal((await nodeA.backlog()).pending, 0);
  await nodeA.deleteSubscription(sub.id);
});

test("a delivery claimed by a node that died is picked up when its lease expires", async () => {
  const r = await receiver();
  const conn = await connect();
  const o = await outbox({}, conn);
  const sub = await o.createSubscription({ url: r.url, secret: SECRET, events: ["*"] });
  const e = event();
  await o.enqueue(e);
  // Simulate node "ghost" having claimed it, then died.
  const { Delivery } = webhookModels(conn);
  await Delivery.updateOne(
    { eventId: e.id },
    { $set: { leaseOwner: "ghost", leaseToken: "t", leaseUntil: new Date(Date.now() + 300) }, $inc: { attempts: 1 } },
  );
  assert.equal((await o.deliverDue()).claimed, 0, "leased elsewhere");
  await new Promise((res) => setTimeout(res, 350));
  assert.deepEqual(await o.deliverDue(), { claimed: 1, delivered: 1, retried: 0, dead: 0 });
  assert.equal(r.requests[0]?.headers["x-dialmesh-attempt"], "2");

  // Died between winning the claim and recording its lease: the claim is taken over on expiry.
  const { Claim } = webhookModels(conn);
  const e2 = event();
  await o.enqueue(e2);
  const [row] = await Delivery.find({ eventId: e2.id }).lean();
  assert.ok(row);
  await Claim.create({
    _id: `${row._id.toString()}:${row.version}:0`,
    deliveryId: row._id,
    version: row.version,
    takeover: 0,
    owner: "ghost",
    leaseUntil: new Date(Date.now() + 300),
    createdAt: new Date(),
  });
  assert.equal((await o.deliverDue()).claimed, 0, "claimed elsewhere");
  await new Promise((res) => setTimeout(res, 350));
  assert.deepEqual(await o.deliverDue(), { claimed: 1, delivered: 1, retried: 0, dead: 0 });
  assert.equal(r.requests.length, 2);
  await o.deleteSubscription(sub.id);
});

test("private and loopback targets are refused unless allowed", async () => {
  const strict = await outbox({ allowPrivateNetworks: false });
  for (const url of [
    "http://127.0.0.1:9/x",
    "http://localhost:9/x",
    "http://[::1]:9/x",
    "http://10.0.0.1/x",
    "http://192.168.1.10/x",
    "http://169.254.169.254/latest/meta-data",
    "http://100.64.0.1/x",
    "http://[fd00::1]/x",
    "http://0.0.0.0/x",
  ]) {
    await assert.rejects(
      strict.createSubscription({ url, secret: SECRET, events: ["*"] }),
      (err: unknown) =>
        err instanceof WebhookValidationError &&
        err.details.length === 1 &&
        err.details[0]?.path === "/url" &&
        /is refused: .*expected a public (address|host) \(set webhooks\.allowPrivateNetworks to true/.test(err.message),
      url,
    );
  }
  assert.deepEqual(await strict.listSubscriptions(), []);
  // Allowed when private networks are allowed.
  const lax = await outbox({ allowPrivateNetworks: true });
  const sub = await lax.createSubscription({ url: "http://127.0.0.1:9/x", secret: SECRET, events: ["*"] });
  await lax.deleteSubscription(sub.id);
});

test("DNS answers are checked at creation and again at delivery (rebinding)", async () => {
  const r = await receiver();
  let answer = "93.184.216.34";
  const lookup: LookupAll = async () => [{ address: answer, family: 4 }];
  const internalAtCreation = await outbox({ allowPrivateNetworks: false, lookup });
  answer = "10.1.2.3";
  await assert.rejects(
    internalAtCreation.createSubscription({ url: "http://hooks.example.test/x", secret: SECRET, events: ["*"] }),
    /host "hooks\.example\.test" resolves to 10\.1\.2\.3, a private address/,
  );

  // Public at creation, loopback at delivery: the POST never leaves.
  answer = "93.184.216.34";
  const o = await outbox({ allowPrivateNetworks: false, lookup, maxAttempts: 2 });
  const sub = await o.createSubscription({
    url: `http://rebind.example.test:${r.port}/x`,
    secret: SECRET,
    events: ["*"],
  });
  answer = "127.0.0.1";
  await o.enqueue(event());
  assert.deepEqual(await o.deliverDue(), { claimed: 1, delivered: 0, retried: 1, dead: 0 });
  const [d] = await o.listDeliveries({ subscriptionId: sub.id });
  assert.match(d?.lastError ?? "", /resolves to 127\.0\.0\.1, a loopback address/);
  assert.equal(r.requests.length, 0);

  // A subscription stored while private networks were allowed is refused by a strict node.
  const lax = await outbox({ allowPrivateNetworks: true });
  const local = await lax.createSubscription({ url: r.url, secret: SECRET, events: ["*"] });
  // Another node's subscription: the hub's webhooks service broadcasts the change to every node.
  o.invalidateSubscriptions();
  await o.enqueue(event());
  await new Promise((res) => setTimeout(res, 30));
  await o.deliverDue();
  const refused = await o.listDeliveries({ subscriptionId: local.id });
  assert.match(refused[0]?.lastError ?? "", /127\.0\.0\.1 is a loopback address/);
  assert.equal(r.requests.length, 0);
  await o.deleteSubscription(sub.id);
  await o.deleteSubscription(local.id);
});

test("secrets never appear in list output, errors or logs", async () => {
  const r = await receiver(() => ({ status: 500, body: "nope" }));
  const log = recordingLogger();
  const o = await outbox({ logger: log, maxAttempts: 2 });
  const created = await o.createSubscription({ url: r.url, secret: SECRET, events: ["*"] });
  assert.equal(created.secretGenerated, false);
  assert.equal(created.secret, `****${SECRET.slice(-4)}`);
  const listed = await o.listSubscriptions();
  assert.equal(listed.length, 1);
  assert.equal(listed[0]?.secret, `****${SECRET.slice(-4)}`);
  assert.equal(listed[0]?.url, r.url);
  assert.deepEqual(listed[0]?.events, ["*"]);
  assert.ok(!JSON.stringify(listed).includes(SECRET));
  assert.ok(!JSON.stringify(await o.getSubscription(created.id)).includes(SECRET));

  // A generated secret is shown once, at creation.
  const generated = await o.createSubscription({ url: r.url, events: ["*"] });
  assert.equal(generated.secretGenerated, true);
  assert.ok(generated.secret.length >= 32);
  assert.ok(!JSON.stringify(await o.listSubscriptions()).includes(generated.secret));

  await o.enqueue(event());
  await o.deliverDue();
  await new Promise((res) => setTimeout(res, 30));
  await o.deliverDue();
  const deliveries = await o.listDeliveries();
  assert.equal(deliveries.filter((d) => d.status === "DEAD").length, 2);
  const everything = JSON.stringify({ deliveries, lines: log.lines });
  assert.ok(!everything.includes(SECRET));
  assert.ok(!everything.includes(generated.secret));
  assert.ok(log.lines.length > 0);

  // Validation errors do not echo the secret either.
  const err = await o
    .createSubscription({ url: "ftp://x", secret: "a-short-secret", events: [] })
    .catch((e: unknown) => e);
  assert.ok(err instanceof WebhookValidationError);
  assert.ok(!JSON.stringify(err.toJSON()).includes("a-short-secret"));
  assert.deepEqual(
    err.details.map((d) => d.path),
    ["/url", "/secret", "/events"],
  );
  await o.deleteSubscription(created.id);
  await o.deleteSubscription(generated.id);
});
