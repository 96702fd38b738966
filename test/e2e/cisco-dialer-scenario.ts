/**
 * The end-to-end scenario of the Cisco dialer plugins (cisco-cce, cisco-uccx) through the hub's
 * REST API: voice activities are appended to the vendor's campaign (a local server), batched;
 * the results the vendor's dialer writes come back on the activities and conversations with
 * the raw code; a NO_ANSWER moves the journey on to SMS; a flush through the actions route
 * deletes the campaign's contacts and cancels the activities still open.
 */
import assert from "node:assert/strict";
import { describe, test, beforeAll, afterAll } from "@jest/globals";
import { startTwilioServer, type TwilioTestServer } from "../vendors/twilio-server.ts";
import { eventually, startTestHub, type TestHub } from "../support/hub.ts";
import { getActivity, waitForActivity, waitForTimelineEvent } from "./digital-helpers.ts";

/** A local vendor server as the scenario drives it. */
export interface DialerVendor {
  readonly baseUrl: string;
  readonly username: string;
  readonly password: string;
  /** The vendor campaign the hub campaign `renewals` maps to. */
  readonly campaignId: number;
  /** Appends (imports) applied so far. */
  appliedAppends(): number;
  /** How many times the account number was appended. */
  rowCount(accountNumber: string): number;
  /** Contacts the campaign holds. */
  campaignSize(): number;
  /** The DELETE path of a flush, as the server records it. */
  readonly flushPath: string;
  /** Whether the server saw a request of that method and path. */
  saw(method: string, path: string): boolean;
  /** The next append refuses every row it holds (400 naming them). */
  rejectNextAppend(): void;
  /** The dialer ends the contacts: one connected, one unreached (attempts used), one `third`. */
  dial(connected: string, unreached: string, third: string): void;
  stop(): Promise<void>;
}

export interface DialerScenario {
  plugin: "cisco-cce" | "cisco-uccx";
  pluginId: string;
  startVendor(): Promise<DialerVendor>;
  /** The vendor's raw codes of the connected and the unreached contact. */
  rawCodes: { connected: string; noAnswer: string };
  /** What the third contact's attempt ends as. */
  third: { status: string; reasonCode?: string };
}

