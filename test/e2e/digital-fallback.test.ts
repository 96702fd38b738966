/**
 * A fallback chain across channels, end to end with short durations: WhatsApp (Cloud API),
 * then SMS (Twilio) if the WhatsApp message is not READ within 2 s, then email (SMTP) if the
 * SMS fails. Vendor events arrive as the vendors send them, signed, through the hub.
 */
import assert from "node:assert/strict";
import { describe, test, beforeAll, afterAll } from "@jest/globals";
import { GRAPH_ERRORS, startGraphServer, type GraphTestServer } from "../vendors/graph-server.ts";
import { startSmtpServer, type LocalSmtpServer } from "../vendors/smtp-server.ts";
import { startTwilioServer, type TwilioTestServer } from "../vendors/twilio-server.ts";
import { eventually, startTestHub, type TestHub } from "../support/hub.ts";
import { deliver, getActivity, schedule, sleep, timeline, waitForActivity, webhookUrl } from "./digital-helpers.ts";

const DEADLINE_MS = 2000;

describe("fallback chain wa-sms-email: WhatsApp, SMS unless READ within PT2S, then email", () => {
  let twilio: TwilioTestServer;
  let graph: GraphTestServer;
  let smtp: LocalSmtpServer;
  let hub: TestHub;

  beforeAll(async () => {
    twilio = await startTwilioServer();
    graph = await startGraphServer();
    smtp = await startSmtpServer();
    hub = await startTestHub({
      plugins: [
        {
          id: "wa",
          use: "whatsapp-cloud",
          options: graph.pluginOptions({ defaultTemplate: { name: "order_update", language: "en_US" } }),
        },
        {
          id: "tw",
          use: "sms-twilio",
          channels: ["sms"],
          options: twilio.pluginOptions({ from: "+15005550006", maxPerSecond: 100 }),
        },
        {
          id: "mail",
          use: "email-smtp",
          options: { host: "127.0.0.1", port: smtp.port, secure: false, from: "Orders <orders@example.com>" },
        },
      ],
      fallbacks: {
        "wa-sms-email": {
          steps: [{ channel: "whatsapp" }, { channel: "sms", after: "PT2S", unless: "READ" }, { channel: "email" }],
        },
        // The same chain with a deadline no test waits for: a step taken at all did not wait for it.
        "wa-sms-email-late": {
          steps: [{ channel: "whatsapp" }, { channel: "sms", after: "PT1H", unless: "READ" }, { channel: "email" }],
        },
      },
    });
  });
  afterAll(async () => {
    await hub?.stop();
    await smtp?.stop();
    await graph?.stop();
    await twilio?.stop();
  });

  const activity = (id: string, phone: string, email: string) => ({
    customer: { id, firstName: "Grace", phone, email },
    channel: "whatsapp",
    fallbackPolicy: "wa-sms-email",
    content: { subject: "Your order", text: "Hi {{firstName}}, your order is ready." },
  });

  test("case A: delivered but not READ within 2 s -> SMS; the SMS fails permanently -> email", async () => {
    const phone = "+14155550160";
    const id = await schedule(hub, activity("fb-a", phone, "grace@example.com"));

    // Step 0: WhatsApp (a template: the customer never wrote, the 24-hour window is closed).
    const queued = await waitForActivity(hub, id, (a) => a.status === "QUEUED", "WhatsApp QUEUED");
    assert.equal(graph.messages.length, 1);
    const wa = graph.messages[0]!;
    assert.equal(wa.to, "14155550160");
    assert.equal(wa.type, "template");
    assert.equal(queued.attempts[0]!.vendorId, wa.id);
    const waStatuses = graph.statusWebhook(webhookUrl("wa"), [
      { id: wa.id, status: "sent" },
      { id: wa.id, status: "delivered" },
    ]);
    assert.equal((await deliver(hub, waStatuses)).status, 200);
    // Applied at once, or (the activity busy on a loaded machine) by its next claim.
    await waitForActivity(hub, id, (a) => a.attempts[0]?.status === "DELIVERED", "WhatsApp DELIVERED");

    // Step 1: SMS, once the deadline passes without READ.
    const smsQueued = await waitForActivity(
      hub,
      id,
      (a) => a.attempts.length === 2 && a.attempts[1]!.status === "QUEUED",
      "the SMS step",
    );
    assert.equal(twilio.messages.length, 1);
    const sms = twilio.messages[0]!;
    assert.equal(sms.to, phone);
    assert.equal(sms.body, "Hi Grace, your order is ready.");
    assert.ok(
      sms.receivedAt - wa.receivedAt >= DEADLINE_MS - 100,
      `SMS ${sms.receivedAt - wa.receivedAt} ms after WhatsApp`,
    );
    assert.deepEqual(
      smsQueued.attempts.map((a) => [a.step, a.channel, a.pluginId, a.status]),
      [
        [0, "whatsapp", "wa", "DELIVERED"],
        [1, "sms", "tw", "QUEUED"],
      ],
    );
    // A READ after the SMS went out updates the WhatsApp attempt only: the activity follows its
    // latest attempt, and what was sent stays sent.
    assert.equal(
      (await deliver(hub, graph.statusWebhook(webhookUrl("wa"), [{ id: wa.id, status: "read" }]))).status,
      200,
    );
    const lateRead = await waitForActivity(hub, id, (a) => a.attempts[0]?.status === "READ", "the late READ");
    assert.deepEqual(
      [lateRead.status, lateRead.attempts[0]!.status, lateRead.attempts[1]!.status],
      ["QUEUED", "READ", "QUEUED"],
    );
    assert.equal(smtp.messages.length, 0);

    // The SMS fails permanently (landline): step 2, email.
    const undelivered = twilio.statusCallback(webhookUrl("tw"), sms.sid, "undelivered", { errorCode: 30006 });
    assert.equal((await deliver(hub, undelivered)).status, 200);
    await smtp.waitForMessages(1);
    assert.deepEqual(smtp.messages[0]!.envelope.rcptTo, ["grace@example.com"]);
    assert.equal(smtp.messages[0]!.headers.subject, "Your order");
    const done = await waitForActivity(hub, id, (a) => a.attempts.length === 3 && a.status === "SENT", "email SENT");
    assert.deepEqual(
      done.attempts.map((a) => [a.step, a.channel, a.pluginId, a.status, a.reasonCode ?? null]),
      [
        [0, "whatsapp", "wa", "READ", null],
        [1, "sms", "tw", "FAILED", "30006"],
        [2, "email", "mail", "SENT", null],
      ],
    );
    assert.equal(done.nextRunAt, null, "the chain is finished");

    // The email's timeline event follows its outcome: wait until all seven are there.
    const events = await eventually(
      async () => {
        const t = await timeline(hub, done.conversationId);
        return t.length >= 7 ? t : undefined;
      },
      10_000,
      "the seven timeline events",
    );
    const byChannel = (channel: string) =>
      events
        .filter((e) => e.channel === channel)
        .map((e) => `${e.type}:${e.status}`)
        .sort();
    assert.deepEqual(byChannel("whatsapp"), ["OUTBOUND:QUEUED", "STATUS:DELIVERED", "STATUS:READ", "STATUS:SENT"]);
    assert.deepEqual(byChannel("sms"), ["OUTBOUND:QUEUED", "STATUS:FAILED"]);
    assert.deepEqual(byChannel("email"), ["OUTBOUND:SENT"]);
    assert.equal(events.length, 7);

    await sleep(300);
    assert.deepEqual(
      [graph.messages.length, twilio.messages.length, smtp.messages.length],
      [1, 1, 1],
      "one message per step",
    );
  });

  test("case B: WhatsApp READ within 2 s -> no SMS, no email", async () => {
    const phone = "+14155550161";
    const graphBefore = graph.messages.length;
    const twilioBefore = twilio.messages.length;
    const smtpBefore = smtp.messages.length;
    const id = await schedule(hub, activity("fb-b", phone, "ada@example.com"));
    await waitForActivity(hub, id, (a) => a.status === "QUEUED", "WhatsApp QUEUED");
    const wa = graph.messages[graphBefore]!;
    // Read at once: Meta may skip `delivered`.
    const read = graph.statusWebhook(webhookUrl("wa"), [
      { id: wa.id, status: "sent" },
      { id: wa.id, status: "read" },
    ]);
    assert.equal((await deliver(hub, read)).status, 200);
    await waitForActivity(hub, id, (a) => a.status === "READ", "READ");

    // Past the deadline, the scheduler looks again and finds nothing to do.
    const settled = await waitForActivity(hub, id, (a) => a.nextRunAt === null, "the chain settled", 5000);
    await sleep(DEADLINE_MS / 2);
    const final = await getActivity(hub, id);
    assert.equal(final.status, "READ");
    assert.deepEqual(
      final.attempts.map((a) => [a.channel, a.status]),
      [["whatsapp", "READ"]],
    );
    assert.equal(settled.attempts.length, 1);
    assert.equal(twilio.messages.length, twilioBefore, "no SMS");
    assert.equal(smtp.messages.length, smtpBefore, "no email");
    assert.equal(graph.messages.length, graphBefore + 1);
  });

  test("case C: WhatsApp refused at send -> SMS at once, without waiting for the deadline; SMS delivered -> no email", async () => {
    const phone = "+14155550162";
    const twilioBefore = twilio.messages.length;
    const smtpBefore = smtp.messages.length;
    graph.failNext(GRAPH_ERRORS.undeliverable());
    const id = await schedule(hub, {
      ...activity("fb-c", phone, "linus@example.com"),
      fallbackPolicy: "wa-sms-email-late",
    });
    const smsQueued = await waitForActivity(
      hub,
      id,
      (a) => a.attempts.length === 2 && a.attempts[1]!.status === "QUEUED",
      "the SMS step",
    );
    // Its deadline is an hour away: the SMS step was taken because WhatsApp failed, not on time.
    assert.equal(smsQueued.attempts[0]!.status, "FAILED");
    assert.equal(smsQueued.attempts[0]!.retryable, false);
    const sms = twilio.messages[twilioBefore]!;
    assert.equal(sms.to, phone);
    assert.equal((await deliver(hub, twilio.statusCallback(webhookUrl("tw"), sms.sid, "delivered"))).status, 200);
    const delivered = await waitForActivity(hub, id, (a) => a.status === "DELIVERED", "SMS DELIVERED");
    await sleep(500);
    assert.equal((await getActivity(hub, id)).attempts.length, 2);
    assert.equal(delivered.attempts[1]!.channel, "sms");
    assert.equal(smtp.messages.length, smtpBefore, "no email after a delivered SMS");
  });
});
