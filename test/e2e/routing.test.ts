/**
 * Routing end to end: the README's example configuration as written (WhatsApp goes to the
 * WhatsApp instance, not to the SMS one listed first), and failover between two SMS instances
 * on local Twilio servers, the first answering 503.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, test, beforeAll, afterAll } from "@jest/globals";
import { startTwilioServer, TWILIO_ERRORS, type TwilioTestServer } from "../vendors/twilio-server.ts";
import { eventually, startTestHub, type TestHub } from "../support/hub.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");

interface Attempt {
  channel: string;
  pluginId?: string;
  status: string;
  reasonCode?: string;
  passedOver?: { pluginId: string; code?: string; reason: string }[];
}

/** The JSON example of the README's Configuration section, as written. */
function readmeExample(): Record<string, unknown> {
  const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Configuration"));
  const block = /```json\n([\s\S]*?)\n```/.exec(section);
  assert.ok(block, "README's Configuration section has a JSON example");
  return JSON.parse(block[1]!) as Record<string, unknown>;
}

describe("the README's example configuration", () => {
  let hub: TestHub;
  beforeAll(async () => {
    const example = readmeExample();
    // As written, but on an ephemeral port with the suite's keys.
    const { $schema: _schema, api, ...rest } = example;
    const { keys: _keys, ...apiAsWritten } = api as Record<string, unknown>;
    hub = await startTestHub({ ...rest, api: { ...apiAsWritten, port: 0 } });
  });
  afterAll(async () => {
    await hub?.stop();
  });

  test("starts, and routes each channel to the instance that carries it", async () => {
    const list = (await hub.api("GET", "/api/v1/plugins")).body as {
      routing: Record<string, { plugins: string[] }>;
    };
    assert.deepEqual(list.routing.whatsapp?.plugins, ["wa"], "WhatsApp goes to WhatsApp");
    assert.deepEqual(list.routing.sms?.plugins, ["sms"]);
    assert.deepEqual(list.routing.email?.plugins, ["mail"]);

    const res = await hub.api("POST", "/api/v1/activities", {
      customer: { id: "c-wa", phone: "+14155550123" },
      channel: "whatsapp",
      content: { text: "Hello" },
    });
    assert.equal(res.status, 202, res.text);
    const id = (res.body as { id: string }).id;
    // No vendor is reachable here: what matters is which instance the attempt went to.
    const attempt = await eventually(async () => {
      const a = (await hub.api("GET", `/api/v1/activities/${id}`)).body as { attempts: Attempt[] };
      return a.attempts[0]?.pluginId ? a.attempts[0] : undefined;
    });
    assert.equal(attempt.pluginId, "wa");
  });
});

test("two instances carrying one channel without a routing entry: the start fails, naming both, showing the fix", async () => {
  const options = { accountSid: `AC${"0".repeat(32)}`, authToken: "t", baseUrl: "http://127.0.0.1:1" };
  await assert.rejects(
    startTestHub({
      plugins: [
        { id: "sms-a", use: "sms-twilio", options: { ...options, from: "+15005550006" } },
        { id: "sms-b", use: "sms-twilio", options: { ...options, from: "+15005550007" } },
      ],
    }),
    (err: Error) => {
      assert.match(err.message, /\/routing\/sms channel "sms" is carried by sms-a and sms-b/);
      assert.match(
        err.message,
        /"routing": \{ "sms": \{ "strategy": "failover", "plugins": \["sms-a", "sms-b"\] \} \}/,
      );
      return true;
    },
  );
});

