/**
 * whatsapp-web: the plugin's own code paths (QR exposure, send, ACK mapping, replies, opt-out,
 * reconnect with backoff, health, stop) against a fake whatsapp-web.js client, plus the
 * plugin contract kit with that fake as the "local vendor". No browser, no network.
 */
import assert from "node:assert/strict";
import { describe, test } from "@jest/globals";
import { createTestContext, runPluginContract, type TestContext } from "@dialmesh/sdk/contract-kit";
import { PluginError, type CanonicalEvent, type SendRequest, isPluginError } from "@dialmesh/sdk";
import { mapAck } from "./whatsapp-web.ack.ts";
import { FakeWhatsAppVendor } from "./whatsapp-web.fake-client.ts";
import {
  createWhatsAppWebPlugin,
  WHATSAPP_WEB_HOOKS,
  type QrView,
  type WhatsAppWebOptions,
  type WhatsAppWebProvider,
} from "./whatsapp-web.provider.ts";
import type { RemoteSessionStore } from "./whatsapp-web.session-store.ts";

const CUSTOMER_PHONE = "+4915112345678";
const CUSTOMER_DIGITS = "4915112345678";

interface Rig {
  vendor: FakeWhatsAppVendor;
  plugin: WhatsAppWebProvider;
  tc: TestContext<WhatsAppWebOptions>;
  browserChecks: string[];
  dispose(): Promise<void>;
}

function rig(options: WhatsAppWebOptions = {}, vendorOptions: { paired?: boolean } = {}): Rig {
  const vendor = new FakeWhatsAppVendor(vendorOptions);
  const browserChecks: string[] = [];
  const tc = createTestContext<WhatsAppWebOptions>(
    { reconnect: { initialDelayMs: 10, maxDelayMs: 40 }, ...options },
    { instanceId: "wa-test" },
  );
  const plugin = createWhatsAppWebPlugin(tc.context, {
    createClient: vendor.factory,
    ensureBrowser: async (executablePath) => {
      browserChecks.push(executablePath);
    },
  });
  return {
    vendor,
    plugin,
    tc,
    browserChecks,
    dispose: async () => {
      await plugin.stop();
      tc.cleanup();
    },
  };
}

function request(overrides: Partial<SendRequest> = {}): SendRequest {
  return {
    attemptId: "att-1",
    activityId: "act-1",
    conversationId: "conv-1",
    channel: "whatsapp",
    customer: { id: "c1", firstName: "Ana", phone: CUSTOMER_PHONE },
    content: { text: "Hello Ana" },
    ...overrides,
  };
}

