/**
 * A hub node (a real process, in-process transport) killed with SIGKILL right after it
 * accepted a batch, then a new node on the same database: everything accepted is settled, nothing
 * is received twice, and the attempts the dead node had in flight are OUTCOME_UNKNOWN (email is
 * not idempotent: resending them could reach the customer twice).
 */
import { describe, test, beforeAll, afterAll } from "@jest/globals";
import assert from "node:assert/strict";
import { freshDatabaseUrl } from "../support/mongo.ts";
import { startNodeProcess, type HubNodeProcess } from "../support/node-process.ts";
import { auditDeliveries, openActivityReader } from "../support/delivery-audit.ts";
import { startSmtpServer, type LocalSmtpServer } from "../vendors/smtp-server.ts";

/** A figure of the run, in the test output (what node:test called a diagnostic). */
function note(line: string): void {
  process.stdout.write(`[crash-restart.test.ts] ${line}\n`);
}

const COUNT = 500;
const LEASE_MS = 6000;
const CONCURRENCY = 32;

describe("a hub killed with SIGKILL and restarted", () => {
  let smtp: LocalSmtpServer;
  beforeAll(async () => {
    smtp = await startSmtpServer();
  });
  afterAll(async () => {
    await smtp?.stop();
  });

  test("sends every activity it had accepted (202) at most once, after a kill during dispatch", async () => {
    const mongoUrl = freshDatabaseUrl("crash_restart");
    const config = { scheduler: { leaseMs: LEASE_MS, concurrency: CONCURRENCY, batchSize: CONCURRENCY } };
    const nodes: HubNodeProcess[] = [];
    const db = await openActivityReader(mongoUrl);
    try {
      const first = await startNodeProcess({ nodeId: "crash-1", mongoUrl, smtpPort: smtp.port, config });
      nodes.push(first);
      const res = await first.api("POST", "/api/v1/activities", {
        activities: Array.from({ length: COUNT }, (_, i) => ({
          customer: { id: `cr-${i}`, firstName: `C${i}`, email: `cr-${i}@example.com`, timezone: "UTC" },
          channel: "email",
          content: { subject: "Hello {{firstName}}", text: `message ${i}` },
          idempotencyKey: `cr-${i}`,
        })),
      });
      assert.equal(res.status, 202, res.text.slice(0, 2000));
      const accepted = (res.body as { activities: { id: string }[] }).activities.map((a) => a.id);
      assert.equal(new Set(accepted).size, COUNT);

      // Due now: the node starts dispatching at its next poll. Kill it while it has sends in
      // flight: after 50 messages the SMTP server holds its answers, so the node's next sends wait.
      const release = smtp.holdAnswersAfter(50);
      const deadline = Date.now() + 20_000;
      while (!(await db.held("crash-1")).some((h) => h.attemptId) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      await first.kill("SIGKILL");
      release();
      // What the dead node left behind (once the writes it had already sent have landed): the
      // activities it had claimed, some with a send in flight.
      await new Promise((r) => setTimeout(r, 500));
      const held = await db.held("crash-1");
      const inFlight = held.flatMap((h) => (h.attemptId ? [{ activityId: h.activityId, attemptId: h.attemptId }] : []));
      const atKill = smtp.messages.length;
      const counts = await db.statusCounts();
      assert.ok(atKill < COUNT, `all ${COUNT} were sent before the kill: nothing left for the restart`);
      assert.ok(inFlight.length > 0, "the node had no send in flight when it was killed: the run proves nothing");

      const restartedAt = Date.now();
      const second = await startNodeProcess({ nodeId: "crash-2", mongoUrl, smtpPort: smtp.port, config });
      nodes.push(second);
      try {
        await db.waitAllSettled(COUNT, LEASE_MS + 60_000);
      } catch (err) {
        throw new Error(`${(err as Error).message}\n--- crash-2 ---\n${second.tail(20)}`, { cause: err });
      }
      const doneAt = Date.now();
      // Once the restarted node is down (a graceful stop ends its sends), nothing more can arrive.
      await second.stop();

      const activities = await db.activities();
      assert.deepEqual(
        activities.map((a) => a._id).sort(),
        [...accepted].sort(),
        "the database holds exactly what was accepted",
      );
      const audit = auditDeliveries(activities, smtp.messages, { killedNodes: ["crash-1"] });
      const summary = `receipts ${audit.receipts}, distinct ${audit.distinctMessageIds}, per node ${JSON.stringify(audit.perNode)}\n${audit.problems.join("\n")}`;
      assert.deepEqual(audit.problems, [], summary);
      assert.equal(audit.receipts, audit.distinctMessageIds, summary);
      assert.equal(audit.receipts, COUNT - audit.unknown.filter((u) => !u.received).length, summary);
      assert.ok(audit.unknown.length <= CONCURRENCY, summary);
      // Sends interrupted by the kill were not attempted again.
      assert.ok(held.length > 0, "the node held no claimed work when it was killed");
      const byId = new Map(activities.map((a) => [a._id, a]));
      for (const f of inFlight) {
        assert.deepEqual(
          byId.get(f.activityId)!.attempts.map((x) => x.id),
          [f.attemptId],
          `activity ${f.activityId} interrupted in flight`,
        );
      }

      note(
        `killed after ${atKill} receipts holding ${held.length} activities, ${inFlight.length} with a send in flight ` +
          `(statuses then ${JSON.stringify(counts)}); ` +
          `the restarted node sent the rest in ` +
          `${((doneAt - restartedAt) / 1000).toFixed(1)} s; OUTCOME_UNKNOWN ${audit.unknown.length} ` +
          `(${audit.unknown.filter((u) => u.received).length} of them had been received); received twice ${audit.repeated.length}; ` +
          `attempts per node ${JSON.stringify(audit.perNode)}`,
      );
    } finally {
      await db.close();
      await Promise.all(nodes.map((n) => n.stop()));
    }
  });
});
