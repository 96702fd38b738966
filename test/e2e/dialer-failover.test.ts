/**
 * Seed 000's dialer failover rows that need more than one switch, end to end through the REST
 * API (the gateway rows are in dialer.test.ts, the killed node in test/multinode/dialer-kill):
 * - the switch cannot be reached: each attempt fails NETWORK_ERROR, retryable, so the
 *   activity's retries run and its fallback chain goes on to SMS;
 * - the voice plugin is not loaded: the campaign's contacts stay pending, and are dialled once
 *   each when it is back.
 */
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { afterAll, beforeAll, describe, test } from "@jest/globals";
import { startEslSwitch, type EslSwitch } from "../support/esl-switch/switch.ts";
import { startTwilioServer, type TwilioTestServer } from "../vendors/twilio-server.ts";
import { eventually, startTestHub, type TestHub } from "../support/hub.ts";
import { afternoonZone } from "../support/zones.ts";
import { getActivity, waitForActivity } from "./digital-helpers.ts";

const PASSWORD = "dialer-failover-secret";

/** A loopback port nothing listens on: the switch that cannot be reached. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("dialer failover", () => {
  let sw: EslSwitch;
  let twilio: TwilioTestServer;
  let hub: TestHub;
  const zone = afternoonZone();

  beforeAll(async () => {
    sw = await startEslSwitch({ password: PASSWORD, timeScale: 0.005 });
    twilio = await startTwilioServer();
    const unreachable = await closedPort();
    hub = await startTestHub({
      plugins: [
        {
          id: "live",
          use: "voice-freeswitch",
          options: {
            esl: { host: "127.0.0.1", port: sw.port, password: PASSWORD },
            gateway: "carrier1",
            callerId: "+14155550100",
          },
        },
        {
          id: "gone",
          use: "voice-freeswitch",
          options: {
            esl: { host: "127.0.0.1", port: unreachable, password: PASSWORD },
            gateway: "carrier1",
            callerId: "+14155550100",
          },
        },
        {
          id: "tw",
          use: "sms-twilio",
          channels: ["sms"],
          options: twilio.pluginOptions({ from: "+15005550006", maxPerSecond: 100 }),
        },
      ],
      routing: { voice: { strategy: "failover", plugins: ["live", "gone"] } },
      fallbacks: { "voice-sms": { steps: [{ channel: "voice" }, { channel: "sms" }] } },
      dialer: { pulseMs: 50, leaseMs: 3_000 },
      scheduler: { maxRetries: 2, retryBaseMs: 50 },
    });
    for (const [id, voicePlugin] of [
      ["unreachable", "gone"],
      ["paused", "live"],
    ] as const) {
      const put = await hub.api("PUT", `/api/v1/dialer/campaigns/${id}`, {
        mode: "agentless",
        ivr: { extension: "loopback/ivr" },
        voicePlugin,
      });
      assert.equal(put.status, 201, put.text);
    }
  });
  afterAll(async () => {
    await hub?.stop();
    await twilio?.stop();
    await sw?.close();
  });

  test("switch unreachable: every attempt NETWORK_ERROR, retryable; the retries run, then the chain goes on to SMS", async () => {
    assert.equal((await hub.api("POST", "/api/v1/dialer/campaigns/unreachable/start")).status, 200);
    const res = await hub.api("POST", "/api/v1/activities", {
      customer: { id: "fo-1", phone: "+14155550177", timezone: zone },
      channel: "voice",
      pluginId: "gone",
      campaignId: "unreachable",
      fallbackPolicy: "voice-sms",
      content: { text: "We could not reach you by phone." },
    });
    assert.equal(res.status, 202, res.text);
    const id = (res.body as { id: string }).id;
    const done = await waitForActivity(
      hub,
      id,
      (a) => a.attempts.some((t) => t.channel === "sms" && t.status === "QUEUED"),
      "SMS queued at Twilio",
    );
    const voice = done.attempts.filter((t) => t.channel === "voice");
    assert.equal(voice.length, 3, "the first attempt and scheduler.maxRetries retries");
    for (const t of voice) {
      assert.equal(t.status, "NETWORK_ERROR", JSON.stringify(t));
      assert.equal(t.retryable, true);
    }
    assert.equal(twilio.messages.filter((m) => m.to === "+14155550177").length, 1, "one SMS");
    assert.equal(sw.originateCount("+14155550177"), 0, "the reachable switch was never asked");
  });

  test("voice plugin not loaded: the campaign's contacts stay pending, and are dialled once each when it is back", async () => {
    const numbers = ["+14155550181", "+14155550182", "+14155550183"];
    // Handed to the dialer while the campaign is stopped, so the contacts wait in it.
    const res = await hub.api("POST", "/api/v1/activities", {
      activities: numbers.map((phone, i) => ({
        customer: { id: `pa-${i}`, phone, timezone: zone },
        channel: "voice",
        pluginId: "live",
        campaignId: "paused",
        content: {},
      })),
    });
    assert.equal(res.status, 202, res.text);
    const ids = (res.body as { activities: { id: string }[] }).activities.map((a) => a.id);
    await Promise.all(ids.map((id) => waitForActivity(hub, id, (a) => a.status === "QUEUED", `${id} QUEUED`)));

    const disable = await hub.api("POST", "/api/v1/plugins/live/disable");
    assert.equal(disable.status, 200, disable.text);
    assert.equal((await hub.api("POST", "/api/v1/dialer/campaigns/paused/start")).status, 200);
    // Paced (this node holds the campaign's term) but not dialled: the instance is not loaded.
    const held = await eventually(
      async () => {
        const status = (await hub.api("GET", "/api/v1/dialer/campaigns/paused/status")).body as {
          pacedBy: string | null;
          contacts: { pending: number; dialed: number };
        };
        return status.pacedBy !== null && status;
      },
      10_000,
      "the campaign paced",
    );
    assert.equal(held.contacts.pending, 3);
    assert.equal(held.contacts.dialed, 0);
    for (const phone of numbers) assert.equal(sw.originateCount(phone), 0, `${phone} not dialled while unloaded`);

    const enable = await hub.api("POST", "/api/v1/plugins/live/enable");
    assert.equal(enable.status, 200, enable.text);
    for (const id of ids) await waitForActivity(hub, id, (a) => a.status === "CONNECTED", `${id} CONNECTED`);
    for (const phone of numbers) assert.equal(sw.originateCount(phone), 1, `${phone} dialled once`);
    for (const id of ids)
      assert.equal((await getActivity(hub, id)).attempts.length, 1, "no attempt spent while unloaded");
  });
});
