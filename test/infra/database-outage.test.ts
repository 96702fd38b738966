/**
 * The database going away under a running hub: the API answers 503 with Retry-After (not a 500,
 * not a hang), /health says so, and when the database is back the API and dispatch resume by
 * themselves, sending what was accepted before the outage.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, test } from "@jest/globals";
import { startFerretDb, type RunningService } from "../../core/infra/processes.ts";
import { startSmtpServer, type LocalSmtpServer } from "../vendors/smtp-server.ts";
import { eventually, startTestHub, TEST_KEYS, type TestHub } from "../support/hub.ts";

describe("a database outage under a running hub", () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), "dialmesh-outage-db-"));
  let db: RunningService;
  let hub: TestHub;
  let smtp: LocalSmtpServer;

  beforeAll(async () => {
    db = await startFerretDb({ dataDir });
    smtp = await startSmtpServer();
    hub = await startTestHub(
      {
        plugins: [
          { id: "mail", use: "email-smtp", options: { host: "127.0.0.1", port: smtp.port, from: "a@example.com" } },
        ],
      },
      { mongoUrl: `${db.url}/outage` },
    );
  });
  afterAll(async () => {
    await hub?.stop();
    await db?.stop();
    await smtp?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("503 with Retry-After while it is away; everything resumes when it is back", async () => {
    const dueAt = new Date(Date.now() + 5_000).toISOString();
    const accepted = await hub.api("POST", "/api/v1/activities", {
      customer: { id: "o-1", email: "outage@example.com" },
      channel: "email",
      content: { text: "sent after the outage" },
      idempotencyKey: "outage-1",
      dueAt,
    });
    assert.equal(accepted.status, 202, accepted.text);
    const id = (accepted.body as { id: string }).id;

    await db.stop(); // SIGTERM, SIGKILL after 5 s
    const refused = await eventually(
      async () => {
        const res = await fetch(`${hub.apiUrl}/api/v1/activities/${id}`, {
          headers: { Authorization: `Bearer ${TEST_KEYS.admin}` },
        });
        return res.status === 503 ? res : undefined;
      },
      20_000,
      "a 503 while the database is away",
    );
    assert.equal(refused.headers.get("retry-after"), "2");
    const body = JSON.parse(await refused.text()) as { error: string };
    assert.equal(body.error, "ServiceUnavailable");
    const post = await hub.api("POST", "/api/v1/activities", {
      customer: { id: "o-2", email: "o2@example.com" },
      channel: "email",
      content: { text: "x" },
    });
    assert.equal(post.status, 503, post.text);
    const health = await fetch(`${hub.apiUrl}/health`);
    assert.equal(health.status, 503);

    db = await startFerretDb({ dataDir, port: db.port });
    await eventually(
      async () => (await hub.api("GET", `/api/v1/activities/${id}`)).status === 200,
      30_000,
      "the API back",
    );
    await eventually(
      async () => smtp.messages.some((m) => m.envelope.rcptTo.includes("outage@example.com")),
      30_000,
      "the activity accepted before the outage sent",
    );
  });
});
