/**
 * Secrets at rest: a webhook subscription's secret and the secret options of a plugin added by
 * API are stored sealed (nothing in the database holds them in clear), and still work.
 */
import assert from "node:assert/strict";
import { afterAll, beforeAll, describe, test } from "@jest/globals";
import { startTwilioServer, type TwilioTestServer } from "../vendors/twilio-server.ts";
import { eventually, startTestHub, type TestHub } from "../support/hub.ts";

describe("secrets at rest", () => {
  let hub: TestHub;
  let twilio: TwilioTestServer;
  beforeAll(async () => {
    twilio = await startTwilioServer();
    hub = await startTestHub({ plugins: [] });
  });
  afterAll(async () => {
    await hub?.stop();
    await twilio?.stop();
  });

  async function everything(): Promise<string> {
    const db = hub.runtime.store.conn.db!;
    const names = (await db.listCollections().toArray()).map((c) => c.name);
    const docs = await Promise.all(names.map((n) => db.collection(n).find({}).toArray()));
    return JSON.stringify(docs);
  }

  test("a webhook secret and a plugin's authToken are sealed in the database, and the plugin still sends", async () => {
    const webhookSecret = "whsec-0123456789-abcdefghij";
    const sub = await hub.api("POST", "/api/v1/webhooks", {
      url: "http://127.0.0.1:9/hook",
      secret: webhookSecret,
      events: ["*"],
    });
    assert.equal(sub.status, 201, sub.text);
    const added = await hub.api("POST", "/api/v1/plugins", {
      id: "sms",
      use: "sms-twilio",
      options: twilio.pluginOptions({ from: "+15005550006", maxPerSecond: 100 }),
    });
    assert.equal(added.status, 200, added.text);
    assert.equal((added.body as { state: string }).state, "ready");

    const stored = await everything();
    assert.ok(!stored.includes(webhookSecret), "the webhook secret is not in the database in clear");
    assert.ok(!stored.includes(twilio.authToken), "the plugin's authToken is not in the database in clear");
    assert.match(stored, /enc:v1:/);

    const res = await hub.api("POST", "/api/v1/activities", {
      customer: { id: "s-1", phone: "+14155550199" },
      channel: "sms",
      content: { text: "sealed and sent" },
    });
    assert.equal(res.status, 202, res.text);
    await eventually(async () => twilio.messages.some((m) => m.body === "sealed and sent"), 10_000);
  });
});
