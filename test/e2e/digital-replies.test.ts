/**
 * Customer replies through the hub: signed inbound SMS (Twilio) and WhatsApp (Cloud API)
 * become REPLIED events on the right conversation (normalised phone + channel) and signed
 * `conversation.reply` webhooks to subscribers. Also Meta's GET verification handshake.
 */
import assert from "node:assert/strict";
import { describe, test, beforeAll, afterAll } from "@jest/globals";
import { verifySignature } from "../../core/webhooks/signature.ts";
import { startGraphServer, type GraphTestServer } from "../vendors/graph-server.ts";
import { startTwilioServer, type TwilioTestServer } from "../vendors/twilio-server.ts";
import { startReceiver, type Receiver } from "../webhooks/receiver.ts";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { deliver, getActivity, schedule, sleep, timeline, waitForActivity, webhookUrl } from "./digital-helpers.ts";

const SECRET = "reply-subscriber-secret-0123456789";

interface Delivery {
  id: string;
  event: string;
  occurredAt: string;
  data: Record<string, unknown>;
}

describe("replies through the hub: REPLIED on the right conversation, conversation.reply to subscribers", () => {
  let twilio: TwilioTestServer;
  let graph: GraphTestServer;
  let receiver: Receiver;
  let hub: TestHub;

  /** Deliveries received so far, each checked against X-Dialmesh-Signature. */
  function deliveries(): Delivery[] {
    return receiver.requests.map((r) => {
      assert.ok(verifySignature(SECRET, r.rawBody, r.headers["x-dialmesh-signature"]), "X-Dialmesh-Signature verifies");
      return JSON.parse(r.rawBody.toString("utf8")) as Delivery;
    });
  }

  beforeAll(async () => {
    twilio = await startTwilioServer();
    graph = await startGraphServer();
    receiver = await startReceiver();
    hub = await startTestHub({
      plugins: [
        {
          id: "tw",
          use: "sms-twilio",
          channels: ["sms"],
          options: twilio.pluginOptions({ from: "+15005550006", maxPerSecond: 100 }),
        },
        {
          id: "wa",
          use: "whatsapp-cloud",
          options: graph.pluginOptions({ defaultTemplate: { name: "hello", language: "en_US" } }),
        },
      ],
    });
    const sub = await hub.api("POST", "/api/v1/webhooks", {
      url: receiver.url,
      events: ["conversation.reply"],
      secret: SECRET,
    });
    assert.equal(sub.status, 201, sub.text);
  });
  afterAll(async () => {
    await hub?.stop();
    await receiver?.close();
    await graph?.stop();
    await twilio?.stop();
  });

  test("an inbound SMS lands on the latest SMS conversation of that number, once, and is sent to subscribers", async () => {
    // Same person, written to on SMS twice and on WhatsApp once; another person on SMS.
    const phone = "+1 415-555-0123";
    const older = await schedule(hub, {
      customer: { id: "rp-1", phone },
      channel: "sms",
      content: { text: "first" },
      campaignId: "spring",
    });
    await waitForActivity(hub, older, (a) => a.status === "QUEUED", "older sms QUEUED");
    const latest = await schedule(hub, {
      customer: { id: "rp-1", phone: "+1 (415) 555 0123" },
      channel: "sms",
      content: { text: "second" },
      campaignId: "summer",
    });
    const latestSms = await waitForActivity(hub, latest, (a) => a.status === "QUEUED", "latest sms QUEUED");
    const wa = await schedule(hub, {
      customer: { id: "rp-1", phone },
      channel: "whatsapp",
      content: { text: "wa" },
      campaignId: "autumn",
    });
    const waActivity = await waitForActivity(hub, wa, (a) => a.status === "QUEUED", "whatsapp QUEUED");
    const other = await schedule(hub, {
      customer: { id: "rp-2", phone: "+14155550124" },
      channel: "sms",
      content: { text: "other" },
    });
    const otherActivity = await waitForActivity(hub, other, (a) => a.status === "QUEUED", "other sms QUEUED");

    // A late status callback of the older message must not make it "the latest" conversation.
    const olderSid = (await getActivity(hub, older)).attempts[0]!.vendorId!;
    assert.equal((await deliver(hub, twilio.statusCallback(webhookUrl("tw"), olderSid, "delivered"))).status, 200);
    assert.equal((await getActivity(hub, older)).status, "DELIVERED");

    const inbound = twilio.inboundMessage(webhookUrl("tw"), "+14155550123", "Yes, Tuesday works");
    const res = await deliver(hub, inbound);
    assert.equal(res.status, 200, res.body);
    assert.match(res.body, /<Response\/>/, "empty TwiML: no auto-reply");
    // Twilio retries a webhook it thinks failed: the same MessageSid again changes nothing.
    assert.equal((await deliver(hub, inbound)).status, 200);

    const events = await timeline(hub, latestSms.conversationId);
    const replies = events.filter((e) => e.type === "REPLIED");
    assert.equal(replies.length, 1);
    assert.equal(replies[0]!.text, "Yes, Tuesday works");
    assert.equal(replies[0]!.channel, "sms");
    assert.equal(replies[0]!.address, "+14155550123");
    assert.equal(replies[0]!.activityId, latest);
    assert.equal(replies[0]!.pluginId, "tw");
    for (const conv of [
      (await getActivity(hub, older)).conversationId,
      waActivity.conversationId,
      otherActivity.conversationId,
    ]) {
      assert.equal((await timeline(hub, conv)).filter((e) => e.type === "REPLIED").length, 0, `no reply on ${conv}`);
    }

    await receiver.waitFor(1);
    await sleep(200);
    const got = deliveries();
    assert.equal(got.length, 1, "one notification for a repeated callback");
    assert.equal(got[0]!.event, "conversation.reply");
    assert.equal(receiver.requests[0]!.headers["x-dialmesh-event"], "conversation.reply");
    assert.deepEqual(
      {
        conversationId: got[0]!.data.conversationId,
        customerId: got[0]!.data.customerId,
        activityId: got[0]!.data.activityId,
        campaignId: got[0]!.data.campaignId,
        channel: got[0]!.data.channel,
        from: got[0]!.data.from,
        text: got[0]!.data.text,
      },
      {
        conversationId: latestSms.conversationId,
        customerId: "rp-1",
        activityId: latest,
        campaignId: "summer",
        channel: "sms",
        from: "+14155550123",
        text: "Yes, Tuesday works",
      },
    );
  });

  test("a WhatsApp Cloud reply lands on the WhatsApp conversation of that number and is sent to subscribers", async () => {
    const before = receiver.requests.length;
    const id = await schedule(hub, {
      customer: { id: "rp-3", phone: "+34 612 34 56 78" },
      channel: "whatsapp",
      content: { text: "Hola" },
    });
    const activity = await waitForActivity(hub, id, (a) => a.status === "QUEUED", "whatsapp QUEUED");
    const sms = await schedule(hub, {
      customer: { id: "rp-3", phone: "+34612345678" },
      channel: "sms",
      content: { text: "Hola" },
    });
    const smsActivity = await waitForActivity(hub, sms, (a) => a.status === "QUEUED", "sms QUEUED");

    const inbound = graph.messageWebhook(webhookUrl("wa"), [
      { from: "34612345678", text: "¿Puedo cambiar la cita?", profileName: "Lucía" },
    ]);
    const res = await deliver(hub, inbound);
    assert.equal(res.status, 200, res.body);
    assert.equal((await deliver(hub, inbound)).status, 200);

    const replies = (await timeline(hub, activity.conversationId)).filter((e) => e.type === "REPLIED");
    assert.equal(replies.length, 1);
    assert.deepEqual(
      [replies[0]!.channel, replies[0]!.address, replies[0]!.text, replies[0]!.pluginId],
      ["whatsapp", "+34612345678", "¿Puedo cambiar la cita?", "wa"],
    );
    assert.equal((await timeline(hub, smsActivity.conversationId)).filter((e) => e.type === "REPLIED").length, 0);

    await receiver.waitFor(before + 1);
    await sleep(200);
    const got = deliveries().slice(before);
    assert.equal(got.length, 1);
    assert.equal(got[0]!.event, "conversation.reply");
    assert.equal(got[0]!.data.conversationId, activity.conversationId);
    assert.equal(got[0]!.data.channel, "whatsapp");
    assert.equal(got[0]!.data.from, "+34612345678");

    // A forged WhatsApp webhook is refused and records nothing.
    const forged = graph.messageWebhook(webhookUrl("wa"), [{ from: "34612345678", text: "forged" }], {
      appSecret: "not-the-secret",
    });
    assert.equal((await deliver(hub, forged)).status, 403);
    assert.equal((await timeline(hub, activity.conversationId)).filter((e) => e.type === "REPLIED").length, 1);
  });

  test("a reply from a number nobody wrote to gets its own inbound conversation", async () => {
    const before = receiver.requests.length;
    const res = await deliver(hub, twilio.inboundMessage(webhookUrl("tw"), "+14155550177", "who is this?"));
    assert.equal(res.status, 200);
    await receiver.waitFor(before + 1);
    const got = deliveries().at(-1)!;
    assert.equal(got.data.from, "+14155550177");
    assert.equal(got.data.customerId, undefined);
    const events = await timeline(hub, String(got.data.conversationId));
    assert.deepEqual(
      events.map((e) => `${e.type}:${e.text}`),
      ["REPLIED:who is this?"],
    );
  });

  test("Meta's GET verification handshake through the hub: the challenge with the right token, 403 otherwise", async () => {
    const ok = await deliver(hub, graph.verification(webhookUrl("wa"), { challenge: "1158201444" }));
    assert.equal(ok.status, 200);
    assert.equal(ok.body, "1158201444");
    const wrong = await deliver(
      hub,
      graph.verification(webhookUrl("wa"), { verifyToken: "wrong-token-123", challenge: "42" }),
    );
    assert.equal(wrong.status, 403);
    assert.notEqual(wrong.body, "42");
    const unknownPlugin = await deliver(hub, graph.verification(webhookUrl("nope")));
    assert.equal(unknownPlugin.status, 404);
  });
});
