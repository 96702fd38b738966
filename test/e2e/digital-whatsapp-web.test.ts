/**
 * whatsapp-web through the hub: no webhook, its events come over the client's socket and
 * reach the hub through `ctx.emit` -> `ccm.ingest`, the same ingestion as vendor webhooks.
 * The plugin's own code runs for real; only the whatsapp-web.js client is the fake one of its
 * tests, given through a fixture plugin folder whose entry passes the hooks.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, test, beforeAll, afterAll } from "@jest/globals";
import { pathToFileURL } from "node:url";
import { PLUGINS_DIR } from "../../core/plugins/catalog.ts";
import { FakeWhatsAppVendor } from "../../plugins/whatsapp-web/whatsapp-web.fake-client.ts";
import { eventually, startTestHub, type TestHub } from "../support/hub.ts";
import { getActivity, schedule, suppression, timeline, waitForActivity } from "./digital-helpers.ts";

/** Where the fixture entry finds the test's fake vendor (the host imports plugins with a cache-busting query). */
const VENDOR_KEY = Symbol.for("dialmesh.test.whatsapp-web-fake.vendor");

/** plugins/ as the hub sees it in this test: the real plugins, plus `whatsapp-web-fake`. */
function pluginsFixture(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "dialmesh-plugins-"));
  symlinkSync(path.join(PLUGINS_DIR, "whatsapp-web"), path.join(dir, "whatsapp-web"));
  const fake = path.join(dir, "whatsapp-web-fake");
  mkdirSync(fake);
  const manifest = JSON.parse(readFileSync(path.join(PLUGINS_DIR, "whatsapp-web", "plugin.json"), "utf8")) as Record<
    string,
    unknown
  >;
  delete manifest.$schema;
  writeFileSync(
    path.join(fake, "plugin.json"),
    JSON.stringify({ ...manifest, name: "whatsapp-web-fake", entry: "./index.mjs" }, null, 2),
  );
  const provider = pathToFileURL(path.join(PLUGINS_DIR, "whatsapp-web", "whatsapp-web.provider.ts")).href;
  writeFileSync(
    path.join(fake, "index.mjs"),
    [
      `import { createWhatsAppWebPlugin } from ${JSON.stringify(provider)};`,
      `const vendor = globalThis[Symbol.for(${JSON.stringify(VENDOR_KEY.description)})];`,
      `export default (ctx) => createWhatsAppWebPlugin(ctx, { createClient: vendor.factory });`,
      "",
    ].join("\n"),
  );
  return dir;
}

describe("whatsapp-web through the hub: ACKs, replies and STOP over the socket", () => {
  const vendor = new FakeWhatsAppVendor({ paired: true });
  let hub: TestHub;

  beforeAll(async () => {
    (globalThis as Record<symbol, unknown>)[VENDOR_KEY] = vendor;
    hub = await startTestHub(
      {
        plugins: [{ id: "wweb", use: "whatsapp-web-fake", options: {} }],
        compliance: { optOutKeywords: { pt: { optOut: ["PARAR"] } } },
      },
      { pluginsDir: pluginsFixture() },
    );
  });
  afterAll(async () => {
    await hub?.stop();
    delete (globalThis as Record<symbol, unknown>)[VENDOR_KEY];
  });

  test("ACKs move the attempt forward only; a reply lands on the conversation; STOP and hub-wide keywords suppress", async () => {
    const plugins = await hub.api("GET", "/api/v1/plugins");
    const instance = (plugins.body as { instances: { id: string; state: string }[] }).instances.find(
      (i) => i.id === "wweb",
    );
    assert.equal(instance?.state, "ready");

    const phone = "+14155550170";
    const id = await schedule(hub, { customer: { id: "ww-1", phone }, channel: "whatsapp", content: { text: "Olá!" } });
    const queued = await waitForActivity(hub, id, (a) => a.status === "QUEUED", "activity QUEUED");
    assert.equal(vendor.accepted.length, 1);
    assert.equal(vendor.accepted[0]!.chatId, "14155550170@c.us");
    const vendorId = queued.attempts[0]!.vendorId!;
    assert.equal(vendorId, vendor.accepted[0]!.id);

    const client = vendor.current;
    client.ack(vendorId, 1);
    client.ack(vendorId, 2);
    await waitForActivity(hub, id, (a) => a.status === "DELIVERED", "DELIVERED");
    client.ack(vendorId, 3);
    await waitForActivity(hub, id, (a) => a.status === "READ", "READ");
    // Late and repeated ACKs change nothing.
    client.ack(vendorId, 2);
    client.ack(vendorId, 3);
    client.receive({ from: "14155550170@c.us", body: "Obrigado!" });
    const events = await eventually(
      async () => {
        const t = await timeline(hub, queued.conversationId);
        return t.some((e) => e.type === "REPLIED") ? t : undefined;
      },
      5000,
      "the reply on the timeline",
    );
    assert.equal((await getActivity(hub, id)).status, "READ");
    assert.deepEqual(
      events.filter((e) => e.type === "STATUS").map((e) => e.status),
      ["SENT", "DELIVERED", "READ"],
    );
    const reply = events.find((e) => e.type === "REPLIED");
    assert.deepEqual(
      [reply?.channel, reply?.address, reply?.text, reply?.pluginId],
      ["whatsapp", phone, "Obrigado!", "wweb"],
    );

    // STOP over the socket suppresses; a hub-wide keyword works for this plugin too.
    client.receive({ from: "14155550170@c.us", body: "stop" });
    const entry = await eventually(
      async () => {
        const e = await suppression(hub, phone);
        return e.suppressed ? e : undefined;
      },
      5000,
      "suppression after STOP",
    );
    assert.match(entry.reason ?? "", /keyword "stop"/);
    const blocked = await schedule(hub, {
      customer: { id: "ww-1", phone },
      channel: "whatsapp",
      content: { text: "Oferta" },
    });
    const b = await waitForActivity(hub, blocked, (a) => a.attempts.length > 0, "blocked attempt");
    assert.equal(b.attempts[0]!.status, "BLOCKED");
    assert.equal(vendor.accepted.length, 1, "nothing more reached WhatsApp");

    const other = "+14155550171";
    client.receive({ from: "14155550171@c.us", body: "Parar" });
    await eventually(
      async () => (await suppression(hub, other)).suppressed,
      5000,
      "suppression after the hub-wide keyword PARAR",
    );
  });
});
