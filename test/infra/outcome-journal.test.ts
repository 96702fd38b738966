/**
 * The database killed (SIGKILL) after the SMTP server accepted a message and before the hub
 * recorded it. Without the journal that attempt is DISPATCHING with nobody knowing the message
 * went out: resending it reaches the customer twice, failing it is wrong. With it: the answer
 * is recorded once the database is back, by the same process, or, when the hub itself was
 * killed meanwhile, by the next process on the same data directory, before it dispatches.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, test } from "@jest/globals";
import { startFerretDb, type RunningService } from "../../core/infra/processes.ts";
import type { JournaledOutcome } from "../../core/store/outcome-journal.ts";
import { auditDeliveries, openActivityReader } from "../support/delivery-audit.ts";
import { eventually, startTestHub } from "../support/hub.ts";
import { startNodeProcess, type HubNodeProcess } from "../support/node-process.ts";
import { startSmtpServer, type LocalSmtpServer } from "../vendors/smtp-server.ts";

const COUNT = 12;

function note(line: string): void {
  process.stdout.write(`[outcome-journal.test.ts] ${line}\n`);
}

function emails(label: string): { activities: unknown[] } {
  return {
    activities: Array.from({ length: COUNT }, (_, i) => ({
      customer: { id: `${label}-${i}`, email: `${label}-${i}@example.com`, timezone: "UTC" },
      channel: "email",
      content: { subject: "Statement", text: `message ${i}` },
      idempotencyKey: `${label}-${i}`,
    })),
  };
}

/** The entries in a hub data directory's journal files. */
function journaled(dataDir: string): JournaledOutcome[] {
  const dir = path.join(dataDir, "journal");
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((name) =>
    readFileSync(path.join(dir, name), "utf8")
      .split("\n")
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as JournaledOutcome),
  );
}

/** Kills the database with SIGKILL while the SMTP server holds its answer to the `nth` message. */
function killDatabaseOnMessage(smtp: LocalSmtpServer, db: () => RunningService, nth: number): { killed: boolean } {
  const state = { killed: false };
  smtp.beforeAccepting(async () => {
    if (state.killed || smtp.messages.length < nth) return;
    state.killed = true;
    const child = db().process;
    const exited = once(child, "exit");
    child.kill("SIGKILL");
    await exited;
  });
  return state;
}

type Api = (method: string, url: string, body?: unknown) => Promise<{ status: number; text: string }>;

/**
 * Posts the emails, kills the database when the SMTP server holds its answer to the 3rd one,
 * and waits until the hub has journaled at least one answer; returns what it journaled.
 */
async function crashMidSend(
  api: Api,
  smtp: LocalSmtpServer,
  db: () => RunningService,
  hubDir: string,
  label: string,
): Promise<JournaledOutcome[]> {
  const crash = killDatabaseOnMessage(smtp, db, 3);
  const res = await api("POST", "/api/v1/activities", emails(label));
  assert.equal(res.status, 202, res.text);
  await eventually(async () => crash.killed, 60_000, "the database killed mid-send");
  return eventually(async () => journaled(hubDir).length > 0 && journaled(hubDir), 30_000, "a journal entry");
}

