/**
 * five9 end to end: voice activities posted to the hub's API are added to a Five9 dialing list
 * (the local AdminWebService), each once, also through a burst of OperationsLimitExceeded
 * faults; the dispositions Five9's Web Connector posts to /webhooks/f9 land on the activities
 * and conversations with the raw disposition; a NO_ANSWER moves the journey on to SMS; a flush
 * through the API empties the list.
 */
import assert from "node:assert/strict";
import { describe, test, beforeAll, afterAll } from "@jest/globals";
import { startFive9Server, type Five9SoapServer } from "../vendors/five9-soap-server.ts";
import { startTwilioServer, type TwilioTestServer } from "../vendors/twilio-server.ts";
import { eventually, startTestHub, type TestHub } from "../support/hub.ts";
import { getActivity, suppression, timeline, waitForActivity, webhookUrl } from "./digital-helpers.ts";

const SECRET = "e2e-five9-web-connector-secret";

describe("five9 through the hub", () => {
  let five9: Five9SoapServer;
  let twilio: TwilioTestServer;
  let hub: TestHub;

  const dial = (key: string, disposition: string, via: "query" | "header" = "query") =>
    five9.dial(key, disposition, { url: webhookUrl("f9"), target: hub.apiUrl, secret: SECRET, via });

  beforeAll(async () => {
    five9 = await startFive9Server({ lists: ["Renewals"] });
    twilio = await startTwilioServer();
    hub = await startTestHub({
      plugins: [
        {
          id: "f9",
          use: "five9",
          options: {
            endpoint: five9.endpoint,
            username: five9.username,
            password: five9.password,
            webhookSecret: SECRET,
            listMap: { renewals: "Renewals" },
            burstThreshold: 1,
            batchWindowMs: 200,
            retryBaseMs: 50,
            importPollMs: 20,
            countersRefreshMs: 0,
          },
        },
        {
          id: "tw",
          use: "sms-twilio",
          channels: ["sms"],
          options: twilio.pluginOptions({ from: "+15005550006", maxPerSecond: 100 }),
        },
      ],
      fallbacks: { "voice-sms": { steps: [{ channel: "voice" }, { channel: "sms" }] } },
    });
  });
  afterAll(async () => {
    await hub?.stop();
    await twilio?.stop();
    await five9?.stop();
  });

  test("added once each through OperationsLimitExceeded faults; dispositions land; NO_ANSWER continues to SMS", async () => {
    five9.injectFault("OperationsLimitExceeded", 4);
    const customers = [
      { id: "f9-1", firstName: "Ada", phone: "+14155550201" },
      { id: "f9-2", firstName: "Bo", phone: "+14155550202" },
      { id: "f9-3", firstName: "Cy", phone: "+14155550203" },
      { id: "f9-4", firstName: "Di", phone: "+14155550204" },
    ];
    const res = await hub.api("POST", "/api/v1/activities", {
      activities: customers.map((customer) => ({
        customer,
        channel: "voice",
        campaignId: "renewals",
        fallbackPolicy: "voice-sms",
        content: { text: "Hi {{firstName}}, we tried to call you about your renewal." },
      })),
    });
    assert.equal(res.status, 202, res.text);
    const ids = (res.body as { activities: { id: string }[] }).activities.map((i) => i.id);

    const queued = await Promise.all(
      ids.map((id) => waitForActivity(hub, id, (a) => a.status === "QUEUED", `${id} QUEUED`, 15_000)),
    );
    assert.ok(
      five9.calls.some((c) => c.fault === "OperationsLimitExceeded"),
      "the injected faults were met on the way",
    );
    assert.equal(five9.records("Renewals").length, 4);
    for (const a of queued) {
      const attempt = a.attempts[0]!;
      assert.equal(attempt.pluginId, "f9");
      assert.equal(attempt.vendorId, attempt.id, "vendorId = the record key = the attempt id");
      assert.equal(five9.keyCount(attempt.id), 1, "added once");
    }
    const [connected, unreached, dnc, forged] = queued.map((a) => a.attempts[0]!.id) as [
      string,
      string,
      string,
      string,
    ];
    const [a, b, c, d] = ids as [string, string, string, string];

    // A request without the secret changes nothing.
    const refused = await five9.dial(forged, "Sale", { url: webhookUrl("f9"), target: hub.apiUrl });
    assert.equal(refused.status, 403);

    assert.equal((await dial(connected, "Sale", "header")).status, 200);
    assert.equal((await dial(unreached, "No Answer")).status, 200);
    assert.equal((await dial(dnc, "Do Not Call")).status, 200);

    const done = await waitForActivity(hub, a, (x) => x.status === "CONNECTED", "CONNECTED");
    const events = await timeline(hub, done.conversationId);
    const callResult = events.find((e) => e.type === "CALL_RESULT");
    assert.equal(callResult?.status, "CONNECTED");
    assert.equal(callResult?.pluginId, "f9");
    assert.equal(callResult?.vendorId, connected);
    assert.equal((callResult as { raw?: string } | undefined)?.raw, "Sale");

    await waitForActivity(hub, b, (x) => x.attempts.some((t) => t.channel === "sms"), "fallback to SMS");
    await eventually(
      async () => (twilio.messages.some((m) => m.to === "+14155550202") ? true : undefined),
      10_000,
      "the SMS",
    );
    const fellBack = await getActivity(hub, b);
    assert.equal(fellBack.attempts[0]?.status, "NO_ANSWER");
    assert.equal(fellBack.attempts[1]?.channel, "sms");

    const blocked = await waitForActivity(hub, c, (x) => x.attempts[0]?.status === "BLOCKED", "BLOCKED");
    assert.equal(blocked.attempts[0]?.reasonCode, "OPTED_OUT");
    assert.equal((await suppression(hub, "+14155550203")).suppressed, true);

    const untouched = await getActivity(hub, d);
    assert.equal(untouched.status, "QUEUED", "the forged disposition was not recorded");
  });

  test("flush through the API: the list emptied at Five9, the open activities CANCELLED; bad input 400", async () => {
    const res = await hub.api("POST", "/api/v1/activities", {
      activities: ["+14155550211", "+14155550212"].map((phone, i) => ({
        customer: { id: `f9-fl-${i}`, phone },
        channel: "voice",
        campaignId: "renewals",
        content: {},
        idempotencyKey: `f9-flush-${i}`,
      })),
    });
    assert.equal(res.status, 202, res.text);
    const ids = (res.body as { activities: { id: string }[] }).activities.map((i) => i.id);
    await Promise.all(ids.map((id) => waitForActivity(hub, id, (a) => a.status === "QUEUED", "added")));

    const bad = await hub.api("POST", "/api/v1/plugins/f9/actions/flush", {});
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.text, /list/);

    const flushed = await hub.api("POST", "/api/v1/plugins/f9/actions/flush", { campaign: "renewals" });
    assert.equal(flushed.status, 200, flushed.text);
    assert.equal(five9.records("Renewals").length, 0);
    for (const id of ids) {
      const a = await waitForActivity(hub, id, (x) => x.attempts[0]?.status === "CANCELLED", "CANCELLED");
      assert.equal(a.attempts[0]?.reasonCode, "LIST_FLUSHED");
    }
  });
});
