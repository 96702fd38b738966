/**
 * SMS through Twilio, end to end: API -> scheduler -> ccm -> sms-twilio -> local Twilio
 * server, then Twilio's signed status callbacks into POST /webhooks/<pluginId>.
 */
import assert from "node:assert/strict";
import { describe, test, beforeAll, afterAll } from "@jest/globals";
import { startTwilioServer, type TwilioTestServer } from "../vendors/twilio-server.ts";
import { startReceiver, type Receiver } from "../webhooks/receiver.ts";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { deliver, getActivity, schedule, sleep, timeline, waitForActivity, webhookUrl } from "./digital-helpers.ts";

const FROM = "+15005550006";

describe("sms-twilio through the hub: send, signed status callbacks, order and idempotency", () => {
  let twilio: TwilioTestServer;
  let hub: TestHub;
  let receiver: Receiver;

  beforeAll(async () => {
    twilio = await startTwilioServer();
    receiver = await startReceiver();
    hub = await startTestHub({
      plugins: [
        {
          id: "tw",
          use: "sms-twilio",
          channels: ["sms"],
          options: twilio.pluginOptions({ from: FROM, maxPerSecond: 100 }),
        },
      ],
    });
    const sub = await hub.api("POST", "/api/v1/webhooks", { url: receiver.url, events: ["activity.status"] });
    assert.equal(sub.status, 201, sub.text);
  });
  afterAll(async () => {
    await hub?.stop();
    await receiver?.close();
    await twilio?.stop();
  });

  test("QUEUED -> SENT -> DELIVERED; a late `sent` and a repeated callback change nothing; a forged signature is 403", async () => {
    const id = await schedule(hub, {
      customer: { id: "sms-1", firstName: "Ada", phone: "+1 (415) 555-2671" },
      channel: "sms",
      content: { text: "Hi {{firstName}}, your order shipped." },
    });

    // The local Twilio server got the message, authenticated with basic auth (it refuses
    // anything else), with the status callback under api.publicUrl.
    const queued = await waitForActivity(hub, id, (a) => a.status === "QUEUED", "activity QUEUED");
    assert.equal(twilio.messages.length, 1);
    const sent = twilio.messages[0]!;
    assert.equal(sent.accountSid, twilio.accountSid);
    assert.equal(sent.to, "+14155552671");
    assert.equal(sent.from, FROM);
    assert.equal(sent.body, "Hi Ada, your order shipped.");
    assert.equal(sent.statusCallback, webhookUrl("tw"));
    const attempt = queued.attempts[0]!;
    assert.equal(attempt.vendorId, sent.sid);
    assert.equal(attempt.pluginId, "tw");

    // A forged callback (wrong auth token) is refused and records nothing.
    const forged = await deliver(
      hub,
      twilio.statusCallback(webhookUrl("tw"), sent.sid, "delivered", { authToken: "not-the-token" }),
    );
    assert.equal(forged.status, 403);
    // So is a valid signature over another URL than the public one, and a missing signature.
    const otherUrl = await deliver(hub, {
      ...twilio.statusCallback("https://elsewhere.test/webhooks/tw", sent.sid, "delivered"),
      url: webhookUrl("tw"),
    });
    assert.equal(otherUrl.status, 403);
    const unsigned = twilio.statusCallback(webhookUrl("tw"), sent.sid, "delivered");
    delete unsigned.headers["x-twilio-signature"];
    assert.equal((await deliver(hub, unsigned)).status, 403);
    await sleep(200);
    assert.equal((await getActivity(hub, id)).status, "QUEUED");

    const sentRes = await deliver(hub, twilio.statusCallback(webhookUrl("tw"), sent.sid, "sent"));
    assert.equal(sentRes.status, 200, sentRes.body);
    assert.match(sentRes.contentType ?? "", /xml/);
    assert.equal((await getActivity(hub, id)).status, "SENT");

    assert.equal((await deliver(hub, twilio.statusCallback(webhookUrl("tw"), sent.sid, "delivered"))).status, 200);
    assert.equal((await getActivity(hub, id)).attempts[0]!.status, "DELIVERED");

    // Out of order and repeated: acknowledged (so Twilio stops retrying), ignored.
    assert.equal((await deliver(hub, twilio.statusCallback(webhookUrl("tw"), sent.sid, "sent"))).status, 200);
    assert.equal((await deliver(hub, twilio.statusCallback(webhookUrl("tw"), sent.sid, "delivered"))).status, 200);
    assert.equal((await deliver(hub, twilio.statusCallback(webhookUrl("tw"), sent.sid, "queued"))).status, 200);
    const final = await getActivity(hub, id);
    assert.equal(final.status, "DELIVERED");
    assert.equal(final.attempts.length, 1);
    assert.equal(final.attempts[0]!.status, "DELIVERED");

    const events = await timeline(hub, final.conversationId);
    assert.deepEqual(
      events.map((e) => `${e.type}:${e.status}`),
      ["OUTBOUND:QUEUED", "STATUS:SENT", "STATUS:DELIVERED"],
    );
    for (const e of events) {
      assert.equal(e.vendorId, sent.sid);
      assert.equal(e.pluginId, "tw");
      assert.equal(e.channel, "sms");
    }
    assert.equal(twilio.messages.length, 1, "nothing was sent twice");
  });

  test("a callback for a message the hub never sent is acknowledged and records nothing", async () => {
    const res = await deliver(
      hub,
      twilio.statusCallback(webhookUrl("tw"), "SM" + "0".repeat(32), "delivered", { to: "+14155550100" }),
    );
    assert.equal(res.status, 200);
  });

  test("an `undelivered` with a carrier error fails the attempt with the Twilio code, not retryable", async () => {
    const id = await schedule(hub, {
      customer: { id: "sms-2", phone: "+14155550199" },
      channel: "sms",
      content: { text: "hello" },
    });
    const queued = await waitForActivity(hub, id, (a) => a.status === "QUEUED", "activity QUEUED");
    const sid = queued.attempts[0]!.vendorId!;
    assert.equal((await deliver(hub, twilio.statusCallback(webhookUrl("tw"), sid, "sent"))).status, 200);
    assert.equal(
      (await deliver(hub, twilio.statusCallback(webhookUrl("tw"), sid, "undelivered", { errorCode: 30005 }))).status,
      200,
    );
    // Not retried on SMS; the hub's default fallback policy (config/default.json: email) takes
    // over, and fails at once, as this customer has no email address.
    const failed = await waitForActivity(hub, id, (a) => a.attempts.length === 2, "the email fallback");
    assert.equal(failed.attempts[0]!.status, "FAILED");
    assert.equal(failed.attempts[0]!.reasonCode, "30005");
    assert.equal(failed.attempts[0]!.retryable, false);
    assert.deepEqual([failed.attempts[1]!.channel, failed.attempts[1]!.reasonCode], ["email", "NO_ADDRESS"]);
    // A `delivered` arriving after the failure does not resurrect it.
    assert.equal((await deliver(hub, twilio.statusCallback(webhookUrl("tw"), sid, "delivered"))).status, 200);
    await sleep(300);
    const after = await getActivity(hub, id);
    assert.equal(after.attempts[0]!.status, "FAILED");
    assert.equal(after.attempts.length, 2);
    assert.equal(twilio.messages.filter((m) => m.to === "+14155550199").length, 1, "no retry of a permanent failure");
  });

  test("the same callbacks delivered concurrently (Twilio retrying) apply once: one timeline event, one notification", async () => {
    const id = await schedule(hub, {
      customer: { id: "sms-3", phone: "+14155550198" },
      channel: "sms",
      content: { text: "hi" },
    });
    const queued = await waitForActivity(hub, id, (a) => a.status === "QUEUED", "activity QUEUED");
    const sid = queued.attempts[0]!.vendorId!;
    const callbacks = [];
    for (let i = 0; i < 4; i++) {
      callbacks.push(twilio.statusCallback(webhookUrl("tw"), sid, "delivered"));
      callbacks.push(twilio.statusCallback(webhookUrl("tw"), sid, "sent"));
    }
    const answers = await Promise.all(callbacks.map((c) => deliver(hub, c)));
    assert.deepEqual(
      answers.map((a) => a.status),
      callbacks.map(() => 200),
    );
    const final = await getActivity(hub, id);
    assert.equal(final.status, "DELIVERED");
    const statuses = (await timeline(hub, final.conversationId))
      .filter((e) => e.type === "STATUS")
      .map((e) => e.status);
    assert.equal(statuses.filter((s) => s === "DELIVERED").length, 1);
    assert.ok(statuses.filter((s) => s === "SENT").length <= 1, `timeline: ${statuses.join(", ")}`);

    await sleep(500);
    const notified = receiver.requests
      .map(
        (r) =>
          JSON.parse(r.rawBody.toString("utf8")) as { event: string; data: { activityId: string; status: string } },
      )
      .filter((p) => p.data.activityId === id && p.data.status === "DELIVERED");
    assert.equal(notified.length, 1, "one activity.status DELIVERED notification");
  });
});

