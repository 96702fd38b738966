/**
 * Plugins identical on every node: an instance added, reloaded, disabled, enabled or removed
 * through either node's API is in force on both, over NATS and over the in-process transport;
 * a node that starts later loads what the others run; and a node restarted with due work and a
 * slow plugin dispatches only once the plugin is loaded (no NO_PLUGIN, no retry spent).
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, test, beforeAll, afterAll } from "@jest/globals";
import { PLUGINS_DIR } from "../../core/plugins/catalog.ts";
import { startNats, type RunningService } from "../../core/infra/processes.ts";
import { eventually, startTestHub, type TestHub } from "../support/hub.ts";
import { freshDatabaseUrl } from "../support/mongo.ts";

/** A plugins folder with email-smtp and `boot-sms`: an SMS plugin whose `boot` view names its load. */
function pluginsFixture(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "dialmesh-plugins-"));
  symlinkSync(path.join(PLUGINS_DIR, "email-smtp"), path.join(dir, "email-smtp"));
  for (const [name, startDelayMs] of [
    ["boot-sms", 0],
    ["slow-sms", 1500],
  ] as const) {
    mkdirSync(path.join(dir, name));
    writeFileSync(
      path.join(dir, name, "plugin.json"),
      JSON.stringify({
        name,
        version: "1.0.0",
        channels: ["sms", "whatsapp"],
        entry: `./${name}.provider.ts`,
        capabilities: {},
        optionsSchema: { type: "object", properties: { tag: { type: "string" } }, additionalProperties: false },
      }),
    );
    writeFileSync(
      path.join(dir, name, `${name}.provider.ts`),
      `import { randomUUID } from "node:crypto";
import { definePlugin } from "@dialmesh/sdk";
export default definePlugin<{ tag?: string }>((ctx) => {
  const boot = randomUUID();
  return {
    // A vendor SDK that takes a while to connect (${startDelayMs} ms).
    start: () => new Promise<void>((resolve) => setTimeout(resolve, ${startDelayMs})),
    send: async (req) => ({ status: "SENT", vendorId: ctx.options.tag + ":" + req.attemptId }),
    health: async () => ({ ok: true }),
    views: { boot: async () => ({ boot, tag: ctx.options.tag }) },
  };
});
`,
    );
  }
  return dir;
}

interface Listed {
  id: string;
  state: string;
  options?: { tag?: string };
}

async function instance(hub: TestHub, id: string): Promise<Listed | undefined> {
  const list = (await hub.api("GET", "/api/v1/plugins")).body as { instances: Listed[] };
  return list.instances.find((i) => i.id === id);
}

async function boot(hub: TestHub, id: string): Promise<string | undefined> {
  const res = await hub.api("GET", `/api/v1/plugins/${id}/boot`);
  return res.status === 200 ? (res.body as { boot: string }).boot : undefined;
}

/** Waits until `check` holds on both nodes (a few seconds at most: the change is broadcast). */
async function onBoth(nodes: TestHub[], what: string, check: (hub: TestHub) => Promise<boolean>): Promise<void> {
  await eventually(async () => (await Promise.all(nodes.map(check))).every(Boolean), 8_000, `${what} on both nodes`);
}

const sms = (i: number) => ({
  customer: { id: `c-${i}`, phone: `+1415555${String(2000 + i)}` },
  channel: "sms",
  content: { text: "hi" },
});