describe("vendor answers journaled across a database crash", () => {
  const dirs: string[] = [];
  const tempDir = (label: string) => {
    const dir = mkdtempSync(path.join(tmpdir(), `dialmesh-journal-${label}-`));
    dirs.push(dir);
    return dir;
  };
  let smtp: LocalSmtpServer;
  const services: RunningService[] = [];
  beforeAll(async () => {
    smtp = await startSmtpServer();
  });
  afterAll(async () => {
    await smtp?.stop();
    await Promise.all(services.map((s) => s.stop()));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test("the database killed mid-send: the answers are recorded when it is back; nothing is sent twice", async () => {
    smtp.reset();
    const dbDir = tempDir("db");
    const hubDir = tempDir("hub");
    let db = await startFerretDb({ dataDir: dbDir });
    services.push(db);
    const mongoUrl = `${db.url}/journal_inprocess`;
    const hub = await startTestHub(
      {
        dataDir: hubDir,
        plugins: [
          { id: "mail", use: "email-smtp", options: { host: "127.0.0.1", port: smtp.port, from: "a@example.com" } },
        ],
        scheduler: { concurrency: 4, batchSize: 4 },
      },
      { mongoUrl },
    );
    try {
      const kept = await crashMidSend(hub.api, smtp, () => db, hubDir, "jin");
      smtp.beforeAccepting(undefined);

      db = await startFerretDb({ dataDir: dbDir, port: db.port });
      services.push(db);
      const reader = await eventually(async () => openActivityReader(mongoUrl), 30_000, "the database back");
      try {
        await reader.waitAllSettled(COUNT, 60_000);
        const audit = auditDeliveries(await reader.activities(), smtp.messages);
        assert.deepEqual(audit.problems, [], JSON.stringify(audit));
        assert.equal(audit.receipts, COUNT);
        assert.equal(audit.distinctMessageIds, COUNT);
        await eventually(async () => journaled(hubDir).length === 0, 10_000, "the journal emptied");
        note(
          `database killed at the 3rd receipt; ${kept.length} answer(s) journaled, recorded after the restart; receipts ${audit.receipts} for ${COUNT}`,
        );
      } finally {
        await reader.close();
      }
    } finally {
      smtp.beforeAccepting(undefined);
      await hub.stop();
    }
  });

  test("the hub killed too while the database is away: the next process replays the journal before it dispatches", async () => {
    smtp.reset();
    const dbDir = tempDir("db2");
    const hubDir = tempDir("hub2");
    let db = await startFerretDb({ dataDir: dbDir });
    services.push(db);
    const mongoUrl = `${db.url}/journal_process`;
    const config = { dataDir: hubDir, scheduler: { concurrency: 4, batchSize: 4 } };
    const nodes: HubNodeProcess[] = [];
    try {
      const first = await startNodeProcess({ nodeId: "journal-1", mongoUrl, smtpPort: smtp.port, config });
      nodes.push(first);
      const kept = await crashMidSend(first.api, smtp, () => db, hubDir, "jpr");
      await first.kill("SIGKILL");
      smtp.beforeAccepting(undefined);
      const keptIds = new Set(journaled(hubDir).map((e) => e.attemptId));

      db = await startFerretDb({ dataDir: dbDir, port: db.port });
      services.push(db);
      const second = await startNodeProcess({ nodeId: "journal-2", mongoUrl, smtpPort: smtp.port, config });
      nodes.push(second);
      const reader = await openActivityReader(mongoUrl);
      try {
        await reader.waitAllSettled(COUNT, 60_000);
        await second.stop();
        const activities = await reader.activities();
        const audit = auditDeliveries(activities, smtp.messages, { killedNodes: ["journal-1"] });
        assert.deepEqual(audit.problems, [], JSON.stringify(audit));
        assert.equal(audit.receipts, audit.distinctMessageIds, "nothing received twice");
        // Every journaled answer was recorded as the vendor gave it, not failed as unknown.
        for (const a of activities) {
          const attempt = a.attempts[0]!;
          if (keptIds.has(attempt.id)) {
            assert.deepEqual(
              a.attempts.map((t) => [t.id, t.status]),
              [[attempt.id, "SENT"]],
              a._id,
            );
          }
        }
        assert.equal(journaled(hubDir).length, 0, "the adopted journal is gone");
        note(
          `hub killed with ${kept.length} journaled answer(s) (${keptIds.size} at the kill); the next process recorded them; ` +
            `receipts ${audit.receipts}, OUTCOME_UNKNOWN ${audit.unknown.length}, received twice ${audit.repeated.length}`,
        );
      } finally {
        await reader.close();
      }
    } finally {
      smtp.beforeAccepting(undefined);
      await Promise.all(nodes.map((n) => n.stop()));
    }
  });
});