describe("sms-twilio behind a proxy: Twilio signs api.publicUrl with its port and path prefix", () => {
  const PUBLIC = "https://hub.example.com:8443/dialmesh";
  let twilio: TwilioTestServer;
  let hub: TestHub;

  beforeAll(async () => {
    twilio = await startTwilioServer();
    hub = await startTestHub({
      api: { publicUrl: `${PUBLIC}/` },
      plugins: [{ id: "tw", use: "sms-twilio", options: twilio.pluginOptions({ from: FROM, maxPerSecond: 100 }) }],
    });
  });
  afterAll(async () => {
    await hub?.stop();
    await twilio?.stop();
  });

  test("the status callback URL is under the public URL, and a callback the proxy forwards without the prefix verifies", async () => {
    const id = await schedule(hub, {
      customer: { id: "px-1", phone: "+14155550197" },
      channel: "sms",
      content: { text: "hi" },
    });
    const queued = await waitForActivity(hub, id, (a) => a.status === "QUEUED", "activity QUEUED");
    const message = twilio.messages.at(-1)!;
    assert.equal(message.statusCallback, `${PUBLIC}/webhooks/tw`);

    // Twilio calls (and signs) the public URL; the proxy strips /dialmesh and forwards.
    const callback = twilio.statusCallback(message.statusCallback!, message.sid, "delivered");
    const forwarded = await fetch(`${hub.apiUrl}/webhooks/tw`, {
      method: "POST",
      headers: callback.headers as Record<string, string>,
      body: new Uint8Array(callback.rawBody),
    });
    assert.equal(forwarded.status, 200, await forwarded.text());
    assert.equal((await getActivity(hub, id)).status, "DELIVERED");

    // Signed over the internal address instead (what Twilio never does): refused.
    const internal = twilio.statusCallback(`${hub.apiUrl}/webhooks/tw`, queued.attempts[0]!.vendorId!, "read");
    assert.equal((await deliver(hub, internal)).status, 403);
  });
});