for (const transport of ["nats", "in-process"] as const) {
  describe(`plugin changes reach every node (${transport} transport)`, () => {
    let nats: RunningService | undefined;
    let a: TestHub;
    let b: TestHub | undefined;
    const mongoUrl = freshDatabaseUrl(`plugsync_${transport.replace("-", "")}`);
    const pluginsDir = pluginsFixture();
    let transporter: string;

    const start = (nodeId: string) =>
      startTestHub(
        {
          transporter,
          plugins: [{ id: "mail", use: "email-smtp", options: { host: "127.0.0.1", port: 1, from: "a@b.co" } }],
        },
        { mongoUrl, nodeId: `${nodeId}-${transport}`, pluginsDir },
      );

    beforeAll(async () => {
      if (transport === "nats") nats = await startNats();
      // Moleculer's Fake transporter: brokers in one process, over an in-memory bus.
      transporter = nats ? nats.url : "Fake";
      a = await start("a");
    });
    afterAll(async () => {
      await b?.stop();
      await a?.stop();
      await nats?.stop();
    });

    test("added on one node, then a node that starts later loads it too", async () => {
      const added = await a.api("POST", "/api/v1/plugins", {
        id: "texts",
        use: "boot-sms",
        channels: ["sms"],
        options: { tag: "v1" },
      });
      assert.equal(added.status, 200, added.text);
      b = await start("b");
      const nodes = [a, b];
      await onBoth(nodes, "texts ready", async (h) => (await instance(h, "texts"))?.state === "ready");
      const res = await b.api("POST", "/api/v1/activities", sms(1));
      assert.equal(res.status, 202, res.text);
    });

    test("added, reloaded, disabled, enabled and removed through either node", async () => {
      assert.ok(b);
      const nodes = [a, b];
      // A second SMS carrier would need a routing entry: the API refuses to make routing ambiguous.
      const ambiguous = await b.api("POST", "/api/v1/plugins", { id: "more", use: "boot-sms", options: { tag: "m1" } });
      assert.equal(ambiguous.status, 400, ambiguous.text);
      assert.match(ambiguous.text, /carried by texts and more/);

      const added = await b.api("POST", "/api/v1/plugins", {
        id: "more",
        use: "boot-sms",
        channels: ["whatsapp"],
        options: { tag: "m1" },
      });
      assert.equal(added.status, 200, added.text);
      await onBoth(nodes, "more added", async (h) => (await instance(h, "more"))?.options?.tag === "m1");

      const before = await Promise.all(nodes.map((h) => boot(h, "texts")));
      assert.ok(before.every(Boolean));
      const reloaded = await b.api("POST", "/api/v1/plugins/texts/reload");
      assert.equal(reloaded.status, 200, reloaded.text);
      await onBoth(nodes, "texts reloaded", async (h) => {
        const now = await boot(h, "texts");
        return now !== undefined && !before.includes(now);
      });

      const disabled = await a.api("POST", "/api/v1/plugins/texts/disable");
      assert.equal(disabled.status, 200, disabled.text);
      await onBoth(nodes, "texts disabled", async (h) => (await instance(h, "texts"))?.state === "disabled");

      const enabled = await b.api("POST", "/api/v1/plugins/texts/enable");
      assert.equal(enabled.status, 200, enabled.text);
      await onBoth(nodes, "texts enabled", async (h) => (await instance(h, "texts"))?.state === "ready");

      const removed = await a.api("DELETE", "/api/v1/plugins/more");
      assert.equal(removed.status, 200, removed.text);
      await onBoth(nodes, "more removed", async (h) => (await instance(h, "more")) === undefined);
    });
  });
}

describe("a node restarted with due work and a slow plugin", () => {
  const mongoUrl = freshDatabaseUrl("plugsync_restart");
  const pluginsDir = pluginsFixture();
  const config = {
    plugins: [{ id: "slow", use: "slow-sms", options: { tag: "s" } }],
    scheduler: { maxRetries: 0 },
  };
  let hub: TestHub | undefined;
  afterAll(async () => {
    await hub?.stop();
  });

  test("dispatches only once the plugin is loaded: no attempt fails with NO_PLUGIN", async () => {
    // Accepted by a node that then stops before they are due.
    const first = await startTestHub(config, { mongoUrl, nodeId: "restart-1", pluginsDir });
    const dueAt = new Date(Date.now() + 1_000).toISOString();
    const res = await first.api("POST", "/api/v1/activities", {
      activities: Array.from({ length: 20 }, (_, i) => ({ ...sms(i), dueAt })),
    });
    assert.equal(res.status, 202, res.text);
    const ids = (res.body as { activities: { id: string }[] }).activities.map((x) => x.id);
    await first.stop();
    // Due while no node runs; the next node's plugin takes 1.5 s to start.
    await eventually(async () => Date.now() > Date.parse(dueAt), 5_000, "the activities to be due");
    hub = await startTestHub(config, { mongoUrl, nodeId: "restart-2", pluginsDir });
    const done = await eventually(
      async () => {
        const all = await Promise.all(
          ids.map(
            async (id) =>
              (await hub!.api("GET", `/api/v1/activities/${id}`)).body as {
                status: string;
                attempts: { pluginId?: string; reasonCode?: string }[];
              },
          ),
        );
        return all.every((x) => x.status === "SENT") ? all : undefined;
      },
      20_000,
      "every activity SENT",
    );
    for (const a of done) {
      assert.equal(a.attempts.length, 1, JSON.stringify(a.attempts));
      assert.equal(a.attempts[0]!.pluginId, "slow");
      assert.notEqual(a.attempts[0]!.reasonCode, "NO_PLUGIN");
    }
  });
});
