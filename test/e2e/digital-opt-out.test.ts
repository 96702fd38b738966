/**
 * Opt-out through the hub: STOP (or a hub-wide keyword from compliance.optOutKeywords) sent
 * to Twilio or the WhatsApp Cloud API puts the number on the suppression list; every later
 * attempt to it is BLOCKED with that reason, on SMS and WhatsApp; START lifts it. Twilio's
 * 21610 on send suppresses too.
 */
import assert from "node:assert/strict";
import { describe, test, beforeAll, afterAll } from "@jest/globals";
import { startGraphServer, type GraphTestServer } from "../vendors/graph-server.ts";
import { startTwilioServer, TWILIO_ERRORS, type TwilioTestServer } from "../vendors/twilio-server.ts";
import { startTestHub, type TestHub } from "../support/hub.ts";
import {
  deliver,
  schedule,
  suppression,
  timeline,
  waitForActivity,
  waitForTimelineEvent,
  webhookUrl,
  type ActivityView,
} from "./digital-helpers.ts";

describe("opt-out through the hub: keywords and Twilio 21610 suppress; every later attempt is BLOCKED", () => {
  let twilio: TwilioTestServer;
  let graph: GraphTestServer;
  let hub: TestHub;

  beforeAll(async () => {
    twilio = await startTwilioServer();
    graph = await startGraphServer();
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
      // Hub-wide keywords, on top of each plugin's defaults (STOP, START, ...).
      compliance: { optOutKeywords: { es: { optOut: ["BAJA"], optIn: ["ALTA"] } } },
    });
  });
  afterAll(async () => {
    await hub?.stop();
    await graph?.stop();
    await twilio?.stop();
  });

  /** Schedules a message on `channel` and waits until its first attempt has an outcome. */
  async function firstAttempt(phone: string, channel: "sms" | "whatsapp", customerId: string): Promise<ActivityView> {
    const id = await schedule(hub, { customer: { id: customerId, phone }, channel, content: { text: "Offer" } });
    return waitForActivity(
      hub,
      id,
      (a) => a.attempts.length > 0 && a.attempts[0]!.status !== "DISPATCHING",
      `first ${channel} attempt`,
    );
  }

  const sentTo = (phone: string) => ({
    sms: twilio.messages.filter((m) => m.to === phone).length,
    whatsapp: graph.messages.filter((m) => `+${m.to}` === phone).length,
  });

  test("STOP by SMS suppresses the number on SMS and WhatsApp, with that reason; START lifts it", async () => {
    const phone = "+14155550140";
    const first = await firstAttempt(phone, "sms", "oo-1");
    assert.equal(first.attempts[0]!.status, "QUEUED");

    const stop = await deliver(hub, twilio.inboundMessage(webhookUrl("tw"), phone, " Stop "));
    assert.equal(stop.status, 200);
    const entry = await suppression(hub, phone);
    assert.equal(entry.suppressed, true);
    assert.match(entry.reason ?? "", /keyword "Stop"/);
    const events = await timeline(hub, first.conversationId);
    assert.deepEqual(
      events.filter((e) => e.type !== "OUTBOUND").map((e) => `${e.type}:${e.channel}`),
      ["REPLIED:sms", "OPTED_OUT:sms"],
    );

    const sentBefore = sentTo(phone);
    for (const channel of ["sms", "whatsapp"] as const) {
      const blocked = await firstAttempt(phone, channel, "oo-1");
      const attempt = blocked.attempts[0]!;
      assert.equal(attempt.status, "BLOCKED", `${channel} blocked`);
      assert.equal(attempt.reasonCode, "SUPPRESSED");
      assert.match(attempt.reason ?? "", /\+14155550140 is on the suppression list .*keyword "Stop"/);
      assert.equal(attempt.pluginId, undefined, "never handed to a plugin");
      // Recorded on the timeline (then the default email fallback fails: no email address), a
      // moment after the activity's status.
      const outbound = await waitForTimelineEvent(
        hub,
        blocked.conversationId,
        (e) => e.type === "OUTBOUND",
        `the blocked ${channel} attempt on the timeline`,
      );
      assert.equal(`${outbound.channel}:${outbound.status}:${outbound.reasonCode}`, `${channel}:BLOCKED:SUPPRESSED`);
    }
    assert.deepEqual(sentTo(phone), sentBefore, "nothing reached Twilio or Meta");

    const start = await deliver(hub, twilio.inboundMessage(webhookUrl("tw"), phone, "START"));
    assert.equal(start.status, 200);
    assert.equal((await suppression(hub, phone)).suppressed, false);
    const again = await firstAttempt(phone, "sms", "oo-1");
    assert.equal(again.attempts[0]!.status, "QUEUED");
    assert.equal(sentTo(phone).sms, sentBefore.sms + 1);
  });

  test("STOP by WhatsApp suppresses the number on SMS too", async () => {
    const phone = "+14155550141";
    await firstAttempt(phone, "whatsapp", "oo-2");
    const res = await deliver(
      hub,
      graph.messageWebhook(webhookUrl("wa"), [{ from: "14155550141", text: "UNSUBSCRIBE" }]),
    );
    assert.equal(res.status, 200);
    assert.equal((await suppression(hub, phone)).suppressed, true);
    const sms = await firstAttempt(phone, "sms", "oo-2");
    assert.equal(sms.attempts[0]!.status, "BLOCKED");
    assert.equal(sms.attempts[0]!.reasonCode, "SUPPRESSED");
  });

  test("Twilio 21610 on send blocks the attempt and suppresses the number for later attempts on every channel", async () => {
    const phone = "+14155550142";
    twilio.failNext(TWILIO_ERRORS.optedOut());
    const refused = await firstAttempt(phone, "sms", "oo-3");
    const attempt = refused.attempts[0]!;
    assert.equal(attempt.status, "BLOCKED");
    assert.equal(attempt.reasonCode, "OPTED_OUT");
    assert.equal(attempt.retryable, false);
    assert.equal(attempt.pluginId, "tw");
    const entry = await suppression(hub, phone);
    assert.equal(entry.suppressed, true);
    assert.match(entry.reason ?? "", /21610/);

    for (const channel of ["sms", "whatsapp"] as const) {
      const later = await firstAttempt(phone, channel, "oo-3");
      assert.equal(later.attempts[0]!.status, "BLOCKED");
      assert.equal(later.attempts[0]!.reasonCode, "SUPPRESSED");
      assert.match(later.attempts[0]!.reason ?? "", /21610/);
    }
    assert.deepEqual(sentTo(phone), { sms: 0, whatsapp: 0 });
  });

  test("Twilio 21610 in a status callback (sent through a Messaging Service, refused later) suppresses too", async () => {
    const phone = "+14155550144";
    const id = await schedule(hub, { customer: { id: "oo-6", phone }, channel: "sms", content: { text: "Offer" } });
    const queued = await waitForActivity(hub, id, (a) => a.status === "QUEUED", "sms QUEUED");
    const sid = queued.attempts[0]!.vendorId!;
    const failed = twilio.statusCallback(webhookUrl("tw"), sid, "failed", { errorCode: 21610 });
    assert.equal((await deliver(hub, failed)).status, 200);
    const refused = await waitForActivity(hub, id, (a) => a.attempts[0]!.status !== "QUEUED", "the refusal");
    assert.equal(refused.attempts[0]!.status, "BLOCKED");
    assert.equal(refused.attempts[0]!.reasonCode, "21610");
    const entry = await suppression(hub, phone);
    assert.equal(entry.suppressed, true);
    assert.match(entry.reason ?? "", /21610/);
    const later = await firstAttempt(phone, "whatsapp", "oo-6");
    assert.equal(later.attempts[0]!.status, "BLOCKED");
    assert.equal(later.attempts[0]!.reasonCode, "SUPPRESSED");
  });

  test("hub-wide keywords (compliance.optOutKeywords) reach every messaging plugin", async () => {
    const viaSms = "+14155550143";
    await firstAttempt(viaSms, "sms", "oo-4");
    assert.equal((await deliver(hub, twilio.inboundMessage(webhookUrl("tw"), viaSms, "¡Baja!"))).status, 200);
    assert.equal((await suppression(hub, viaSms)).suppressed, true, "BAJA by SMS");
    assert.equal((await deliver(hub, twilio.inboundMessage(webhookUrl("tw"), viaSms, "alta"))).status, 200);
    assert.equal((await suppression(hub, viaSms)).suppressed, false, "ALTA by SMS");

    const viaWhatsApp = "+34612345699";
    await firstAttempt(viaWhatsApp, "whatsapp", "oo-5");
    const baja = graph.messageWebhook(webhookUrl("wa"), [{ from: "34612345699", text: "baja" }]);
    assert.equal((await deliver(hub, baja)).status, 200);
    assert.equal((await suppression(hub, viaWhatsApp)).suppressed, true, "BAJA by WhatsApp");
    const blocked = await firstAttempt(viaWhatsApp, "whatsapp", "oo-5");
    assert.equal(blocked.attempts[0]!.status, "BLOCKED");
    assert.match(blocked.attempts[0]!.reason ?? "", /keyword "baja"/);
  });
});

