import { describe, test, beforeAll, afterAll } from "@jest/globals";
import assert from "node:assert/strict";
import { startSmtpServer, type LocalSmtpServer } from "../vendors/smtp-server.ts";
import { eventually, startTestHub, type TestHub } from "../support/hub.ts";

interface ActivityBody {
  id: string;
  status: string;
  conversationId: string;
  attempts: { status: string; pluginId: string; vendorId?: string; reasonCode?: string; channel: string }[];
}

describe("email end to end: API -> scheduler -> ccm -> email-smtp -> conversation", () => {
  let smtp: LocalSmtpServer;
  let hub: TestHub;

  beforeAll(async () => {
    smtp = await startSmtpServer();
    hub = await startTestHub({
      plugins: [
        {
          id: "mail",
          use: "email-smtp",
          options: { host: "127.0.0.1", port: smtp.port, secure: false, from: "Campaigns <noreply@example.com>" },
        },
      ],
    });
  });
  afterAll(async () => {
    await hub?.stop();
    await smtp?.stop();
  });

  test("an accepted activity is received by the SMTP server once, and its conversation records it", async () => {
    const res = await hub.api("POST", "/api/v1/activities", {
      customer: { id: "cust-1", firstName: "Ada", email: "Ada@Example.com", timezone: "Europe/London" },
      channel: "email",
      content: { subject: "Hello {{firstName}}", text: "Hi {{firstName}}!" },
      idempotencyKey: "first-1",
    });
    assert.equal(res.status, 202, res.text);
    const { id, status } = res.body as { id: string; status: string };
    assert.equal(status, "SCHEDULED");

    await smtp.waitForMessages(1);
    const mail = smtp.messages[0]!;
    assert.deepEqual(mail.envelope.rcptTo, ["ada@example.com"]);
    assert.match(mail.text ?? "", /Hi Ada!/);
    assert.equal(mail.headers.subject, "Hello Ada");

    const activity = await eventually(
      async () => {
        const r = await hub.api("GET", `/api/v1/activities/${id}`);
        const a = r.body as ActivityBody;
        return a.status === "SENT" ? a : undefined;
      },
      10_000,
      "activity SENT",
    );
    assert.equal(activity.attempts.length, 1);
    assert.equal(activity.attempts[0]!.pluginId, "mail");
    assert.ok(activity.attempts[0]!.vendorId);

    // The timeline event is written just after the attempt's outcome: wait for it, not for a time.
    const timeline = await eventually(
      async () => {
        const conv = await hub.api("GET", `/api/v1/conversations/${activity.conversationId}`, undefined);
        assert.equal(conv.status, 200);
        const events = (conv.body as { timeline: { type: string; status: string }[] }).timeline;
        return events.length > 0 ? events : undefined;
      },
      10_000,
      "the conversation's timeline event",
    );
    assert.deepEqual(
      timeline.map((e) => `${e.type}:${e.status}`),
      ["OUTBOUND:SENT"],
    );

    const list = await hub.api("GET", "/api/v1/conversations?customerId=cust-1");
    assert.equal((list.body as { conversations: unknown[] }).conversations.length, 1);

    // The same idempotency key again: the same id, nothing new sent.
    const again = await hub.api("POST", "/api/v1/activities", {
      customer: { id: "cust-1", firstName: "Ada", email: "Ada@Example.com", timezone: "Europe/London" },
      channel: "email",
      content: { subject: "Hello {{firstName}}", text: "Hi {{firstName}}!" },
      idempotencyKey: "first-1",
    });
    assert.equal(again.status, 202);
    assert.equal((again.body as { id: string }).id, id);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(smtp.messages.length, 1);
  });

  test("activities claimed ahead of their time are each sent once, none before it is due", async () => {
    // Due within the scheduler's claimAheadMs (250 ms): claimed at a poll, sent on a timer.
    const before = smtp.messages.length;
    const base = Date.now() + 400;
    const dueAts = Array.from({ length: 6 }, (_, i) => new Date(base + i * 60).toISOString());
    const res = await hub.api("POST", "/api/v1/activities", {
      activities: dueAts.map((dueAt, i) => ({
        customer: { id: `ahead-${i}`, email: `ahead-${i}@example.com` },
        channel: "email",
        content: { subject: "On time", text: "Hi" },
        dueAt,
      })),
    });
    assert.equal(res.status, 202, res.text);
    const ids = (res.body as { activities: { id: string }[] }).activities.map((a) => a.id);
    const sent = await eventually(
      async () => {
        const all = await Promise.all(ids.map(async (id) => (await hub.api("GET", `/api/v1/activities/${id}`)).body));
        const done = all as (ActivityBody & { dueAt: string; attempts: { dispatchedAt: string }[] })[];
        return done.every((a) => a.status === "SENT") ? done : undefined;
      },
      10_000,
      "the six SENT",
    );
    for (const a of sent) {
      assert.equal(a.attempts.length, 1, `${a.id}: one attempt`);
      assert.ok(
        Date.parse(a.attempts[0]!.dispatchedAt) >= Date.parse(a.dueAt),
        `${a.id} dispatched at ${a.attempts[0]!.dispatchedAt}, due ${a.dueAt}`,
      );
    }
    await smtp.waitForMessages(before + 6);
    const to = smtp.messages.slice(before).flatMap((m) => m.envelope.rcptTo);
    assert.deepEqual(
      to.sort(),
      Array.from({ length: 6 }, (_, i) => `ahead-${i}@example.com`),
    );
  });
});
