/**
 * cisco-uccx end to end: voice activities posted to the hub's API are appended to a UCCX
 * campaign (the local UCCX server), batched; the results UCCX's dialer writes to the contact
 * list come back on the activities and conversations with the raw code; a NO_ANSWER moves the
 * journey on to SMS; a flush through the API cancels the activities still open.
 */
import assert from "node:assert/strict";
import { describe, test, beforeAll, afterAll } from "@jest/globals";
import { startCiscoUccxServer, type CiscoUccxServer } from "../vendors/cisco-uccx-server.ts";
import { startTwilioServer, type TwilioTestServer } from "../vendors/twilio-server.ts";
import { eventually, startTestHub, type TestHub } from "../support/hub.ts";
import { getActivity, timeline, waitForActivity } from "./digital-helpers.ts";

describe("cisco-uccx through the hub", () => {
  let uccx: CiscoUccxServer;
  let twilio: TwilioTestServer;
  let hub: TestHub;

  beforeAll(async () => {
    uccx = await startCiscoUccxServer({ campaigns: [200] });
    twilio = await startTwilioServer();
    hub = await startTestHub({
      plugins: [
        {
          id: "uccx",
          use: "cisco-uccx",
          options: {
            baseUrl: uccx.baseUrl,
            username: uccx.username,
            password: uccx.password,
            campaignMap: { renewals: 200 },
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
    await uccx?.stop();
  });

  test("appended once in one batch; results land on the conversations; NO_ANSWER continues to SMS", async () => {
    const customers = [
      { id: "ux-1", firstName: "Ada", phone: "+14155550201" },
      { id: "ux-2", firstName: "Bo", phone: "+14155550202" },
      { id: "ux-3", firstName: "Cy", phone: "+14155550203" },
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
    assert.equal(uccx.appliedAppends().length, 1, "the three contacts share one append");
    for (const a of queued) {
      const attempt = a.attempts[0]!;
      assert.equal(attempt.pluginId, "uccx");
      assert.equal(attempt.vendorId, attempt.id, "vendorId = Account Number = the attempt id");
      assert.equal(uccx.rowCount(attempt.id), 1);
    }
    const [connected, unreached, busy] = queued.map((a) => a.attempts[0]!.id) as [string, string, string];

    // The simulated dialer: a first pass retries everyone, the second decides.
    uccx.dialAll(200, () => ({ callResult: 15, callStatus: "RETRY" }));
    uccx.setResult(200, connected, { callResult: 10, callStatus: "CLOSED" });
    uccx.setResult(200, unreached, { callResult: 15, callStatus: "MAX_CALLS" });
    uccx.setResult(200, busy, { callResult: 11, callStatus: "MAX_CALLS" });

    const [a, b, c] = ids as [string, string, string];
    const done = await waitForActivity(hub, a, (x) => x.status === "CONNECTED", "CONNECTED");
    const events = await timeline(hub, done.conversationId);
    const callResult = events.find((e) => e.type === "CALL_RESULT");
    assert.equal(callResult?.status, "CONNECTED");
    assert.equal(callResult?.pluginId, "uccx");
    assert.equal(callResult?.vendorId, connected);
    assert.equal((callResult as { raw?: string } | undefined)?.raw, "10");

    await waitForActivity(hub, b, (x) => x.attempts.some((t) => t.channel === "sms"), "fallback to SMS");
    await eventually(
      async () => (twilio.messages.some((m) => m.to === "+14155550202") ? true : undefined),
      10_000,
      "the SMS",
    );
    const fellBack = await getActivity(hub, b);
    assert.equal(fellBack.attempts[0]?.status, "NO_ANSWER");
    assert.equal(fellBack.attempts[1]?.channel, "sms");
    const unreachedEvents = await timeline(hub, fellBack.conversationId);
    assert.equal(
      (unreachedEvents.find((e) => e.type === "CALL_RESULT") as { raw?: string } | undefined)?.raw,
      "15",
      "the raw UCCX code is on the conversation",
    );

    const busyActivity = await waitForActivity(hub, c, (x) => x.attempts[0]?.status === "BUSY", "BUSY");
    assert.equal(busyActivity.attempts[0]?.vendorId, busy);
    assert.equal(uccx.appliedAppends().length, 1, "nothing appended again");
  });

  test("flush through the API: the campaign's contacts deleted at UCCX, the open activities CANCELLED", async () => {
    const res = await hub.api("POST", "/api/v1/activities", {
      activities: ["+14155550211", "+14155550212"].map((phone, i) => ({
        customer: { id: `ux-fl-${i}`, phone },
        channel: "voice",
        campaignId: "renewals",
        content: {},
        idempotencyKey: `uccx-flush-${i}`,
      })),
    });
    assert.equal(res.status, 202, res.text);
    const ids = (res.body as { activities: { id: string }[] }).activities.map((i) => i.id);
    await Promise.all(ids.map((id) => waitForActivity(hub, id, (a) => a.status === "QUEUED", "appended")));
    assert.ok(uccx.campaignContacts(200).length >= 2);

    const bad = await hub.api("POST", "/api/v1/plugins/uccx/actions/flush", {});
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.text, /campaign/);

    const flushed = await hub.api("POST", "/api/v1/plugins/uccx/actions/flush", { campaign: "renewals" });
    assert.equal(flushed.status, 200, flushed.text);
    assert.equal(uccx.campaignContacts(200).length, 0);
    assert.ok(uccx.requests.some((r) => r.method === "DELETE" && r.path === "/adminapi/campaign/200/contacts"));
    for (const id of ids) {
      const a = await waitForActivity(hub, id, (x) => x.attempts[0]?.status === "CANCELLED", "CANCELLED");
      assert.equal(a.attempts.length, 1);
      assert.equal(a.attempts[0]?.reasonCode, "CAMPAIGN_FLUSHED");
    }
  });
});