describe("compliance.honourSuppressionOn limits the channels the suppression list blocks", () => {
  let twilio: TwilioTestServer;
  let graph: GraphTestServer;
  let hub: TestHub;

  beforeAll(async () => {
    twilio = await startTwilioServer();
    graph = await startGraphServer();
    hub = await startTestHub({
      plugins: [
        { id: "tw", use: "sms-twilio", channels: ["sms"], options: twilio.pluginOptions({ from: "+15005550006" }) },
        {
          id: "wa",
          use: "whatsapp-cloud",
          options: graph.pluginOptions({ defaultTemplate: { name: "hello", language: "en_US" } }),
        },
      ],
      compliance: { honourSuppressionOn: ["sms"] },
    });
  });
  afterAll(async () => {
    await hub?.stop();
    await graph?.stop();
    await twilio?.stop();
  });

  test("STOP blocks SMS; WhatsApp, not configured to honour it, still sends", async () => {
    const phone = "+14155550150";
    assert.equal((await deliver(hub, twilio.inboundMessage(webhookUrl("tw"), phone, "STOP"))).status, 200);
    assert.equal((await suppression(hub, phone)).suppressed, true);
    const outcome = async (channel: string) => {
      const id = await schedule(hub, { customer: { id: "hs-1", phone }, channel, content: { text: "Offer" } });
      const a = await waitForActivity(
        hub,
        id,
        (x) => x.attempts[0]?.status !== undefined && x.attempts[0].status !== "DISPATCHING",
        channel,
      );
      return a.attempts[0]!.status;
    };
    assert.equal(await outcome("sms"), "BLOCKED");
    assert.equal(await outcome("whatsapp"), "QUEUED");
    assert.equal(twilio.messages.length, 0);
    assert.equal(graph.messages.length, 1);
  });
});
