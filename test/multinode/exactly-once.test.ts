/**
 * Three hub nodes (separate processes, `node core/main.ts`) over a real nats-server, on one
 * database: 1,000 activities due at the same moment are each sent exactly once, and when one
 * node is killed with SIGKILL mid-run the other two finish its work: nothing is received twice;
 * the sends the dead node had in flight are OUTCOME_UNKNOWN, not resent (email is not idempotent).
 */
import { types } from "node:util";
import { describe, test, beforeAll, afterAll } from "@jest/globals";
import assert from "node:assert/strict";
import { connect } from "nats";
import { startNats, type RunningService } from "../../core/infra/processes.ts";
import { freshDatabaseUrl } from "../support/mongo.ts";
import { startNodeProcess, type HubNodeProcess } from "../support/node-process.ts";
import { auditDeliveries, openActivityReader, type DeliveryAudit } from "../support/delivery-audit.ts";
import { startSmtpServer, type LocalSmtpServer } from "../vendors/smtp-server.ts";

/** A figure of the run, in the test output (what node:test called a diagnostic). */
function note(line: string): void {
  process.stdout.write(`[exactly-once.test.ts] ${line}\n`);
}

const COUNT = 1000;
/** See node-process.ts for why not shorter on FerretDB. */
const LEASE_MS = 8000;
const CONCURRENCY = 32;
/** Due this long after the batch is posted, so that it is stored before any node sees it. */
const LEAD_MS = 3000;

interface AttemptView {
  id: string;
  status: string;
  node?: string;
}

function batch(label: string, dueAt: Date): { activities: unknown[] } {
  return {
    activities: Array.from({ length: COUNT }, (_, i) => ({
      customer: { id: `${label}-${i}`, firstName: `C${i}`, email: `${label}-${i}@example.com`, timezone: "UTC" },
      channel: "email",
      content: { subject: "Hello {{firstName}}", text: `Hi {{firstName}}, this is message ${i}` },
      dueAt: dueAt.toISOString(),
      idempotencyKey: `${label}-${i}`,
    })),
  };
}

async function startNodes(
  label: string,
  mongoUrl: string,
  nats: RunningService,
  smtp: LocalSmtpServer,
): Promise<HubNodeProcess[]> {
  const started = await Promise.allSettled(
    ["a", "b", "c"].map((n) =>
      startNodeProcess({
        nodeId: `${label}-${n}`,
        mongoUrl,
        transporter: nats.url,
        smtpPort: smtp.port,
        config: { scheduler: { leaseMs: LEASE_MS, concurrency: CONCURRENCY, batchSize: CONCURRENCY } },
      }),
    ),
  );
  const nodes = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const failed = started.find((s) => s.status === "rejected");
  if (failed) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw failed.reason;
  }
  return nodes;
}

/** Until every node's Moleculer heartbeat is seen on NATS: they really are one mesh. */
async function waitForMesh(nats: RunningService, nodes: HubNodeProcess[]): Promise<void> {
  const nc = await connect({ servers: nats.url });
  try {
    const sub = nc.subscribe("MOL-dialmesh.HEARTBEAT");
    const missing = new Set(nodes.map((n) => n.nodeId));
    const timer = setTimeout(() => sub.unsubscribe(), 10_000);
    for await (const msg of sub) {
      const sender = (msg.json() as { sender?: string }).sender;
      if (sender) missing.delete(sender);
      if (missing.size === 0) break;
    }
    clearTimeout(timer);
    assert.equal(missing.size, 0, `no heartbeat on NATS from ${[...missing].join(", ")}`);
  } finally {
    await nc.close();
  }
}

function report(audit: DeliveryAudit | undefined, nodes: HubNodeProcess[]): string {
  return [
    ...(audit
      ? [
          `activities ${audit.activities}, receipts ${audit.receipts}, distinct Message-IDs ${audit.distinctMessageIds}`,
          `attempts per node ${JSON.stringify(audit.perNode)}, received twice ${audit.repeated.length}`,
          ...audit.problems,
        ]
      : []),
    ...nodes.map((n) => `--- ${n.nodeId} (last lines) ---\n${n.tail(12)}`),
  ].join("\n");
}

/** Posts the batch to `node`; the ids in order. */
async function post(node: HubNodeProcess, body: { activities: unknown[] }): Promise<string[]> {
  const res = await node.api("POST", "/api/v1/activities", body);
  assert.equal(res.status, 202, res.text.slice(0, 2000));
  const accepted = res.body as { accepted: number; created: number; activities: { id: string }[] };
  assert.equal(accepted.created, COUNT);
  return accepted.activities.map((a) => a.id);
}

