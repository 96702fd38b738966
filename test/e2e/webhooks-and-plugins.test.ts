import { describe, test, beforeAll, afterAll } from "@jest/globals";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { createHmac } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { PLUGINS_DIR } from "../../core/plugins/catalog.ts";
import { startReceiver, type Receiver } from "../webhooks/receiver.ts";
import { startSmtpServer, type LocalSmtpServer } from "../vendors/smtp-server.ts";
import { eventually, startTestHub, type TestHub } from "../support/hub.ts";

/** A plugins folder with the real email plugin and two broken ones. */
function pluginsFixture(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "dialmesh-plugins-"));
  symlinkSync(path.join(PLUGINS_DIR, "email-smtp"), path.join(dir, "email-smtp"));
  const manifest = (name: string) => ({
    name,
    version: "0.0.1",
    channels: ["sms"],
    entry: `./${name}.provider.ts`,
    capabilities: {},
    optionsSchema: { type: "object", properties: { token: { type: "string" } } },
    secretOptions: ["token"],
  });
  for (const name of ["crash-on-start", "throws-on-send"]) {
    mkdirSync(path.join(dir, name));
    writeFileSync(path.join(dir, name, "plugin.json"), JSON.stringify(manifest(name)));
  }
  writeFileSync(
    path.join(dir, "crash-on-start", "crash-on-start.provider.ts"),
    `export default () => { throw new Error("vendor SDK missing"); };\n`,
  );
  writeFileSync(
    path.join(dir, "throws-on-send", "throws-on-send.provider.ts"),
    `export default (ctx: { options: { token: string } }) => ({
  send: async () => { throw new Error("boom with token " + ctx.options.token); },
  health: async () => ({ ok: true }),
});\n`,
  );
  return dir;
}

const sms = { customer: { id: "s-1", phone: "+14155550123" }, channel: "sms", content: { text: "hi" } };

