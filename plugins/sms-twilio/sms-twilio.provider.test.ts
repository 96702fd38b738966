import assert from "node:assert/strict";
import { describe, it, beforeAll, afterAll } from "@jest/globals";
import { createTestContext, runPluginContract, type TestContext } from "@dialmesh/sdk/contract-kit";
import { PluginError, type CanonicalEvent, type ChannelPlugin, type SendRequest, isPluginError } from "@dialmesh/sdk";
import {
  signedTwilioRequest,
  startTwilioServer,
  TWILIO_ERRORS,
  type TwilioTestServer,
} from "../../test/vendors/twilio-server.ts";
import createPlugin, { rewriteUri, type SmsTwilioOptions } from "./sms-twilio.provider.ts";
import { countSegments, describeTwilioError, mapTwilioStatus, TWILIO_MESSAGE_STATUSES } from "./sms-twilio.mapping.ts";

const FROM = "+15005550006";
const CUSTOMER_PHONE = "+14155552671";
const PUBLIC_URL = "https://hub.test/webhooks/contract";

// ---------------------------------------------------------------------------------------------
// The contract kit

let contractServer: TwilioTestServer | undefined;
runPluginContract<SmsTwilioOptions>({
  pluginDir: import.meta.dirname,
  channel: "sms",
  customer: { id: "cust-1", firstName: "Ada", phone: CUSTOMER_PHONE },
  async setup() {
    contractServer = await startTwilioServer();
    return contractOptions(contractServer);
  },
  async teardown() {
    await contractServer?.stop();
  },
  invalidOptions: [
    { options: { authToken: "x", from: FROM }, why: "accountSid is required" },
    { options: { accountSid: `AC${"a".repeat(32)}`, from: FROM }, why: "authToken is required" },
    { options: { accountSid: `AC${"a".repeat(32)}`, authToken: "x" }, why: "one of from / messagingServiceSid" },
    {
      options: {
        accountSid: `AC${"a".repeat(32)}`,
        authToken: "x",
        from: FROM,
        messagingServiceSid: `MG${"b".repeat(32)}`,
      },
      why: "not both from and messagingServiceSid",
    },
    { options: { accountSid: "XX123", authToken: "x", from: FROM }, why: "accountSid starts with AC" },
    {
      options: { accountSid: `AC${"a".repeat(32)}`, authToken: "x", from: FROM, maxPerSecond: 0 },
      why: "maxPerSecond > 0",
    },
    {
      options: { accountSid: `AC${"a".repeat(32)}`, authToken: "x", from: FROM, baseUrl: "ftp://x" },
      why: "baseUrl is http(s)",
    },
  ],
  failNextPermanently: () => contractServer?.failNext(TWILIO_ERRORS.invalidTo()),
  failNextTransiently: () => contractServer?.failNext(TWILIO_ERRORS.tooManyRequests()),
  acceptedCount: () => contractServer?.messages.length ?? 0,
  signedStatusCallback: (vendorId) => need(contractServer).statusCallback(PUBLIC_URL, vendorId, "delivered"),
  forgedStatusCallback: (vendorId) =>
    need(contractServer).statusCallback(PUBLIC_URL, vendorId, "delivered", { authToken: "not-the-token" }),
});

function contractOptions(server: TwilioTestServer, extra: Partial<SmsTwilioOptions> = {}): SmsTwilioOptions {
  return { accountSid: server.accountSid, authToken: server.authToken, from: FROM, baseUrl: server.baseUrl, ...extra };
}

function need<T>(value: T | undefined): T {
  assert.ok(value !== undefined);
  return value;
}

// ---------------------------------------------------------------------------------------------
// The plugin's own paths

let seq = 0;
function request(text = "Your appointment is tomorrow at 10:00.", extra: Partial<SendRequest> = {}): SendRequest {
  seq += 1;
  return {
    attemptId: `att-${seq}`,
    activityId: `act-${seq}`,
    conversationId: `conv-${seq}`,
    channel: "sms",
    customer: { id: "c1", phone: CUSTOMER_PHONE },
    content: { text },
    ...extra,
  };
}