/** Runs `fn` with failures that carry what the nodes printed. */
async function withNodeOutput<T>(nodes: HubNodeProcess[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (types.isNativeError(err) && !err.message.includes("(last lines)"))
      err.message += `\n${report(undefined, nodes)}`;
    throw err;
  }
}

describe("three hub nodes over NATS on one database", () => {
  let nats: RunningService;
  let smtp: LocalSmtpServer;

  beforeAll(async () => {
    [nats, smtp] = await Promise.all([startNats(), startSmtpServer()]);
  });
  afterAll(async () => {
    await smtp?.stop();
    await nats?.stop();
  });

  test("1,000 activities due at once: each sent exactly once, the work spread over the nodes", async () => {
    smtp.reset();
    const mongoUrl = freshDatabaseUrl("multinode_eo");
    const nodes = await startNodes("eo", mongoUrl, nats, smtp);
    const db = await openActivityReader(mongoUrl);
    try {
      await waitForMesh(nats, nodes);
      const dueAt = new Date(Date.now() + LEAD_MS);
      const ids = await post(nodes[0]!, batch("eo", dueAt));
      // Stored late (a loaded machine), they are due as soon as stored: the nodes race for all of
      // them just the same, which is what this test is about.

      await withNodeOutput(nodes, () => smtp.waitForMessages(COUNT, 200_000));
      const lastReceipt = Math.max(...smtp.messages.map((m) => m.receivedAt));
      await withNodeOutput(nodes, () => db.waitAllSettled(COUNT, 15_000));
      // The API shows which node made an attempt, from any node.
      const one = await nodes[2]!.api("GET", `/api/v1/activities/${ids[0]}`);
      const attempts = (one.body as { attempts: AttemptView[] }).attempts;
      assert.equal(attempts.length, 1, one.text);
      assert.ok(attempts[0]!.node && nodes.some((n) => n.nodeId === attempts[0]!.node), one.text);

      // Stop every node (a graceful stop ends its sends in flight and starts no new one): any
      // second send that could ever happen has happened once they are down.
      await Promise.all(nodes.map((n) => n.stop()));
      const audit = auditDeliveries(await db.activities(), smtp.messages);
      assert.equal(audit.activities, COUNT);
      assert.deepEqual(audit.problems, [], report(audit, nodes));
      assert.equal(audit.receipts, COUNT, report(audit, nodes));
      assert.equal(audit.distinctMessageIds, COUNT);
      const busy = Object.keys(audit.perNode);
      assert.ok(busy.length > 1, `every attempt on one node: ${JSON.stringify(audit.perNode)}`);
      for (const node of busy)
        assert.ok(
          nodes.some((n) => n.nodeId === node),
          `attempt by unknown node ${node}`,
        );

      const seconds = (lastReceipt - dueAt.getTime()) / 1000;
      note(
        `${COUNT} activities over 3 nodes: last message received ${seconds.toFixed(1)} s after due ` +
          `(${(COUNT / seconds).toFixed(0)}/s); attempts per node ${JSON.stringify(audit.perNode)}`,
      );
    } finally {
      await db.close();
      await Promise.all(nodes.map((n) => n.stop()));
    }
  });

  test("one node killed with SIGKILL mid-run: the others finish its work; nothing is received twice; its interrupted sends are OUTCOME_UNKNOWN", async () => {
    smtp.reset();
    const mongoUrl = freshDatabaseUrl("multinode_kill");
    const nodes = await startNodes("kill", mongoUrl, nats, smtp);
    const db = await openActivityReader(mongoUrl);
    let victim = nodes[1]!;
    const victims: string[] = [];
    try {
      await waitForMesh(nats, nodes);
      const dueAt = new Date(Date.now() + LEAD_MS);
      // After 100 messages the SMTP server holds its answers (until the kill), so that the victim
      // certainly has sends in flight when it is killed.
      let release = smtp.holdAnswersAfter(100);
      await post(nodes[0]!, batch("kill", dueAt));
      await withNodeOutput(nodes, () => smtp.waitForMessages(100, 60_000));

      // Kill a node at a moment it has sends in flight (a run where it had none would prove
      // nothing about takeover). Sends to a local SMTP server take milliseconds, so the ones seen
      // in flight may all have finished by the time the kill lands: then a fresh node joins the
      // mesh and is killed in turn, up to three times.
      let held: Awaited<ReturnType<typeof db.held>> = [];
      let killedAt = 0;
      let atKill = 0;
      for (let round = 1; ; round++) {
        await withNodeOutput(nodes, async () => {
          const deadline = Date.now() + 60_000;
          for (;;) {
            if ((await db.held(victim.nodeId)).filter((h) => h.attemptId).length >= 2) return;
            assert.ok(
              smtp.messages.length < COUNT - CONCURRENCY,
              "the run ended before the victim had sends in flight",
            );
            assert.ok(Date.now() < deadline, "the victim never had sends in flight");
            await new Promise((r) => setImmediate(r));
          }
        });
        await victim.kill("SIGKILL");
        release();
        victims.push(victim.nodeId);
        killedAt = Date.now();
        atKill = smtp.messages.length;
        // What the dead node left behind (once the writes it had already sent have landed).
        await new Promise((r) => setTimeout(r, 500));
        held = await db.held(victim.nodeId);
        if (held.some((h) => h.attemptId) || round === 3) break;
        note(`${victim.nodeId} finished its sends before the kill landed; killing a fresh node (round ${round + 1})`);
        victim = await startNodeProcess({
          nodeId: `kill-r${round + 1}`,
          mongoUrl,
          transporter: nats.url,
          smtpPort: smtp.port,
          config: { scheduler: { leaseMs: LEASE_MS, concurrency: CONCURRENCY, batchSize: CONCURRENCY } },
        });
        nodes.push(victim);
        release = smtp.holdAnswersAfter(20);
      }
      const inFlight = held.flatMap((h) => (h.attemptId ? [{ activityId: h.activityId, attemptId: h.attemptId }] : []));
      assert.ok(atKill < COUNT, `all ${COUNT} were sent before the kill: nothing left to take over`);
      assert.ok(held.length > 0, "the victim held no claimed work when it was killed");
      assert.ok(inFlight.length > 0, "the victim had no send in flight when it was killed: the run proves nothing");

      // Its work is taken over once its leases expire (renewed when each send started).
      const takeoverMs = await withNodeOutput(nodes, () =>
        db.waitSettled(
          held.map((h) => h.activityId),
          LEASE_MS + 60_000,
        ),
      );
      await withNodeOutput(nodes, () => db.waitAllSettled(COUNT, 60_000));
      const doneAt = Date.now();
      // As above: once the survivors are down, nothing more can be received.
      await Promise.all(nodes.map((n) => n.stop()));

      const audit = auditDeliveries(await db.activities(), smtp.messages, { killedNodes: victims });
      assert.equal(audit.activities, COUNT);
      assert.deepEqual(audit.problems, [], report(audit, nodes));
      // Nothing twice: one receipt per Message-ID; what was not received is an interrupted send.
      assert.equal(audit.receipts, audit.distinctMessageIds, report(audit, nodes));
      assert.equal(audit.receipts, COUNT - audit.unknown.filter((u) => !u.received).length, report(audit, nodes));
      // Only sends the victims had in flight were left unknown, and never retried anew.
      const interrupted = new Set(inFlight.map((f) => f.attemptId));
      const final = new Map((await db.activities()).map((a) => [a._id, a]));
      for (const u of audit.unknown) {
        assert.ok(victims.includes(u.node ?? ""), JSON.stringify(u));
        assert.equal(final.get(u.activityId)!.attempts.length, 1, JSON.stringify(u));
      }
      assert.ok(
        audit.unknown.length <= CONCURRENCY * victims.length,
        `${audit.unknown.length} unknown: more than the killed nodes could have in flight`,
      );
      for (const f of inFlight) {
        const a = final.get(f.activityId)!;
        assert.equal(a.attempts.length, 1, `activity ${f.activityId} interrupted in flight was attempted again`);
        assert.equal(a.attempts[0]!.id, f.attemptId);
      }
      const unknownInFlight = audit.unknown.filter((u) => interrupted.has(u.attemptId)).length;

      const takeover = (doneAt - killedAt) / 1000;
      note(
        `killed ${victim.nodeId} after ${atKill} receipts holding ${held.length} activities (${inFlight.length} sends in flight), ` +
          `completed by the others ` +
          `${(takeoverMs / 1000).toFixed(1)} s later (lease ${LEASE_MS / 1000} s); all SENT ${takeover.toFixed(1)} s after the kill; ` +
          `receipts ${audit.receipts}, received twice ${audit.repeated.length}, OUTCOME_UNKNOWN ${audit.unknown.length} ` +
          `(${unknownInFlight} seen in flight at the kill, ${audit.unknown.filter((u) => u.received).length} of them received); ` +
          `attempts per node ${JSON.stringify(audit.perNode)}`,
      );
    } finally {
      await db.close();
      await Promise.all(nodes.map((n) => n.stop()));
    }
  });
});
