import { describe, test, beforeAll, afterAll } from "@jest/globals";
import assert from "node:assert/strict";
import { startSmtpServer, type LocalSmtpServer } from "../vendors/smtp-server.ts";
import { startTestHub, TEST_KEYS, type TestHub } from "../support/hub.ts";

interface ErrorBody {
  error: string;
  message: string;
  details: { path: string; message: string }[];
}

const good = {
  customer: { id: "c-1", firstName: "Ada", email: "ada@example.com" },
  channel: "email",
  content: { subject: "Hi", text: "Hello {{firstName}}" },
};
const later = () => new Date(Date.now() + 3600_000).toISOString();

describe("REST API: validation, authentication, idempotency, cancellation", () => {
  let smtp: LocalSmtpServer;
  let hub: TestHub;
  const count = () => hub.runtime.store.models.Activity.countDocuments();

  beforeAll(async () => {
    smtp = await startSmtpServer();
    hub = await startTestHub({
      api: { maxBatch: 50 },
      plugins: [
        { id: "mail", use: "email-smtp", options: { host: "127.0.0.1", port: smtp.port, from: "noreply@example.com" } },
      ],
      fallbacks: { default: { steps: [{ channel: "email" }] } },
    });
  });
  afterAll(async () => {
    await hub?.stop();
    await smtp?.stop();
  });

  const badCases: { name: string; body: unknown; path: string; pattern?: RegExp }[] = [
    { name: "missing customer", body: { channel: "email", content: { text: "x" } }, path: "/customer" },
    { name: "customer without id", body: { ...good, customer: { email: "a@b.co" } }, path: "/customer/id" },
    {
      name: "unknown channel",
      body: { ...good, channel: "pigeon" },
      path: "/channel",
      pattern: /not carried by any loaded plugin/,
    },
    {
      name: "email channel without email",
      body: { ...good, customer: { id: "x" } },
      path: "/customer/email",
      pattern: /required for channel "email"/,
    },
    {
      name: "malformed email",
      body: { ...good, customer: { id: "x", email: "not-an-email" } },
      path: "/customer/email",
    },
    {
      name: "malformed phone",
      body: { ...good, customer: { id: "x", email: "a@b.co", phone: "12" } },
      path: "/customer/phone",
    },
    {
      name: "unknown time zone",
      body: { ...good, customer: { ...good.customer, timezone: "Mars/Olympus" } },
      path: "/customer/timezone",
    },
    { name: "bad dueAt", body: { ...good, dueAt: "tomorrow" }, path: "/dueAt" },
    {
      name: "expiresAt before dueAt",
      body: { ...good, dueAt: later(), expiresAt: new Date().toISOString() },
      path: "/expiresAt",
    },
    {
      name: "bad window day",
      body: { ...good, window: { days: ["funday"], start: "09:00", end: "17:00" } },
      path: "/window/days/0",
    },
    { name: "bad window time", body: { ...good, window: { start: "9am", end: "17:00" } }, path: "/window/start" },
    { name: "window start after end", body: { ...good, window: { start: "18:00", end: "09:00" } }, path: "/window" },
    { name: "unknown fallback policy", body: { ...good, fallbackPolicy: "nope" }, path: "/fallbackPolicy" },
    { name: "unknown property", body: { ...good, colour: "red" }, path: "/colour" },
    { name: "email without text or html", body: { ...good, content: { subject: "x" } }, path: "/content" },
  ];

  for (const c of badCases) {
    test(`400 for ${c.name}, with a pointer to ${c.path}, and nothing stored`, async () => {
      const before = await count();
      const res = await hub.api("POST", "/api/v1/activities", c.body);
      assert.equal(res.status, 400, res.text);
      const body = res.body as ErrorBody;
      assert.equal(body.error, "ValidationError");
      const hit = body.details.find((d) => d.path === c.path);
      assert.ok(hit, `expected a detail at ${c.path}, got ${JSON.stringify(body.details)}`);
      if (c.pattern) assert.match(hit.message, c.pattern);
      assert.equal(await count(), before);
    });
  }

  test("malformed JSON is a 400 ValidationError", async () => {
    const res = await hub.api("POST", "/api/v1/activities", '{"customer": {"id": "x",');
    assert.equal(res.status, 400);
    assert.equal((res.body as ErrorBody).error, "ValidationError");
    assert.match((res.body as ErrorBody).message, /Malformed JSON/);
  });

  test("a body that is not JSON is a 415; a bare array is a 400 that says what to send", async () => {
    const res = await fetch(`${hub.apiUrl}/api/v1/activities`, {
      method: "POST",
      headers: { Authorization: `Bearer ${TEST_KEYS.admin}`, "Content-Type": "text/plain" },
      body: JSON.stringify(good),
    });
    assert.equal(res.status, 415);
    assert.equal(((await res.json()) as ErrorBody).error, "UnsupportedMediaType");
    const arr = await hub.api("POST", "/api/v1/activities", [good]);
    assert.equal(arr.status, 400);
    assert.match((arr.body as ErrorBody).details[0]!.message, /"activities"/);
    const route = await hub.api("GET", "/api/v1/nothing-here");
    assert.equal(route.status, 404);
    assert.equal((route.body as ErrorBody).error, "NotFound");
  });

  test("a batch with one bad item stores none, and names the item", async () => {
    const before = await count();
    const res = await hub.api("POST", "/api/v1/activities", { activities: [good, { ...good, channel: "fax" }, good] });
    assert.equal(res.status, 400);
    assert.deepEqual(
      (res.body as ErrorBody).details.map((d) => d.path),
      ["/activities/1/channel"],
    );
    assert.equal(await count(), before);
  });

  test("a batch over the limit is refused with 413 and nothing stored", async () => {
    const before = await count();
    const res = await hub.api("POST", "/api/v1/activities", { activities: Array.from({ length: 51 }, () => good) });
    assert.equal(res.status, 413);
    assert.equal(await count(), before);
  });

  test("an empty batch is a 400", async () => {
    const res = await hub.api("POST", "/api/v1/activities", { activities: [] });
    assert.equal(res.status, 400);
  });

  test("401 without or with a wrong key; 403 for a reader writing; health needs none", async () => {
    const none = await fetch(`${hub.apiUrl}/api/v1/activities/act_x`);
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as ErrorBody).error, "Unauthorized");
    const wrong = await hub.api("GET", "/api/v1/plugins", undefined, "wrong-key-0123456789abcdef");
    assert.equal(wrong.status, 401);
    const reader = await hub.api("POST", "/api/v1/activities", good, TEST_KEYS.reader);
    assert.equal(reader.status, 403);
    const writerAdmin = await hub.api("POST", "/api/v1/suppressions", { address: "+14155550100" }, TEST_KEYS.writer);
    assert.equal(writerAdmin.status, 403);
    const health = await fetch(`${hub.apiUrl}/health`);
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { status: string }).status, "ok");
    const metrics = await fetch(`${hub.apiUrl}/metrics`);
    assert.equal(metrics.status, 401);
  });

  test("idempotency: same key returns the same id; same key with another request is 409", async () => {
    const body = { ...good, dueAt: later(), idempotencyKey: "order-42" };
    const a = await hub.api("POST", "/api/v1/activities", body, TEST_KEYS.writer);
    const b = await hub.api("POST", "/api/v1/activities", body, TEST_KEYS.writer);
    assert.equal(a.status, 202);
    assert.equal(b.status, 202);
    assert.equal((a.body as { id: string }).id, (b.body as { id: string }).id);
    const c = await hub.api("POST", "/api/v1/activities", { ...body, content: { text: "other" } }, TEST_KEYS.writer);
    assert.equal(c.status, 409);
    assert.equal(await hub.runtime.store.models.Activity.countDocuments({ idempotencyKey: "order-42" }), 1);
  });

  test("a batch answers one id per item, with duplicates marked", async () => {
    const items = [
      { ...good, dueAt: later(), idempotencyKey: "b-1" },
      { ...good, dueAt: later(), idempotencyKey: "b-2" },
      { ...good, dueAt: later(), idempotencyKey: "b-1" },
    ];
    const res = await hub.api("POST", "/api/v1/activities", { activities: items });
    assert.equal(res.status, 202);
    const out = res.body as { accepted: number; created: number; activities: { id: string; duplicate?: boolean }[] };
    assert.equal(out.accepted, 3);
    assert.equal(out.created, 2);
    assert.equal(out.activities[0]!.id, out.activities[2]!.id);
    assert.equal(out.activities[2]!.duplicate, true);
  });

  test("cancel before dispatch; 409 once dispatched; 404 for an unknown id", async () => {
    const scheduled = await hub.api("POST", "/api/v1/activities", { ...good, dueAt: later() });
    const id = (scheduled.body as { id: string }).id;
    const cancel = await hub.api("DELETE", `/api/v1/activities/${id}`, undefined, TEST_KEYS.writer);
    assert.equal(cancel.status, 200);
    assert.equal((cancel.body as { status: string }).status, "CANCELLED");

    const now = await hub.api("POST", "/api/v1/activities", good);
    const sentId = (now.body as { id: string }).id;
    for (let i = 0; i < 100; i++) {
      const a = await hub.api("GET", `/api/v1/activities/${sentId}`);
      if ((a.body as { status: string }).status === "SENT") break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const late = await hub.api("DELETE", `/api/v1/activities/${sentId}`);
    assert.equal(late.status, 409);
    assert.equal((await hub.api("GET", "/api/v1/activities/act_unknown")).status, 404);
  });

  test("suppressed addresses are BLOCKED with the reason, never sent", async () => {
    const add = await hub.api("POST", "/api/v1/suppressions", {
      address: "Blocked@Example.com",
      reason: "GDPR objection",
    });
    assert.equal(add.status, 201);
    const before = smtp.messages.length;
    const res = await hub.api("POST", "/api/v1/activities", {
      ...good,
      customer: { id: "c-b", email: "blocked@example.com" },
    });
    const id = (res.body as { id: string }).id;
    let activity: { status: string; attempts: { status: string; reason?: string; reasonCode?: string }[] } | undefined;
    for (let i = 0; i < 100; i++) {
      activity = (await hub.api("GET", `/api/v1/activities/${id}`)).body as typeof activity;
      if (activity!.status === "BLOCKED") break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(activity!.status, "BLOCKED");
    assert.equal(activity!.attempts[0]!.reasonCode, "SUPPRESSED");
    assert.match(activity!.attempts[0]!.reason ?? "", /GDPR objection/);
    assert.equal(smtp.messages.length, before);
  });

  test("plugins list shows health, and options without secrets", async () => {
    const res = await hub.api("GET", "/api/v1/plugins", undefined, TEST_KEYS.reader);
    assert.equal(res.status, 200);
    const inst = (res.body as { instances: { id: string; state: string; health: { ok: boolean } }[] }).instances;
    assert.equal(inst[0]!.id, "mail");
    assert.equal(inst[0]!.state, "ready");
  });
});