async function until(condition: () => boolean, what: string, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

async function qrView(plugin: WhatsAppWebProvider): Promise<QrView> {
  const view = plugin.views.qr;
  assert.ok(view, "the plugin exposes a qr view");
  return (await view()) as QrView;
}

async function rejection(promise: Promise<unknown>): Promise<PluginError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isPluginError(error), `expected a PluginError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected a rejection");
}

function ofKind<K extends CanonicalEvent["kind"]>(
  events: CanonicalEvent[],
  kind: K,
): Extract<CanonicalEvent, { kind: K }>[] {
  return events.filter((e): e is Extract<CanonicalEvent, { kind: K }> => e.kind === kind);
}

describe("whatsapp-web ACK mapping", () => {
  test("maps every whatsapp-web.js ACK value to the canonical status", () => {
    assert.deepEqual(
      [-1, 0, 1, 2, 3, 4].map((ack) => mapAck(ack)),
      [
        { status: "FAILED", raw: "ACK_ERROR" },
        { status: "QUEUED", raw: "ACK_PENDING" },
        { status: "SENT", raw: "ACK_SERVER" },
        { status: "DELIVERED", raw: "ACK_DEVICE" },
        { status: "READ", raw: "ACK_READ" },
        { status: "READ", raw: "ACK_PLAYED" },
      ],
    );
    assert.equal(mapAck(5), undefined);
    assert.equal(mapAck("1"), undefined);
  });
});

describe("whatsapp-web pairing and health", () => {
  test("shows the QR code in the log and the qr view, then reports ready once paired", async () => {
    const r = rig({}, { paired: false });
    try {
      assert.deepEqual(await qrView(r.plugin), { status: "stopped" });
      await r.plugin.start(); // returns at the QR code: pairing never blocks the hub's start
      assert.deepEqual(r.browserChecks, ["/usr/bin/chromium"]);

      const view = await qrView(r.plugin);
      assert.equal(view.status, "pairing");
      assert.ok("qr" in view && view.qr.startsWith("2@fakeQr1,"), "the raw QR string is served");
      assert.ok("updatedAt" in view && !Number.isNaN(Date.parse(view.updatedAt)));
      assert.ok("terminal" in view && typeof view.terminal === "string" && view.terminal.length > 0);

      const logged = r.tc.logs.find((l) => l.level === "info" && l.data?.qr === view.qr);
      assert.ok(logged, "the QR string is logged");
      assert.match(logged.msg, /GET \/api\/v1\/plugins\/wa-test\/qr/);
      assert.ok(logged.msg.includes(view.terminal ?? "?"), "the terminal rendering is in the log line");

      const health = await r.plugin.health();
      assert.equal(health.ok, false);
      assert.match(health.detail ?? "", /^pairing/);

      // WhatsApp Web rotates the code: the view follows.
      const next = r.vendor.current.refreshQr();
      const rotated = await qrView(r.plugin);
      assert.ok("qr" in rotated && rotated.qr === next);

      r.vendor.current.scanQr();
      assert.deepEqual(await qrView(r.plugin), { status: "ready" });
      assert.deepEqual(await r.plugin.health(), { ok: true, detail: "ready (CONNECTED)" });
    } finally {
      await r.dispose();
    }
  });

  test("health is not ok when the page reports a state other than CONNECTED", async () => {
    const r = rig();
    try {
      await r.plugin.start();
      r.vendor.current.state = "TIMEOUT";
      assert.deepEqual(await r.plugin.health(), { ok: false, detail: "WhatsApp Web state TIMEOUT" });
    } finally {
      await r.dispose();
    }
  });

  test("builds LocalAuth under the data dir with Debian's Chromium and the project's flags", async () => {
    const r = rig({ clientId: "sales-line" });
    try {
      await r.plugin.start();
      const [config] = r.vendor.configs;
      assert.ok(config);
      assert.equal(config.clientId, "sales-line");
      assert.equal(config.executablePath, "/usr/bin/chromium");
      assert.deepEqual(config.args, [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ]);
      assert.deepEqual(config.auth, { kind: "local", dataPath: `${r.tc.context.dataDir}/wwebjs-auth` });
      assert.ok(config.cacheDir.startsWith(r.tc.context.dataDir));
    } finally {
      await r.dispose();
    }
  });

  test("auth remote: uses the session store, and refuses to start without a database", async () => {
    const store: RemoteSessionStore = {
      sessionExists: async () => false,
      save: async () => undefined,
      extract: async () => undefined,
      delete: async () => undefined,
    };
    const vendor = new FakeWhatsAppVendor();
    const tc = createTestContext<WhatsAppWebOptions>({ auth: "remote" }, { instanceId: "wa.remote" });
    const plugin = createWhatsAppWebPlugin(tc.context, { createClient: vendor.factory, sessionStore: store });
    try {
      await plugin.start();
      const auth = vendor.configs[0]?.auth;
      assert.ok(auth?.kind === "remote");
      assert.equal(auth.store, store);
      assert.equal(auth.backupSyncIntervalMs, 300_000);
      assert.equal(vendor.configs[0]?.clientId, "wa_remote", "the instance id is made a valid clientId");
    } finally {
      await plugin.stop();
      tc.cleanup();
    }

    const tc2 = createTestContext<WhatsAppWebOptions>({ auth: "remote" });
    const orphan = createWhatsAppWebPlugin(tc2.context, { createClient: new FakeWhatsAppVendor().factory });
    try {
      const err = await rejection(orphan.start());
      assert.equal(err.code, "WA_NO_SESSION_DATABASE");
      assert.equal(err.retryable, false);
      assert.match((await orphan.health()).detail ?? "", /^failed: auth "remote"/);
    } finally {
      await orphan.stop();
      tc2.cleanup();
    }
  });

  test("a missing browser that may not be installed fails start() clearly", async () => {
    const tc = createTestContext<WhatsAppWebOptions>({ executablePath: "/nonexistent/chromium" });
    const plugin = createWhatsAppWebPlugin(tc.context); // the real default hooks, no client is built
    try {
      const err = await rejection(plugin.start());
      assert.equal(err.code, "WA_BROWSER_MISSING");
      assert.match(err.message, /\/nonexistent\/chromium/);
      const again = await rejection(plugin.start()); // a failed plugin may be started again
      assert.equal(again.code, "WA_BROWSER_MISSING");
    } finally {
      await plugin.stop();
      tc.cleanup();
    }
  });
});

describe("whatsapp-web send", () => {
  test("sends text to <digits>@c.us and returns the message id with the ACK at send time", async () => {
    const r = rig();
    try {
      await r.plugin.start();
      const result = await r.plugin.send(request({ customer: { id: "c1", phone: "+49 151 1234 5678" } }));
      assert.deepEqual(
        r.vendor.accepted.map(({ chatId, text }) => ({ chatId, text })),
        [{ chatId: `${CUSTOMER_DIGITS}@c.us`, text: "Hello Ana" }],
      );
      assert.deepEqual(result, { status: "QUEUED", vendorId: r.vendor.accepted[0]?.id, detail: "ACK_PENDING" });
      assert.deepEqual(r.tc.rateLimits, [{ key: "whatsapp-web:wa-test", perSecond: 1 }]);

      r.vendor.ackOnSend = 1;
      assert.equal((await r.plugin.send(request())).status, "SENT");

      r.vendor.ackOnSend = -1;
      const refused = await rejection(r.plugin.send(request()));
      assert.equal(refused.code, "WA_ACK_ERROR");
      assert.equal(refused.retryable, false);
    } finally {
      await r.dispose();
    }
  });

  test("a template is sent as the text configured for it", async () => {
    const r = rig({ templates: { reminder: "Hi {{1}}, your appointment is on {{2}}." } });
    try {
      await r.plugin.start();
      await r.plugin.send(
        request({ content: { template: { name: "reminder", language: "en", parameters: ["Ana", "Monday"] } } }),
      );
      assert.equal(r.vendor.accepted[0]?.text, "Hi Ana, your appointment is on Monday.");

      const unknown = await rejection(
        r.plugin.send(request({ content: { template: { name: "promo", language: "en" } } })),
      );
      assert.equal(unknown.code, "WA_TEMPLATE_UNKNOWN");
      assert.equal(unknown.retryable, false);
      assert.match(unknown.message, /"promo"/);
      assert.equal((await rejection(r.plugin.send(request({ content: {} })))).code, "EMPTY_CONTENT");
    } finally {
      await r.dispose();
    }
  });

  test("typed errors: bad address, number not on WhatsApp, not ready, dropped page", async () => {
    const r = rig({}, { paired: false });
    try {
      await r.plugin.start();
      const notReady = await rejection(r.plugin.send(request()));
      assert.equal(notReady.code, "WA_NOT_READY");
      assert.equal(notReady.retryable, true);
      assert.match(notReady.message, /pairing/);
      assert.equal(notReady.retryAfterMs, 60_000, "pairing needs a person: retry much later");

      r.vendor.current.scanQr();
      const invalid = await rejection(r.plugin.send(request({ customer: { id: "c2", phone: "12" } })));
      assert.equal(invalid.code, "INVALID_ADDRESS");
      assert.equal(invalid.retryable, false);
      assert.equal((await rejection(r.plugin.send(request({ customer: { id: "c3" } })))).code, "INVALID_ADDRESS");

      r.vendor.unregistered.add(CUSTOMER_DIGITS);
      const unregistered = await rejection(r.plugin.send(request()));
      assert.equal(unregistered.code, "WA_NOT_REGISTERED");
      assert.equal(unregistered.retryable, false);
      r.vendor.unregistered.clear();

      r.vendor.failNextTransiently();
      const dropped = await rejection(r.plugin.send(request()));
      assert.equal(dropped.code, "WA_CONNECTION");
      assert.equal(dropped.retryable, true);
      assert.equal(r.vendor.accepted.length, 0);

      await r.plugin.send(request());
      assert.equal(r.vendor.accepted.length, 1);
    } finally {
      await r.dispose();
    }
  });
});

describe("whatsapp-web inbound events", () => {
  test("message_ack events become canonical status events for our messages only", async () => {
    const r = rig();
    try {
      await r.plugin.start();
      const { vendorId } = await r.plugin.send(request());
      const client = r.vendor.current;
      for (const ack of [1, 2, 3, 4, -1, 7]) client.ack(vendorId, ack);
      client.ack("false_x@c.us_ABC", 3, false); // the customer's message was read by us: not ours
      await until(() => r.tc.emitted.length >= 5, "status events");
      await new Promise((resolve) => setTimeout(resolve, 10));

      const statuses = ofKind(r.tc.emitted, "status");
      assert.equal(r.tc.emitted.length, statuses.length);
      assert.deepEqual(
        statuses.map((e) => [e.vendorId, e.status, e.raw]),
        [
          [vendorId, "SENT", "ACK_SERVER"],
          [vendorId, "DELIVERED", "ACK_DEVICE"],
          [vendorId, "READ", "ACK_READ"],
          [vendorId, "READ", "ACK_PLAYED"],
          [vendorId, "FAILED", "ACK_ERROR"],
        ],
      );
      const failed = statuses[4];
      assert.equal(failed?.reasonCode, "WA_ACK_ERROR");
      assert.equal(failed?.retryable, false);
      assert.ok(statuses.every((e) => e.at instanceof Date));
      assert.ok(
        r.tc.logs.some((l) => l.level === "debug" && l.data?.ack === 7),
        "unknown ACK values are logged",
      );
    } finally {
      await r.dispose();
    }
  });

  test("incoming messages become replies from the sender's E.164 number; others are ignored", async () => {
    const r = rig();
    try {
      await r.plugin.start();
      const client = r.vendor.current;
      r.vendor.lids.set("123456789012345@lid", "447911123456@c.us");

      const m1 = client.receive({
        from: `${CUSTOMER_DIGITS}@c.us`,
        body: "Yes, Monday works",
        timestamp: 1_763_700_000,
      });
      client.receive({ from: `${CUSTOMER_DIGITS}@c.us`, body: "sent from the phone", fromMe: true });
      client.receive({ from: "120363025246125486@g.us", body: "group chatter" });
      client.receive({ from: "status@broadcast", body: "my status", isStatus: true });
      client.receive({ from: "999@lid", body: "unknown lid" });
      const m2 = client.receive({ from: "123456789012345@lid", body: "hello from a lid" });
      // The @lid lookup is slower than a plain number: the events still keep the arrival order.
      const m3 = client.receive({ from: `${CUSTOMER_DIGITS}@c.us`, body: "and Tuesday" });
      await until(() => r.tc.emitted.length >= 3, "three replies");
      await new Promise((resolve) => setTimeout(resolve, 10));

      assert.deepEqual(r.tc.emitted, [
        {
          kind: "reply",
          channel: "whatsapp",
          from: CUSTOMER_PHONE,
          text: "Yes, Monday works",
          vendorId: m1.id._serialized,
          at: new Date(1_763_700_000_000),
        },
        {
          kind: "reply",
          channel: "whatsapp",
          from: "+447911123456",
          text: "hello from a lid",
          vendorId: m2.id._serialized,
          at: new Date(m2.timestamp * 1000),
        },
        {
          kind: "reply",
          channel: "whatsapp",
          from: CUSTOMER_PHONE,
          text: "and Tuesday",
          vendorId: m3.id._serialized,
          at: new Date(m3.timestamp * 1000),
        },
      ]);
    } finally {
      await r.dispose();
    }
  });

  test("opt-out and opt-in keywords add events beside the reply, with the configured extra keywords", async () => {
    const r = rig({ optOutKeywords: { es: { optOut: ["BAJA"], optIn: ["ALTA"] } } });
    try {
      await r.plugin.start();
      const client = r.vendor.current;
      const from = `${CUSTOMER_DIGITS}@c.us`;
      for (const body of [" stop ", "please stop calling", "¡Baja!", "START", "alta"]) client.receive({ from, body });
      await until(() => r.tc.emitted.length >= 9, "replies and keyword events");

      assert.equal(ofKind(r.tc.emitted, "reply").length, 5, "every message is also a reply");
      const keywordEvents = r.tc.emitted
        .filter((e) => e.kind === "opt-out" || e.kind === "opt-in")
        .map((e) => ("address" in e ? [e.kind, e.address, e.channel, e.reason] : []));
      assert.deepEqual(keywordEvents, [
        ["opt-out", CUSTOMER_PHONE, "whatsapp", 'keyword "stop"'],
        ["opt-out", CUSTOMER_PHONE, "whatsapp", 'keyword "¡Baja!"'],
        ["opt-in", CUSTOMER_PHONE, "whatsapp", 'keyword "START"'],
        ["opt-in", CUSTOMER_PHONE, "whatsapp", 'keyword "alta"'],
      ]);
    } finally {
      await r.dispose();
    }
  });

  test("a failing emit is logged, not thrown into the client", async () => {
    const vendor = new FakeWhatsAppVendor();
    const tc = createTestContext<WhatsAppWebOptions>(
      {},
      {
        emit: async () => {
          throw new Error("store down");
        },
      },
    );
    const plugin = createWhatsAppWebPlugin(tc.context, { createClient: vendor.factory });
    try {
      await plugin.start();
      vendor.current.receive({ from: `${CUSTOMER_DIGITS}@c.us`, body: "hi" });
      await until(() => tc.logs.some((l) => l.level === "error"), "the error log");
      const logged = tc.logs.find((l) => l.level === "error");
      assert.deepEqual(logged?.data, { error: "store down", kinds: ["reply"] });
    } finally {
      await plugin.stop();
      tc.cleanup();
    }
  });
});

describe("whatsapp-web reconnect", () => {
  test("after disconnected: destroys the client, backs off exponentially, builds and initialises a new one", async () => {
    const r = rig({ reconnect: { initialDelayMs: 20, maxDelayMs: 50 } });
    try {
      await r.plugin.start();
      const first = r.vendor.current;
      assert.equal((await r.plugin.health()).ok, true);

      r.vendor.initializeFailures = 3; // WhatsApp Web unreachable for three attempts
      const droppedAt = Date.now();
      first.drop("CONFLICT");

      assert.equal(first.destroyed, true, "the dropped client is destroyed at once");
      const health = await r.plugin.health();
      assert.equal(health.ok, false);
      assert.match(
        health.detail ?? "",
        /^reconnecting: disconnected \(CONFLICT\); reconnecting in 20 ms \(attempt 1\)/,
      );
      assert.equal((await qrView(r.plugin)).status, "reconnecting");

      await until(() => r.vendor.clients.length === 5 && r.vendor.current.state === "CONNECTED", "the reconnect");
      const elapsed = Date.now() - droppedAt;
      assert.ok(elapsed >= 20 + 40 + 50 + 50 - 5, `the backoff waited ${elapsed} ms in all`);

      const delays = r.tc.logs.filter((l) => l.msg === "whatsapp-web: reconnecting").map((l) => l.data?.delayMs);
      assert.deepEqual(delays, [20, 40, 50, 50], "doubling from initialDelayMs, capped at maxDelayMs");
      assert.deepEqual(
        r.vendor.clients.map((c) => c.initializeCalls),
        [1, 1, 1, 1, 1],
        "each attempt is a new client, initialised once",
      );
      assert.ok(
        r.vendor.clients.slice(0, 4).every((c) => c.destroyed),
        "every failed client is destroyed",
      );
      assert.deepEqual(await r.plugin.health(), { ok: true, detail: "ready (CONNECTED)" });

      // Events of the old client are not reported any more; the new one's are.
      first.receive({ from: `${CUSTOMER_DIGITS}@c.us`, body: "late echo" });
      r.vendor.current.receive({ from: `${CUSTOMER_DIGITS}@c.us`, body: "after reconnect" });
      await until(() => r.tc.emitted.length >= 1, "the reply");
      await new Promise((resolve) => setTimeout(resolve, 10));
      assert.deepEqual(
        r.tc.emitted.map((e) => (e.kind === "reply" ? e.text : e.kind)),
        ["after reconnect"],
      );
      assert.equal((await r.plugin.send(request())).status, "QUEUED");

      // Ready again resets the backoff.
      r.vendor.current.drop("NAVIGATION");
      await until(() => r.vendor.current.state === "CONNECTED" && r.vendor.clients.length === 6, "second reconnect");
      const later = r.tc.logs.filter((l) => l.msg === "whatsapp-web: reconnecting").map((l) => l.data?.delayMs);
      assert.deepEqual(later.slice(4), [20]);
    } finally {
      await r.dispose();
    }
  });

  test("a logged-out session reconnects to a fresh QR code", async () => {
    const r = rig();
    try {
      await r.plugin.start();
      r.vendor.paired = false; // LOGOUT: the phone removed the linked device
      r.vendor.current.drop("LOGOUT");
      await until(() => r.vendor.clients.length === 2 && r.vendor.current.state === "UNPAIRED", "the new QR code");
      const view = await qrView(r.plugin);
      assert.equal(view.status, "pairing");
      assert.ok("qr" in view && view.qr.endsWith(",1"));
    } finally {
      await r.dispose();
    }
  });

  test("start() keeps retrying in the background when initialize fails; auth_failure also reconnects", async () => {
    const r = rig();
    try {
      r.vendor.initializeFailures = 1;
      await r.plugin.start();
      assert.match((await r.plugin.health()).detail ?? "", /initialize failed: net::ERR_NAME_NOT_RESOLVED/);
      await until(() => r.vendor.current.state === "CONNECTED", "ready after a retry");

      r.vendor.current.emit("auth_failure", "session restore failed");
      assert.match((await r.plugin.health()).detail ?? "", /authentication failed: session restore failed/);
      await until(() => r.vendor.clients.length === 3 && r.vendor.current.state === "CONNECTED", "ready again");
    } finally {
      await r.dispose();
    }
  });

  test("an attempt that hangs (no QR code, or authenticated but never ready) is abandoned and retried", async () => {
    const r = rig({ reconnect: { initialDelayMs: 10, maxDelayMs: 10, initTimeoutMs: 30 } });
    try {
      r.vendor.silent = true;
      await r.plugin.start(); // settles when the watchdog gives up on the first attempt
      assert.match((await r.plugin.health()).detail ?? "", /no QR code and not ready after 30 ms/);
      assert.equal(r.vendor.clients[0]?.destroyed, true);

      await until(() => r.vendor.clients.length === 2, "the second attempt");
      r.vendor.current.emit("authenticated");
      await until(() => r.vendor.clients.length === 3, "the third attempt");
      assert.ok(
        r.tc.logs.some(
          (l) => l.msg === "whatsapp-web: reconnecting" && l.data?.reason === "authenticated but not ready after 30 ms",
        ),
      );

      r.vendor.silent = false;
      await until(() => r.vendor.current.state === "CONNECTED", "ready");
      await new Promise((resolve) => setTimeout(resolve, 60));
      assert.deepEqual(await r.plugin.health(), { ok: true, detail: "ready (CONNECTED)" }, "no watchdog once ready");
    } finally {
      await r.dispose();
    }
  });

  test("stop() during the browser installation: start() builds no client", async () => {
    const vendor = new FakeWhatsAppVendor();
    const tc = createTestContext<WhatsAppWebOptions>({});
    let release: () => void = () => undefined;
    const plugin = createWhatsAppWebPlugin(tc.context, {
      createClient: vendor.factory,
      ensureBrowser: () => new Promise<void>((resolve) => (release = resolve)),
    });
    const starting = plugin.start();
    await plugin.stop();
    release();
    await starting;
    assert.equal(vendor.clients.length, 0);
    assert.deepEqual(await plugin.health(), { ok: false, detail: "stopped" });
    tc.cleanup();
  });

  test("stop() destroys the client and cancels a pending reconnect", async () => {
    const r = rig({ reconnect: { initialDelayMs: 30, maxDelayMs: 30 } });
    await r.plugin.start();
    const client = r.vendor.current;
    await r.plugin.stop();
    assert.equal(client.destroyed, true);
    assert.deepEqual(await r.plugin.health(), { ok: false, detail: "stopped" });

    await r.plugin.start();
    r.vendor.current.drop("NAVIGATION");
    await r.plugin.stop();
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(r.vendor.clients.length, 2, "no client is built after stop()");
    assert.equal((await rejection(r.plugin.send(request()))).code, "WA_NOT_READY");
    r.tc.cleanup();
  });
});

// The contract kit, with the fake client as the vendor.
const vendor = new FakeWhatsAppVendor({ paired: true });
runPluginContract<WhatsAppWebOptions>({
  pluginDir: import.meta.dirname,
  channel: "whatsapp",
  customer: { id: "contract-customer", firstName: "Ana", phone: CUSTOMER_PHONE },
  setup: async () => ({
    clientId: "contract",
    reconnect: { initialDelayMs: 10, maxDelayMs: 100 },
    // Secret option given a value so that the kit can look for leaks (unused with auth local).
    mongoUrl: "mongodb://dialmesh:s3cr3t-Pa55@127.0.0.1:1/sessions",
    [WHATSAPP_WEB_HOOKS]: { createClient: vendor.factory },
  }),
  teardown: async () => undefined,
  invalidOptions: [
    { options: { auth: "cloud" }, why: "auth is local or remote" },
    { options: { clientId: "has spaces" }, why: "clientId is letters, digits, _ and -" },
    { options: { executablePath: "chromium" }, why: "executablePath is absolute" },
    { options: { backupSyncIntervalMs: 1000 }, why: "RemoteAuth saves at most once a minute" },
    { options: { reconnect: { initialDelayMs: 0 } }, why: "the backoff starts above zero" },
    { options: { optOutKeywords: { es: { optOut: "BAJA" } } }, why: "keywords are lists" },
    { options: { apiKey: "x" }, why: "unknown option" },
  ],
  failNextPermanently: () => vendor.failNextPermanently(),
  failNextTransiently: () => vendor.failNextTransiently(),
  acceptedCount: () => vendor.accepted.length,
});
