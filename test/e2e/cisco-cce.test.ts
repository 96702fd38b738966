/**
 * cisco-cce end to end: voice activities posted to the hub's API are appended to a Cisco
 * campaign (the local AW), batched; the results Cisco's dialer writes to the import list come
 * back on the activities and conversations with the raw code; a NO_ANSWER moves the journey
 * on to SMS.
 */
import assert from "node:assert/strict";
import { describe, test, beforeAll, afterAll } from "@jest/globals";
import { startCiscoAwServer, type CiscoAwServer } from "../vendors/cisco-aw-server.ts";
import { startTwilioServer, type TwilioTestServer } from "../vendors/twilio-server.ts";
import { eventually, startTestHub, type TestHub } from "../support/hub.ts";
import { getActivity, timeline, waitForActivity } from "./digital-helpers.ts";

describe("cisco-cce through the hub", () => {
  let cisco: CiscoAwServer;
  let twilio: TwilioTestServer;
  let hub: TestHub;

  beforeAll(async () => {
    cisco = await startCiscoAwServer({ campaigns: [5001] });
    twilio = await startTwilioServer();
    hub = await startTestHub({
      plugins: [
        {
          id: "cce",
          use: "cisco-cce",
          options: {
            baseUrl: cisco.baseUrl,
            username: cisco.username,
            password: cisco.password,
            campaignMap: { renewals: 5001 },
            batchWindowMs: 300,
            pollIntervalMs: 200,
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
    await cisco?.stop();
  });

  test("appended in one import; results land on the conversations; NO_ANSWER continues to SMS", async () => {
    const customers = [
      { id: "cc-1", firstName: "Ada", phone: "+14155550101", timezone: "America/Los_Angeles" },
      { id: "cc-2", firstName: "Bo", phone: "+14155550102", timezone: "America/Chicago" },
      { id: "cc-3", firstName: "Cy", phone: "+14155550103" },
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
    assert.equal(ids.length, 3);

    const queued = await Promise.all(
      ids.map((id) => waitForActivity(hub, id, (a) => a.status === "QUEUED", `${id} QUEUED`)),
    );
    assert.equal(cisco.appliedImports().length, 1, "the three contacts share one import");
    for (const a of queued) {
      const attempt = a.attempts[0]!;
      assert.equal(attempt.pluginId, "cce");
      assert.equal(attempt.vendorId, attempt.id, "vendorId = AccountNumber = the attempt id");
      assert.equal(cisco.rowCount(attempt.id), 1);
    }
    const [connected, unreached, blocked] = queued.map((a) => a.attempts[0]!.id) as [string, string, string];

    cisco.setResult(5001, connected, { callResult: 10, callStatus: "C" });
    cisco.setResult(5001, unreached, { callResult: 8, callStatus: "M" });
    cisco.setResult(5001, blocked, { callResult: 26, callStatus: "C" });

    const [a, b, c] = ids as [string, string, string];
    const done = await waitForActivity(hub, a, (x) => x.status === "CONNECTED", "CONNECTED");
    const events = await timeline(hub, done.conversationId);
    const callResult = events.find((e) => e.type === "CALL_RESULT");
    assert.equal(callResult?.status, "CONNECTED");
    assert.equal(callResult?.pluginId, "cce");
    assert.equal(callResult?.vendorId, connected);
    assert.equal((callResult as { raw?: string } | undefined)?.raw, "10");

    await waitForActivity(hub, b, (x) => x.attempts.some((t) => t.channel === "sms"), "fallback to SMS");
    await eventually(
      async () => (twilio.messages.some((m) => m.to === "+14155550102") ? true : undefined),
      10_000,
      "the SMS",
    );
    const fellBack = await getActivity(hub, b);
    assert.equal(fellBack.attempts[0]?.status, "NO_ANSWER");
    assert.equal(fellBack.attempts[1]?.channel, "sms");

    const dnc = await waitForActivity(hub, c, (x) => x.attempts[0]?.status === "BLOCKED", "BLOCKED");
    assert.equal(dnc.attempts[0]?.reasonCode, "DNC");
  });

  test("flush through the API: the campaign's contacts deleted at Cisco, the open activities CANCELLED; bad input 400, unknown action 404", async () => {
    const res = await hub.api("POST", "/api/v1/activities", {
      activities: ["+14155550111", "+14155550112"].map((phone, i) => ({
        customer: { id: `fl-${i}`, phone, timezone: "America/New_York" },
        channel: "voice",
        campaignId: "renewals",
        content: {},
        idempotencyKey: `flush-${i}`,
      })),
    });
    assert.equal(res.status, 202, res.text);
    const ids = (res.body as { activities: { id: string }[] }).activities.map((i) => i.id);
    await Promise.all(ids.map((id) => waitForActivity(hub, id, (a) => a.status === "QUEUED", "appended")));
    assert.ok(cisco.campaignContacts(5001).length >= 2);

    const bad = await hub.api("POST", "/api/v1/plugins/cce/actions/flush", {});
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.text, /campaign/);
    assert.equal((await hub.api("POST", "/api/v1/plugins/cce/actions/nope", {})).status, 404);

    const flushed = await hub.api("POST", "/api/v1/plugins/cce/actions/flush", { campaign: "renewals" });
    assert.equal(flushed.status, 200, flushed.text);
    assert.equal(cisco.campaignContacts(5001).length, 0);
    for (const id of ids) {
      const a = await waitForActivity(hub, id, (x) => x.attempts[0]?.status === "CANCELLED", "CANCELLED");
      assert.equal(a.attempts.length, 1);
    }
  });
});
