/**
 * Claims ahead (scheduler.claimAheadMs): work due soon is claimed at a poll and sent on a timer
 * at its time. A node that stops meanwhile releases what it holds ahead, so that the next node
 * sends it at its time, not once the stopped node's lease (30 s here) has passed.
 */
import { test, beforeAll, afterAll } from "@jest/globals";
import assert from "node:assert/strict";
import { MongoClient } from "mongodb";
import { startSmtpServer, type LocalSmtpServer } from "../vendors/smtp-server.ts";
import { eventually, startTestHub, type TestHub } from "../support/hub.ts";
import { freshDatabaseUrl } from "../support/mongo.ts";
import { dueKey } from "../../core/store/due-index.ts";

const LEASE_MS = 30_000;
let smtp: LocalSmtpServer;
let client: MongoClient;
const url = freshDatabaseUrl("claim_ahead");
const hubs: TestHub[] = [];

beforeAll(async () => {
  smtp = await startSmtpServer();
  client = await MongoClient.connect(url);
});
afterAll(async () => {
  await Promise.all(hubs.map((h) => h.stop()));
  await client?.close();
  await smtp?.stop();
});

function node(nodeId: string): Promise<TestHub> {
  return startTestHub(
    {
      scheduler: { leaseMs: LEASE_MS, claimAheadMs: 7_000 },
      plugins: [
        {
          id: "mail",
          use: "email-smtp",
          options: { host: "127.0.0.1", port: smtp.port, secure: false, from: "noreply@example.com" },
        },
      ],
    },
    { mongoUrl: url, nodeId },
  );
}

test("an activity held ahead by a node that stops is released, and the next node sends it at its time", async () => {
  const first = await node("ahead-1");
  hubs.push(first);
  const dueAt = new Date(Date.now() + 6_000);
  const res = await first.api("POST", "/api/v1/activities", {
    customer: { id: "ahead-stop", email: "ahead-stop@example.com" },
    channel: "email",
    content: { subject: "s", text: "t" },
    dueAt: dueAt.toISOString(),
  });
  assert.equal(res.status, 202, res.text);
  const { id } = res.body as { id: string };
  const entries = client.db().collection<{ _id: string; a: string }>("activity_due");
  const atDue = dueKey(dueAt, id);

  // Claimed ahead: its entry moved from its due time to the end of the claim's lease.
  await eventually(
    async () => {
      const keys = (await entries.find({ a: id }).toArray()).map((e) => e._id);
      return keys.length === 1 && keys[0]! > atDue;
    },
    5_000,
    "the claim ahead",
  );

  await first.stop();
  hubs.splice(0, 1);
  assert.deepEqual(
    (await entries.find({ a: id }).toArray()).map((e) => e._id),
    [atDue],
    "released at stop: due at its own time again",
  );

  const second = await node("ahead-2");
  hubs.push(second);
  const sent = await eventually(
    async () => {
      const a = (await second.api("GET", `/api/v1/activities/${id}`)).body as {
        status: string;
        attempts: { node: string; dispatchedAt: string }[];
      };
      return a.status === "SENT" ? a : undefined;
    },
    LEASE_MS / 2,
    "the activity SENT by the second node",
  );
  assert.equal(sent.attempts.length, 1);
  assert.equal(sent.attempts[0]!.node, "ahead-2");
  assert.ok(Date.parse(sent.attempts[0]!.dispatchedAt) >= dueAt.getTime(), "not before it was due");
  assert.deepEqual(
    smtp.messages.flatMap((m) => m.envelope.rcptTo),
    ["ahead-stop@example.com"],
  );
});