export function describeDialerThroughHub(scenario: DialerScenario): void {
  const { pluginId } = scenario;

  describe(`${scenario.plugin} through the hub`, () => {
    let vendor: DialerVendor;
    let twilio: TwilioTestServer;
    let hub: TestHub;

    beforeAll(async () => {
      vendor = await scenario.startVendor();
      twilio = await startTwilioServer();
      hub = await startTestHub({
        plugins: [
          {
            id: pluginId,
            use: scenario.plugin,
            options: {
              baseUrl: vendor.baseUrl,
              username: vendor.username,
              password: vendor.password,
              campaignMap: { renewals: vendor.campaignId },
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
      await vendor?.stop();
    });

    test("appended once, in one batch; results land on the conversations; NO_ANSWER continues to SMS", async () => {
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

      // QUEUED once the contact is in the plugin's outbox; the append follows with the window.
      const queued = await Promise.all(
        ids.map((id) => waitForActivity(hub, id, (a) => a.status === "QUEUED", `${id} QUEUED`)),
      );
      await eventually(async () => vendor.appliedAppends() > 0, 10_000, "the append");
      assert.equal(vendor.appliedAppends(), 1, "the three contacts share one append");
      for (const a of queued) {
        const attempt = a.attempts[0]!;
        assert.equal(attempt.pluginId, pluginId);
        assert.equal(attempt.vendorId, attempt.id, "vendorId = the account number = the attempt id");
        assert.equal(vendor.rowCount(attempt.id), 1);
      }
      const [connected, unreached, third] = queued.map((a) => a.attempts[0]!.id) as [string, string, string];
      vendor.dial(connected, unreached, third);

      const [a, b, c] = ids as [string, string, string];
      const done = await waitForActivity(hub, a, (x) => x.status === "CONNECTED", "CONNECTED");
      const callResult = await waitForTimelineEvent(
        hub,
        done.conversationId,
        (e) => e.type === "CALL_RESULT",
        "the call result on the timeline",
      );
      assert.equal(callResult?.status, "CONNECTED");
      assert.equal(callResult?.pluginId, pluginId);
      assert.equal(callResult?.vendorId, connected);
      assert.equal((callResult as { raw?: string } | undefined)?.raw, scenario.rawCodes.connected);

      await waitForActivity(hub, b, (x) => x.attempts.some((t) => t.channel === "sms"), "fallback to SMS");
      await eventually(
        async () => (twilio.messages.some((m) => m.to === "+14155550102") ? true : undefined),
        10_000,
        "the SMS",
      );
      const fellBack = await getActivity(hub, b);
      assert.equal(fellBack.attempts[0]?.status, "NO_ANSWER");
      assert.equal(fellBack.attempts[1]?.channel, "sms");
      const unreachedResult = await waitForTimelineEvent(
        hub,
        fellBack.conversationId,
        (e) => e.type === "CALL_RESULT",
        "the unreached call's result on the timeline",
      );
      assert.equal((unreachedResult as { raw?: string } | undefined)?.raw, scenario.rawCodes.noAnswer);

      const ended = await waitForActivity(
        hub,
        c,
        (x) => x.attempts[0]?.status === scenario.third.status,
        scenario.third.status,
      );
      if (scenario.third.reasonCode) assert.equal(ended.attempts[0]?.reasonCode, scenario.third.reasonCode);
      assert.equal(vendor.appliedAppends(), 1, "nothing appended again");
    });

    test("a contact the vendor refuses ends FAILED with its message through the plugin's event; the journey moves on to SMS", async () => {
      const before = vendor.appliedAppends();
      vendor.rejectNextAppend();
      const res = await hub.api("POST", "/api/v1/activities", {
        activities: [
          {
            customer: { id: "rf-1", firstName: "Di", phone: "+14155550121" },
            channel: "voice",
            campaignId: "renewals",
            fallbackPolicy: "voice-sms",
            content: { text: "Hi {{firstName}}, about your renewal." },
          },
        ],
      });
      assert.equal(res.status, 202, res.text);
      const [id] = (res.body as { activities: { id: string }[] }).activities.map((i) => i.id) as [string];
      const moved = await waitForActivity(
        hub,
        id,
        (a) => a.attempts.some((t) => t.channel === "sms"),
        "fallback to SMS",
      );
      const refused = moved.attempts[0]!;
      assert.equal(refused.status, "FAILED");
      assert.equal(refused.reasonCode, "CISCO_INVALID_ROW");
      assert.match(refused.reason ?? "", /is not a dialable number/, "the vendor's message");
      assert.equal(vendor.rowCount(refused.id), 0, "never appended");
      assert.equal(vendor.appliedAppends(), before, "the refused append applied nothing");
    });

    test("flush through the API: the campaign's contacts deleted, the open activities CANCELLED; bad input 400, unknown action 404", async () => {
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
      await Promise.all(ids.map((id) => waitForActivity(hub, id, (a) => a.status === "QUEUED", "accepted")));
      await eventually(async () => vendor.campaignSize() >= 2, 10_000, "the append");

      const bad = await hub.api("POST", `/api/v1/plugins/${pluginId}/actions/flush`, {});
      assert.equal(bad.status, 400, bad.text);
      assert.match(bad.text, /campaign/);
      assert.equal((await hub.api("POST", `/api/v1/plugins/${pluginId}/actions/nope`, {})).status, 404);

      const flushed = await hub.api("POST", `/api/v1/plugins/${pluginId}/actions/flush`, { campaign: "renewals" });
      assert.equal(flushed.status, 200, flushed.text);
      assert.equal(vendor.campaignSize(), 0);
      assert.ok(vendor.saw("DELETE", vendor.flushPath));
      for (const id of ids) {
        const a = await waitForActivity(hub, id, (x) => x.attempts[0]?.status === "CANCELLED", "CANCELLED");
        assert.equal(a.attempts.length, 1);
        assert.equal(a.attempts[0]?.reasonCode, "CAMPAIGN_FLUSHED");
      }
    });
  });
}