describe("webhook subscriptions and plugins through the API", () => {
  let smtp: LocalSmtpServer;
  let receiver: Receiver;
  let hub: TestHub;

  beforeAll(async () => {
    smtp = await startSmtpServer();
    receiver = await startReceiver();
    hub = await startTestHub(
      {
        plugins: [
          {
            id: "mail",
            use: "email-smtp",
            options: { host: "127.0.0.1", port: smtp.port, from: "noreply@example.com" },
          },
        ],
        webhooks: { maxAttempts: 2, backoff: { baseDelayMs: 50, maxDelayMs: 100, jitter: 0 } },
        scheduler: { maxRetries: 0 },
      },
      { pluginsDir: pluginsFixture() },
    );
  });
  afterAll(async () => {
    await hub?.stop();
    await receiver?.close();
    await smtp?.stop();
  });

  test("subscribers get signed activity.status notifications; failures end as dead letters that replay", async () => {
    const secret = "whsec-0123456789abcdef";
    const sub = await hub.api("POST", "/api/v1/webhooks", { url: receiver.url, secret, events: ["activity.status"] });
    assert.equal(sub.status, 201, sub.text);
    const listed = await hub.api("GET", "/api/v1/webhooks");
    assert.ok(!listed.text.includes(secret), "the secret is never listed");

    await hub.api("POST", "/api/v1/activities", {
      customer: { id: "w-1", email: "w1@example.com" },
      channel: "email",
      content: { text: "x" },
    });
    await receiver.waitFor(1);
    const first = receiver.requests[0]!;
    const expected = `sha256=${createHmac("sha256", secret).update(first.rawBody).digest("hex")}`;
    assert.equal(first.headers["x-dialmesh-signature"], expected);
    const payload = JSON.parse(first.rawBody.toString()) as { event: string; data: { status: string } };
    assert.equal(payload.event, "activity.status");
    assert.equal(payload.data.status, "SENT");

    // The receiver now fails: after 2 attempts the delivery is a dead letter.
    receiver.respond = () => ({ status: 500 });
    await hub.api("POST", "/api/v1/activities", {
      customer: { id: "w-2", email: "w2@example.com" },
      channel: "email",
      content: { text: "x" },
    });
    const dead = await eventually(
      async () => {
        const r = await hub.api("GET", "/api/v1/webhooks/dead-letters");
        const list = (r.body as { deadLetters: { id: string; attempts: number }[] }).deadLetters;
        return list.length === 1 ? list : undefined;
      },
      10_000,
      "a dead letter",
    );
    assert.equal(dead[0]!.attempts, 2);

    receiver.respond = () => ({ status: 204 });
    const before = receiver.requests.length;
    const replay = await hub.api("POST", `/api/v1/webhooks/dead-letters/${dead[0]!.id}/replay`);
    assert.equal(replay.status, 200, replay.text);
    await receiver.waitFor(before + 1);
    const empty = await hub.api("GET", "/api/v1/webhooks/dead-letters");
    await eventually(
      async () =>
        ((await hub.api("GET", "/api/v1/webhooks/dead-letters")).body as { deadLetters: unknown[] }).deadLetters
          .length === 0,
    );
    assert.equal(empty.status, 200);
  });

  test("webhook targets on private networks are refused unless allowed", async () => {
    // This hub allows them (tests need loopback); the refusal itself is covered by the outbox tests.
    const bad = await hub.api("POST", "/api/v1/webhooks", { url: "ftp://example.com/x", events: ["*"] });
    assert.equal(bad.status, 400);
    assert.equal((bad.body as { details: { path: string }[] }).details[0]!.path, "/url");
  });

  test("a plugin added at run time carries its channel at once; a broken one fails only its own activities", async () => {
    const crash = await hub.api("POST", "/api/v1/plugins", { id: "sms-crash", use: "crash-on-start" });
    assert.equal(crash.status, 200, crash.text);
    assert.equal((crash.body as { state: string }).state, "failed");
    assert.match((crash.body as { error: string }).error, /vendor SDK missing/);

    const res = await hub.api("POST", "/api/v1/activities", sms);
    assert.equal(res.status, 202, "the channel of a failed plugin is still accepted");
    const id = (res.body as { id: string }).id;
    const failed = await eventually(async () => {
      const a = (await hub.api("GET", `/api/v1/activities/${id}`)).body as {
        attempts: { status: string; reasonCode: string; reason: string }[];
      };
      return a.attempts[0]?.status === "FAILED" ? a.attempts[0] : undefined;
    });
    assert.equal(failed.reasonCode, "PLUGIN_UNAVAILABLE");
    assert.match(failed.reason, /vendor SDK missing/);

    // Email still works: the hub is not taken down.
    const mail = await hub.api("POST", "/api/v1/activities", {
      customer: { id: "m-9", email: "m9@example.com" },
      channel: "email",
      content: { text: "still here" },
    });
    assert.equal(mail.status, 202);
    await eventually(async () => smtp.messages.some((m) => m.envelope.rcptTo.includes("m9@example.com")));

    const removed = await hub.api("DELETE", "/api/v1/plugins/sms-crash");
    assert.equal(removed.status, 200);
    const after = await hub.api("POST", "/api/v1/activities", sms);
    assert.equal(after.status, 400, "without a plugin for sms the channel is unknown again");
  });

  test("errors a plugin throws are typed, and its secrets are redacted", async () => {
    const added = await hub.api("POST", "/api/v1/plugins", {
      id: "sms-throws",
      use: "throws-on-send",
      options: { token: "tok-SECRET-123" },
    });
    assert.equal(added.status, 200, added.text);
    assert.ok(!added.text.includes("tok-SECRET-123"), "options are returned without secrets");
    const res = await hub.api("POST", "/api/v1/activities", sms);
    const id = (res.body as { id: string }).id;
    const attempt = await eventually(async () => {
      const a = (await hub.api("GET", `/api/v1/activities/${id}`)).body as {
        attempts: { status: string; reasonCode: string; reason: string }[];
      };
      return a.attempts[0]?.status === "FAILED" ? a.attempts[0] : undefined;
    });
    assert.equal(attempt.reasonCode, "PLUGIN_ERROR");
    assert.match(attempt.reason, /boom with token \*\*\*/);
    const reload = await hub.api("POST", "/api/v1/plugins/sms-throws/reload");
    assert.equal(reload.status, 200);
    assert.equal(
      (await hub.api("POST", "/api/v1/plugins", { id: "mail", use: "email-smtp" })).status,
      409,
      "config-file plugins are changed in the file",
    );
    assert.equal((await hub.api("POST", "/api/v1/plugins", { id: "x", use: "no-such-plugin" })).status, 400);
  });
});