async function sendError(plugin: ChannelPlugin, req: SendRequest = request()): Promise<PluginError> {
  try {
    await plugin.send(req);
  } catch (err) {
    assert.ok(isPluginError(err), `expected a PluginError, got ${String(err)}`);
    return err;
  }
  assert.fail("send() should have failed");
}

describe("sms-twilio", () => {
  let server: TwilioTestServer;
  let tc: TestContext<SmsTwilioOptions>;
  let plugin: ChannelPlugin;

  const build = async (extra: Partial<SmsTwilioOptions> = {}, instanceId = "sms") => {
    const ctx = createTestContext(contractOptions(server, extra), { instanceId });
    return { ctx, plugin: await createPlugin(ctx.context) };
  };

  beforeAll(async () => {
    server = await startTwilioServer();
    ({ ctx: tc, plugin } = await build());
  });
  afterAll(async () => {
    tc.cleanup();
    await server.stop();
  });

  describe("send", () => {
    it("posts to the Messages API through baseUrl with basic auth, sender and status callback", async () => {
      const result = await plugin.send(request("Hello"));
      assert.match(result.vendorId, /^SM[0-9a-f]{32}$/);
      assert.equal(result.status, "QUEUED");
      const sent = server.messages.at(-1);
      assert.equal(sent?.sid, result.vendorId);
      assert.equal(sent?.to, CUSTOMER_PHONE);
      assert.equal(sent?.from, FROM);
      assert.equal(sent?.body, "Hello");
      assert.equal(sent?.statusCallback, "https://hub.test/webhooks/sms");
      assert.deepEqual(tc.rateLimits.at(-1), { key: `twilio:${FROM}`, perSecond: 1 });
    });

    it("sends through a Messaging Service when configured (status accepted -> QUEUED)", async () => {
      const mg = `MG${"c".repeat(32)}`;
      const { ctx, plugin: p } = await build({ from: undefined, messagingServiceSid: mg, maxPerSecond: 7 });
      const result = await p.send(request("Via service"));
      assert.equal(result.status, "QUEUED");
      const sent = server.messages.at(-1);
      assert.equal(sent?.messagingServiceSid, mg);
      assert.equal(sent?.from, undefined);
      assert.deepEqual(ctx.rateLimits, [{ key: `twilio:${mg}`, perSecond: 7 }]);
      ctx.cleanup();
    });

    it("prefixes whatsapp: for the whatsapp channel", async () => {
      const { ctx, plugin: p } = await build({ from: `whatsapp:${FROM}` });
      await p.send(request("Hi on WhatsApp", { channel: "whatsapp" }));
      const sent = server.messages.at(-1);
      assert.equal(sent?.to, `whatsapp:${CUSTOMER_PHONE}`);
      assert.equal(sent?.from, `whatsapp:${FROM}`);
      ctx.cleanup();
    });

    it("takes one rate-limiter token per SMS segment", async () => {
      const before = tc.rateLimits.length;
      await plugin.send(request("x".repeat(161))); // GSM-7, 2 segments
      assert.equal(tc.rateLimits.length - before, 2);
      assert.equal(countSegments("x".repeat(160)), 1);
      assert.equal(countSegments("x".repeat(306)), 2);
      assert.equal(countSegments("x".repeat(307)), 3);
      assert.equal(countSegments("€".repeat(80)), 1); // extension chars: 2 septets each
      assert.equal(countSegments("€".repeat(81)), 2);
      assert.equal(countSegments("ü".repeat(160)), 1);
      assert.equal(countSegments("ł".repeat(70)), 1); // UCS-2
      assert.equal(countSegments("ł".repeat(71)), 2);
    });

    it("refuses a customer without a valid phone number, without calling Twilio", async () => {
      const before = server.requests.length;
      const err = await sendError(plugin, request("x", { customer: { id: "c2" } }));
      assert.equal(err.code, "INVALID_NUMBER");
      assert.equal(err.retryable, false);
      const err2 = await sendError(plugin, request("x", { customer: { id: "c2", phone: "12" } }));
      assert.equal(err2.code, "INVALID_NUMBER");
      assert.equal(server.requests.length, before);
    });

    it("refuses an activity without text", async () => {
      const err = await sendError(plugin, request("x", { content: {} }));
      assert.equal(err.code, "NO_CONTENT");
    });
  });

  describe("API errors", () => {
    it("21610 opted out -> BLOCKED, optOut, not retryable", async () => {
      server.failNext(TWILIO_ERRORS.optedOut());
      const err = await sendError(plugin);
      assert.equal(err.status, "BLOCKED");
      assert.equal(err.optOut, true);
      assert.equal(err.retryable, false);
      assert.equal(err.code, "OPTED_OUT");
      assert.match(err.message, /21610/);
    });

    it("21211 invalid To -> FAILED, not retryable", async () => {
      server.failNext(TWILIO_ERRORS.invalidTo("+1"));
      const err = await sendError(plugin);
      assert.equal(err.code, "INVALID_NUMBER");
      assert.equal(err.status, "FAILED");
      assert.equal(err.retryable, false);
      assert.equal(err.optOut, false);
    });

    it("HTTP 429 / 20429 -> retryable with a backoff", async () => {
      server.failNext(TWILIO_ERRORS.tooManyRequests());
      const err = await sendError(plugin);
      assert.equal(err.code, "RATE_LIMITED");
      assert.equal(err.retryable, true);
      assert.ok((err.retryAfterMs ?? 0) > 0);
      server.failNext({ status: 429, code: 99999, message: "slow down" });
      const err2 = await sendError(plugin);
      assert.equal(err2.retryable, true);
      assert.ok((err2.retryAfterMs ?? 0) > 0);
    });

    it("63016 WhatsApp outside the 24 h window -> not retryable, says so", async () => {
      server.failNext(TWILIO_ERRORS.whatsappWindow());
      const err = await sendError(plugin);
      assert.equal(err.code, "WINDOW_CLOSED");
      assert.equal(err.retryable, false);
      assert.match(err.message, /24-hour/);
    });

    it("5xx -> retryable", async () => {
      server.failNext(TWILIO_ERRORS.serviceUnavailable());
      const err = await sendError(plugin);
      assert.equal(err.retryable, true);
      server.failNext({ status: 502, code: 0, message: "Bad gateway" });
      assert.equal((await sendError(plugin)).retryable, true);
    });

    it("wrong credentials -> AUTH_FAILED, health not ok, and the token appears nowhere", async () => {
      const { ctx, plugin: p } = await build({ authToken: "wrong-secret-token-123" });
      const err = await sendError(p);
      assert.equal(err.code, "AUTH_FAILED");
      assert.equal(err.retryable, false);
      const health = await p.health();
      assert.equal(health.ok, false);
      for (const text of [err.message, String(err.cause ?? ""), JSON.stringify(health), ctx.logText()]) {
        assert.ok(!text.includes("wrong-secret-token-123"));
        assert.ok(!text.includes(server.authToken));
      }
      ctx.cleanup();
    });

    it("an unreachable API -> retryable VENDOR_UNREACHABLE without the raw (credential-carrying) error", async () => {
      const { ctx, plugin: p } = await build({ baseUrl: "http://127.0.0.1:1" });
      const err = await sendError(p);
      assert.equal(err.code, "VENDOR_UNREACHABLE");
      assert.equal(err.retryable, true);
      assert.equal(err.cause, undefined);
      assert.ok(!ctx.logText().includes(server.authToken));
      ctx.cleanup();
    });

    it("maps the delivery error codes 30003-30008", () => {
      const expected: Record<string, boolean> = {
        30003: true,
        30004: false,
        30005: false,
        30006: false,
        30007: false,
        30008: true,
      };
      for (const [code, retryable] of Object.entries(expected)) {
        const info = describeTwilioError(code);
        assert.equal(info.retryable, retryable, code);
        assert.equal(info.status, "FAILED", code);
        assert.ok(info.reason.length > 0);
      }
      assert.equal(describeTwilioError(21610).optOut, true);
      assert.equal(describeTwilioError(undefined, 500).retryable, true);
      assert.equal(describeTwilioError(undefined, 400).retryable, false);
    });
  });

  describe("webhooks", () => {
    const url = "https://hub.test/webhooks/sms";

    it("maps every Twilio message status", async () => {
      const expected: Record<string, string | undefined> = {
        queued: "QUEUED",
        accepted: "QUEUED",
        scheduled: "QUEUED",
        sending: "QUEUED",
        sent: "SENT",
        delivered: "DELIVERED",
        partially_delivered: "DELIVERED",
        read: "READ",
        failed: "FAILED",
        undelivered: "FAILED",
        canceled: "CANCELLED",
        receiving: undefined,
        received: undefined,
      };
      assert.deepEqual([...TWILIO_MESSAGE_STATUSES].sort(), Object.keys(expected).sort());
      for (const [raw, status] of Object.entries(expected)) {
        assert.equal(mapTwilioStatus(raw), status, raw);
        if (status === undefined) continue;
        const result = await need(plugin.handleInbound)(server.statusCallback(url, "SM" + "1".repeat(32), raw));
        assert.equal(result.response.status, 200);
        assert.equal(result.events.length, 1, raw);
        const event = result.events[0];
        assert.equal(event?.kind, "status");
        if (event?.kind !== "status") return;
        assert.equal(event.status, status, raw);
        assert.equal(event.raw, raw);
        assert.equal(event.vendorId, "SM" + "1".repeat(32));
      }
    });

    it("keeps ErrorCode as reasonCode, with reason and retryability", async () => {
      const sid = "SM" + "2".repeat(32);
      const r1 = await need(plugin.handleInbound)(server.statusCallback(url, sid, "undelivered", { errorCode: 30003 }));
      assert.deepEqual(pick(r1.events[0]), {
        status: "FAILED",
        reasonCode: "30003",
        retryable: true,
        raw: "undelivered",
      });
      const r2 = await need(plugin.handleInbound)(server.statusCallback(url, sid, "failed", { errorCode: 30007 }));
      assert.deepEqual(pick(r2.events[0]), { status: "FAILED", reasonCode: "30007", retryable: false, raw: "failed" });
      const r3 = await need(plugin.handleInbound)(
        server.statusCallback(url, sid, "failed", { errorCode: 21610, to: "+14155552671" }),
      );
      assert.equal(pick(r3.events[0]).status, "BLOCKED");
      // An opt-out reported in a callback suppresses the recipient, as a 21610 on send does.
      assert.deepEqual(r3.events.slice(1), [
        {
          kind: "opt-out",
          channel: "sms",
          address: "+14155552671",
          reason: "Twilio 21610: recipient opted out (replied STOP)",
          at: r3.events[0]?.at,
        },
      ]);
      assert.equal(r1.events.length + r2.events.length, 2, "other errors are no opt-out");
      const r4 = await need(plugin.handleInbound)(server.statusCallback(url, sid, "undelivered", { errorCode: 63016 }));
      assert.match(r4.events[0]?.kind === "status" ? (r4.events[0].reason ?? "") : "", /24-hour/);
    });

    it("ignores an unknown status without failing", async () => {
      const r = await need(plugin.handleInbound)(server.statusCallback(url, "SM" + "3".repeat(32), "teleported"));
      assert.equal(r.response.status, 200);
      assert.deepEqual(r.events, []);
    });

    it("answers Twilio with empty TwiML", async () => {
      const r = await need(plugin.handleInbound)(server.statusCallback(url, "SM" + "4".repeat(32), "sent"));
      assert.equal(r.response.contentType, "text/xml");
      assert.match(r.response.body ?? "", /<Response\/>/);
    });

    it("refuses (403, no events) a missing, wrong or stale signature", async () => {
      const sid = "SM" + "5".repeat(32);
      const handle = need(plugin.handleInbound);
      const good = server.statusCallback(url, sid, "delivered");
      const missing = { ...good, headers: { ...good.headers, "x-twilio-signature": undefined } };
      const wrongToken = server.statusCallback(url, sid, "delivered", { authToken: "another-token" });
      const tampered = { ...good, rawBody: Buffer.from(good.rawBody.toString().replace("delivered", "read")) };
      const otherUrl = { ...good, url: "https://evil.test/webhooks/sms" };
      for (const req of [missing, wrongToken, tampered, otherUrl]) {
        const r = await handle(req);
        assert.equal(r.response.status, 403);
        assert.deepEqual(r.events, []);
      }
      assert.equal((await handle(good)).response.status, 200);
      assert.ok(!tc.logText().includes(server.authToken));
    });

    it("accepts the signature with mixed-case header names and a query string in the public URL", async () => {
      const withQuery = `${url}?tenant=a`;
      const req = server.statusCallback(withQuery, "SM" + "6".repeat(32), "sent");
      const headers = { "X-Twilio-Signature": req.headers["x-twilio-signature"] };
      const r = await need(plugin.handleInbound)({ ...req, headers });
      assert.equal(r.response.status, 200);
      assert.equal(r.events.length, 1);
    });

    it("turns an inbound message into a reply with the sender in E.164", async () => {
      const r = await need(plugin.handleInbound)(
        server.inboundMessage(url, CUSTOMER_PHONE, "See you then", { messageSid: "SMabc" }),
      );
      assert.equal(r.response.status, 200);
      assert.equal(r.response.contentType, "text/xml");
      assert.equal(r.events.length, 1);
      const reply = r.events[0];
      assert.equal(reply?.kind, "reply");
      if (reply?.kind !== "reply") return;
      assert.equal(reply.from, CUSTOMER_PHONE);
      assert.equal(reply.channel, "sms");
      assert.equal(reply.text, "See you then");
      assert.equal(reply.vendorId, "SMabc");
    });

    it("keeps media URLs and recognises WhatsApp senders", async () => {
      const r = await need(plugin.handleInbound)(
        server.inboundMessage(url, `whatsapp:${CUSTOMER_PHONE}`, "", {
          media: [{ url: "https://api.twilio.com/media/ME1", contentType: "image/jpeg" }],
        }),
      );
      const reply = r.events[0];
      assert.equal(reply?.kind, "reply");
      if (reply?.kind !== "reply") return;
      assert.equal(reply.channel, "whatsapp");
      assert.equal(reply.from, CUSTOMER_PHONE);
      assert.deepEqual(reply.media, ["https://api.twilio.com/media/ME1"]);
    });

    it("adds an opt-out event for STOP and an opt-in event for START", async () => {
      const stop = await need(plugin.handleInbound)(server.inboundMessage(url, CUSTOMER_PHONE, " stop "));
      assert.deepEqual(
        stop.events.map((e) => e.kind),
        ["reply", "opt-out"],
      );
      const optOut = stop.events[1];
      assert.ok(optOut?.kind === "opt-out");
      assert.equal(optOut.address, CUSTOMER_PHONE);
      assert.equal(optOut.channel, "sms");
      const start = await need(plugin.handleInbound)(server.inboundMessage(url, CUSTOMER_PHONE, "START"));
      assert.deepEqual(
        start.events.map((e) => e.kind),
        ["reply", "opt-in"],
      );
      const chat = await need(plugin.handleInbound)(server.inboundMessage(url, CUSTOMER_PHONE, "please don't stop"));
      assert.deepEqual(
        chat.events.map((e) => e.kind),
        ["reply"],
      );
    });

    it("uses the configured per-language keywords and Twilio's OptOutType", async () => {
      const { ctx, plugin: p } = await build({ optOutKeywords: { es: { optOut: ["BAJA"], optIn: ["ALTA"] } } });
      const baja = await need(p.handleInbound)(server.inboundMessage(url, CUSTOMER_PHONE, "Baja"));
      assert.deepEqual(
        baja.events.map((e) => e.kind),
        ["reply", "opt-out"],
      );
      const alta = await need(p.handleInbound)(server.inboundMessage(url, CUSTOMER_PHONE, "alta"));
      assert.deepEqual(
        alta.events.map((e) => e.kind),
        ["reply", "opt-in"],
      );
      // Without the option, BAJA is only a reply.
      const plain = await need(plugin.handleInbound)(server.inboundMessage(url, CUSTOMER_PHONE, "Baja"));
      assert.deepEqual(
        plain.events.map((e) => e.kind),
        ["reply"],
      );
      // Advanced Opt-Out: Twilio tells us itself.
      const params = {
        MessageSid: "SM" + "7".repeat(32),
        SmsStatus: "received",
        From: CUSTOMER_PHONE,
        To: FROM,
        Body: "Arrêt svp",
        OptOutType: "STOP",
        AccountSid: server.accountSid,
      };
      const r = await need(p.handleInbound)(signedTwilioRequest(server.authToken, url, params));
      assert.deepEqual(
        r.events.map((e) => e.kind),
        ["reply", "opt-out"],
      );
      ctx.cleanup();
    });
  });

  describe("throughput", () => {
    it("sends only once the limiter grants a slot: never faster than maxPerSecond per sender", async () => {
      const rate = 5;
      const { ctx, plugin: p } = await build({ maxPerSecond: rate }, "sms-rate");
      // The hub's limiter is shared by all nodes; here an in-process one with the same contract,
      // recording when it grants each slot. Its pacing is tested in test/store/rate-limiter.test.ts;
      // what the plugin must do is wait for a slot before every send.
      const next = new Map<string, number>();
      const grants: number[] = [];
      ctx.context.rateLimiter.acquire = async (key: string, perSecond: number) => {
        assert.equal(perSecond, rate);
        const now = Date.now();
        const slot = Math.max(now, next.get(key) ?? 0);
        next.set(key, slot + 1000 / perSecond);
        if (slot > now) await new Promise((r) => setTimeout(r, slot - now));
        grants.push(Date.now());
      };
      const from = server.messages.length;
      await Promise.all(Array.from({ length: 11 }, (_, i) => p.send(request(`msg ${i}`))));
      const times = server.messages
        .slice(from)
        .map((m) => m.receivedAt)
        .sort((a, b) => a - b);
      assert.equal(times.length, 11);
      assert.equal(grants.length, 11, "one slot per single-segment SMS");
      // The k-th message reached Twilio no earlier than the k-th slot was granted.
      for (const [k, received] of times.entries())
        assert.ok(received >= grants[k]!, `message ${k} sent before its slot`);
      ctx.cleanup();
    });
  });

  describe("baseUrl", () => {
    it("rewrites Twilio API hosts to baseUrl, keeping path and query, prefixing a base path", () => {
      const base = new URL("http://127.0.0.1:9999/twilio/");
      assert.equal(
        rewriteUri("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?a=1", base),
        "http://127.0.0.1:9999/twilio/2010-04-01/Accounts/AC1/Messages.json?a=1",
      );
      assert.equal(
        rewriteUri("https://api.sydney.au1.twilio.com/2010-04-01/x", new URL("https://sms.example.com")),
        "https://sms.example.com/2010-04-01/x",
      );
      assert.equal(rewriteUri("https://example.org/other", base), "https://example.org/other");
    });
  });
});

function pick(event: CanonicalEvent | undefined): {
  status?: string;
  reasonCode?: string;
  retryable?: boolean;
  raw?: string;
} {
  assert.ok(event?.kind === "status");
  return { status: event.status, reasonCode: event.reasonCode, retryable: event.retryable, raw: event.raw };
}