describe("failover between two SMS instances", () => {
  let first: TwilioTestServer;
  let second: TwilioTestServer;
  let hub: TestHub;
  const FROM = "+15005550006";
  const THRESHOLD = 3;

  beforeAll(async () => {
    first = await startTwilioServer();
    second = await startTwilioServer();
    hub = await startTestHub({
      plugins: [
        { id: "sms-a", use: "sms-twilio", options: first.pluginOptions({ from: FROM, maxPerSecond: 1000 }) },
        { id: "sms-b", use: "sms-twilio", options: second.pluginOptions({ from: FROM, maxPerSecond: 1000 }) },
      ],
      routing: { sms: { strategy: "failover", plugins: ["sms-a", "sms-b"] } },
      // Health comes from failed sends here, not from polls.
      pluginHealth: { intervalMs: 600_000, failureThreshold: THRESHOLD },
      scheduler: { concurrency: 2 },
    });
  });
  afterAll(async () => {
    await hub?.stop();
    await first?.stop();
    await second?.stop();
  });

  test("the first answering 503: every SMS goes out once, through the second, and the attempt says so", async () => {
    first.failNext(TWILIO_ERRORS.serviceUnavailable(), 1000);
    const phones = Array.from({ length: 12 }, (_, i) => `+1415555${String(1000 + i)}`);
    const res = await hub.api("POST", "/api/v1/activities", {
      activities: phones.map((phone, i) => ({
        customer: { id: `c-${i}`, phone },
        channel: "sms",
        content: { text: `hello ${i}` },
      })),
    });
    assert.equal(res.status, 202, res.text);
    const ids = (res.body as { activities: { id: string }[] }).activities.map((a) => a.id);

    const activities = await eventually(
      async () => {
        const all = await Promise.all(
          ids.map(async (id) => (await hub.api("GET", `/api/v1/activities/${id}`)).body as { attempts: Attempt[] }),
        );
        return all.every((a) => a.attempts.at(-1)?.status === "QUEUED") ? all : undefined;
      },
      30_000,
      "every SMS accepted by Twilio (QUEUED)",
    );

    // Exactly one message per customer, all through the second instance.
    assert.deepEqual(second.messages.map((m) => m.to).sort(), [...phones].sort());
    assert.equal(first.messages.length, 0);
    for (const a of activities) {
      assert.equal(a.attempts.length, 1, "failover happens inside the attempt: no retry spent");
      const attempt = a.attempts[0]!;
      assert.equal(attempt.pluginId, "sms-b");
      assert.equal(attempt.passedOver?.length, 1);
      const passed = attempt.passedOver![0]!;
      assert.equal(passed.pluginId, "sms-a");
      assert.ok(
        passed.code === "VENDOR_UNAVAILABLE" || /^unhealthy: \d+ sends in a row failed/.test(passed.reason),
        `passed over for a 503 or for being unhealthy: ${JSON.stringify(passed)}`,
      );
    }
    // Once unhealthy, the first instance is no longer asked.
    const refused = first.requests.filter((r) => r.status === 503).length;
    assert.ok(refused >= THRESHOLD, `sms-a was tried until it counted as unhealthy (${refused} requests)`);
    assert.ok(refused < phones.length, `and then passed over (${refused} of ${phones.length} requests)`);
    const unhealthyPassed = activities.filter((a) => a.attempts[0]!.passedOver![0]!.reason.startsWith("unhealthy"));
    assert.ok(unhealthyPassed.length > 0);

    const list = (await hub.api("GET", "/api/v1/plugins")).body as {
      instances: { id: string; health?: { routable: boolean; reason?: string } }[];
    };
    const a = list.instances.find((i) => i.id === "sms-a");
    assert.equal(a?.health?.routable, false);
    assert.match(a?.health?.reason ?? "", /sends in a row failed \(last: VENDOR_UNAVAILABLE/);
  });

  test("an activity may name its plugin instance: no routing, no failover", async () => {
    const res = await hub.api("POST", "/api/v1/activities", {
      customer: { id: "c-pin", phone: "+14155559999" },
      channel: "sms",
      pluginId: "sms-b",
      content: { text: "pinned" },
    });
    assert.equal(res.status, 202, res.text);
    const id = (res.body as { id: string }).id;
    const attempt = await eventually(async () => {
      const a = (await hub.api("GET", `/api/v1/activities/${id}`)).body as { attempts: Attempt[] };
      return a.attempts[0]?.status === "QUEUED" ? a.attempts[0] : undefined;
    });
    assert.equal(attempt.pluginId, "sms-b");
    assert.equal(attempt.passedOver, undefined);

    const bad = await hub.api("POST", "/api/v1/activities", {
      customer: { id: "c-pin", phone: "+14155559999" },
      channel: "sms",
      pluginId: "sms-c",
      content: { text: "x" },
    });
    assert.equal(bad.status, 400);
    const details = (bad.body as { details: { path: string; message: string }[] }).details;
    assert.deepEqual(
      details.map((d) => d.path),
      ["/pluginId"],
    );
    assert.match(details[0]!.message, /"sms-c" is not an enabled plugin instance \(enabled: sms-a, sms-b\)/);
  });
});
