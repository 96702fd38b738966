import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it, beforeAll, afterAll } from "@jest/globals";
import { compileKeywords, isPluginError } from "@dialmesh/sdk";
import { createTestContext, runPluginContract, type TestContext } from "@dialmesh/sdk/contract-kit";
import { PluginError, type CanonicalEvent, type ChannelPlugin, type SendRequest } from "@dialmesh/sdk";
import {
  GRAPH_ERRORS,
  signedGraphRequest,
  startGraphServer,
  type GraphTestServer,
} from "../../test/vendors/graph-server.ts";
import { eventually } from "../../test/support/hub.ts";
import createPlugin, {
  mapWebhook,
  templatePayload,
  windowOpen,
  WINDOW_MS,
  type WhatsAppCloudOptions,
} from "./whatsapp-cloud.provider.ts";
import { describeGraphError } from "./whatsapp-cloud.mapping.ts";

const CUSTOMER_PHONE = "+34612345678";
const URL_ = "https://hub.test/webhooks/wa";
const HOUR = 60 * 60 * 1000;

// ---------------------------------------------------------------------------------------------
// The contract kit

let contractServer: GraphTestServer | undefined;
runPluginContract<WhatsAppCloudOptions>({
  pluginDir: import.meta.dirname,
  channel: "whatsapp",
  customer: { id: "cust-1", firstName: "Ada", phone: CUSTOMER_PHONE },
  async setup() {
    contractServer = await startGraphServer();
    return optionsFor(contractServer);
  },
  async teardown() {
    await contractServer?.stop();
  },
  invalidOptions: [
    { options: { accessToken: "t", appSecret: "s", verifyToken: "verify-me" }, why: "phoneNumberId is required" },
    { options: { phoneNumberId: "123456", appSecret: "s", verifyToken: "verify-me" }, why: "accessToken is required" },
    { options: { phoneNumberId: "123456", accessToken: "t", verifyToken: "verify-me" }, why: "appSecret is required" },
    { options: { phoneNumberId: "123456", accessToken: "t", appSecret: "s" }, why: "verifyToken is required" },
    {
      options: { phoneNumberId: "+34 612", accessToken: "t", appSecret: "s", verifyToken: "verify-me" },
      why: "phoneNumberId is the numeric id, not a phone number",
    },
    {
      options: {
        phoneNumberId: "123456",
        accessToken: "t",
        appSecret: "s",
        verifyToken: "verify-me",
        apiVersion: "21",
      },
      why: "apiVersion looks like v21.0",
    },
    {
      options: {
        phoneNumberId: "123456",
        accessToken: "t",
        appSecret: "s",
        verifyToken: "verify-me",
        defaultTemplate: { name: "x" },
      },
      why: "defaultTemplate needs a language",
    },
  ],
  // The customer wrote recently, so the kit's text goes out as a free-form message.
  context: { conversations: { lastInboundAt: async () => new Date(Date.now() - HOUR) } },
  failNextPermanently: () => contractServer?.failNext(GRAPH_ERRORS.undeliverable()),
  failNextTransiently: () => contractServer?.failNext(GRAPH_ERRORS.rateLimited()),
  acceptedCount: () => contractServer?.messages.length ?? 0,
  signedStatusCallback: (vendorId) => need(contractServer).statusWebhook(URL_, [{ id: vendorId, status: "delivered" }]),
  forgedStatusCallback: (vendorId) =>
    need(contractServer).statusWebhook(URL_, [{ id: vendorId, status: "delivered" }], { appSecret: "not-the-secret" }),
});

function optionsFor(server: GraphTestServer, extra: Partial<WhatsAppCloudOptions> = {}): WhatsAppCloudOptions {
  return {
    phoneNumberId: server.phoneNumberId,
    accessToken: server.accessToken,
    appSecret: server.appSecret,
    verifyToken: server.verifyToken,
    graphBaseUrl: server.baseUrl,
    ...extra,
  };
}

/** A local port nothing listens on (fetch refuses "bad ports" such as 1). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

function need<T>(value: T | undefined): T {
  assert.ok(value !== undefined);
  return value;
}

// ---------------------------------------------------------------------------------------------
// The plugin's own paths

let seq = 0;
function request(extra: Partial<SendRequest> = {}): SendRequest {
  seq += 1;
  return {
    attemptId: `att-${seq}`,
    activityId: `act-${seq}`,
    conversationId: `conv-${seq}`,
    channel: "whatsapp",
    customer: { id: "c1", firstName: "Lucía", phone: CUSTOMER_PHONE },
    content: { text: "Your parcel arrives today." },
    ...extra,
  };
}

const recent = () => new Date(Date.now() - HOUR);
const old = () => new Date(Date.now() - 25 * HOUR);

async function sendError(plugin: ChannelPlugin, req: SendRequest): Promise<PluginError> {
  try {
    await plugin.send(req);
  } catch (err) {
    assert.ok(isPluginError(err), `expected a PluginError, got ${String(err)}`);
    return err;
  }
  assert.fail("send() should have failed");
}

describe("whatsapp-cloud", () => {
  let server: GraphTestServer;
  let tc: TestContext<WhatsAppCloudOptions>;
  let plugin: ChannelPlugin;
  const lookups: { channel: string; address: string }[] = [];
  let lookupAnswer: Date | undefined;

  const build = async (extra: Partial<WhatsAppCloudOptions> = {}) => {
    const ctx = createTestContext(optionsFor(server, extra), {
      instanceId: "wa",
      conversations: {
        lastInboundAt: async (channel, address) => {
          lookups.push({ channel, address });
          return lookupAnswer;
        },
      },
    });
    return { ctx, plugin: await createPlugin(ctx.context) };
  };

  beforeAll(async () => {
    server = await startGraphServer();
    ({ ctx: tc, plugin } = await build());
  });
  afterAll(async () => {
    tc.cleanup();
    await server.stop();
  });

  describe("text or template around the 24-hour window", () => {
    it("sends free-form text inside the window (request.lastInboundAt)", async () => {
      const result = await plugin.send(request({ lastInboundAt: recent() }));
      assert.match(result.vendorId, /^wamid\./);
      assert.equal(result.status, "QUEUED");
      const sent = need(server.messages.at(-1));
      assert.equal(sent.id, result.vendorId);
      assert.equal(sent.version, "v21.0");
      assert.equal(sent.to, "34612345678");
      assert.deepEqual(sent.body, {
        messaging_product: "whatsapp",
        recipient_type: "individual",
        to: "34612345678",
        type: "text",
        text: { body: "Your parcel arrives today.", preview_url: false },
      });
      assert.deepEqual(tc.rateLimits.at(-1), { key: `whatsapp-cloud:${server.phoneNumberId}`, perSecond: 80 });
    });

    it("falls back to the conversation lookup when the request does not carry lastInboundAt", async () => {
      lookupAnswer = recent();
      lookups.length = 0;
      await plugin.send(request());
      assert.deepEqual(lookups, [{ channel: "whatsapp", address: CUSTOMER_PHONE }]);
      assert.equal(server.messages.at(-1)?.type, "text");
      lookupAnswer = undefined;
    });

    it("accepts lastInboundAt as an ISO string (a request that crossed the mesh)", async () => {
      await plugin.send(request({ lastInboundAt: recent().toISOString() as unknown as Date }));
      assert.equal(server.messages.at(-1)?.type, "text");
    });

    it("sends the activity's template outside the window", async () => {
      await plugin.send(
        request({
          lastInboundAt: old(),
          content: {
            text: "ignored",
            template: { name: "parcel_update", language: "es", parameters: ["Lucía", "hoy"] },
          },
        }),
      );
      const sent = need(server.messages.at(-1));
      assert.equal(sent.type, "template");
      assert.deepEqual(sent.body.template, {
        name: "parcel_update",
        language: { code: "es" },
        components: [
          {
            type: "body",
            parameters: [
              { type: "text", text: "Lucía" },
              { type: "text", text: "hoy" },
            ],
          },
        ],
      });
    });

    it("uses defaultTemplate (placeholders filled from the customer) when the activity has none", async () => {
      const { ctx, plugin: p } = await build({
        defaultTemplate: { name: "hello_again", language: "en_US", parameters: ["{{firstName}}"] },
      });
      const result = await p.send(request({ lastInboundAt: undefined }));
      const sent = need(server.messages.at(-1));
      assert.equal(sent.type, "template");
      assert.deepEqual(
        sent.body.template,
        templatePayload({ name: "hello_again", language: "en_US", parameters: ["Lucía"] }),
      );
      assert.match(result.detail ?? "", /template hello_again/);
      ctx.cleanup();
    });

    it("fails with TEMPLATE_REQUIRED, not retryable, when the window is closed and no template is configured", async () => {
      const before = server.requests.length;
      const err = await sendError(plugin, request({ lastInboundAt: old() }));
      assert.equal(err.code, "TEMPLATE_REQUIRED");
      assert.equal(err.retryable, false);
      assert.equal(err.status, "FAILED");
      assert.match(err.message, /24-hour/);
      assert.match(err.message, /window is closed/);
      assert.match(err.message, /template/);
      assert.equal(server.requests.length, before, "nothing was sent");
      // The same with no inbound message ever.
      assert.equal((await sendError(plugin, request())).code, "TEMPLATE_REQUIRED");
    });

    it("keeps a safety margin before the window closes", () => {
      const now = new Date("2026-01-02T12:00:00Z");
      assert.equal(windowOpen(undefined, now), false);
      assert.equal(windowOpen(new Date(now.getTime() - 23 * HOUR), now), true);
      assert.equal(windowOpen(new Date(now.getTime() - WINDOW_MS + 60_000), now), false);
      assert.equal(windowOpen(new Date(now.getTime() - WINDOW_MS - 1), now), false);
    });

    it("sends a template inside the window when the activity has only a template", async () => {
      await plugin.send(
        request({ lastInboundAt: recent(), content: { template: { name: "reminder", language: "en" } } }),
      );
      const sent = need(server.messages.at(-1));
      assert.equal(sent.type, "template");
      assert.deepEqual(sent.body.template, { name: "reminder", language: { code: "en" } });
    });

    it("when Meta refuses the text with 131047, sends the template instead (nothing was delivered)", async () => {
      server.failNext(GRAPH_ERRORS.reEngagement());
      const before = server.messages.length;
      const result = await plugin.send(
        request({ lastInboundAt: recent(), content: { text: "hi", template: { name: "reminder", language: "en" } } }),
      );
      assert.equal(server.messages.length, before + 1);
      assert.equal(server.messages.at(-1)?.type, "template");
      assert.equal(result.vendorId, server.messages.at(-1)?.id);
      // Without a template: WINDOW_CLOSED, not retryable.
      server.failNext(GRAPH_ERRORS.reEngagement());
      const err = await sendError(plugin, request({ lastInboundAt: recent() }));
      assert.equal(err.code, "WINDOW_CLOSED");
      assert.equal(err.retryable, false);
    });

    it("refuses a customer without a valid phone number", async () => {
      const err = await sendError(plugin, request({ customer: { id: "x" } }));
      assert.equal(err.code, "INVALID_NUMBER");
      assert.equal(err.retryable, false);
    });
  });

  describe("Graph errors", () => {
    const send = (p = plugin) => sendError(p, request({ lastInboundAt: recent() }));

    it("130429 rate limit -> retryable with a backoff", async () => {
      server.failNext(GRAPH_ERRORS.rateLimited());
      const err = await send();
      assert.equal(err.code, "RATE_LIMITED");
      assert.equal(err.retryable, true);
      assert.ok((err.retryAfterMs ?? 0) > 0);
    });

    it("131026 undeliverable and 131051 unsupported -> not retryable, with reasons", async () => {
      server.failNext(GRAPH_ERRORS.undeliverable());
      const e1 = await send();
      assert.equal(e1.code, "UNDELIVERABLE");
      assert.equal(e1.retryable, false);
      assert.match(e1.message, /131026/);
      server.failNext(GRAPH_ERRORS.unsupported());
      const e2 = await send();
      assert.equal(e2.code, "UNSUPPORTED_TYPE");
      assert.equal(e2.retryable, false);
    });

    it("5xx -> retryable", async () => {
      server.failNext(GRAPH_ERRORS.serverError());
      assert.equal((await send()).retryable, true);
      server.failNext(GRAPH_ERRORS.unavailable());
      assert.equal((await send()).retryable, true);
      server.failNext({ status: 502, code: 987654, message: "bad gateway" });
      assert.equal((await send()).retryable, true);
    });

    it("190 invalid token -> AUTH_FAILED, not retryable, health not ok, no secret anywhere", async () => {
      const { ctx, plugin: p } = await build({ accessToken: "EAAG-wrong-token-secret" });
      const err = await send(p);
      assert.equal(err.code, "AUTH_FAILED");
      assert.equal(err.retryable, false);
      const health = await p.health();
      assert.equal(health.ok, false);
      for (const text of [err.message, JSON.stringify(health), ctx.logText()]) {
        for (const secret of ["EAAG-wrong-token-secret", server.appSecret, server.verifyToken]) {
          assert.ok(!text.includes(secret));
        }
      }
      ctx.cleanup();
    });

    it("an unreachable Graph API -> retryable VENDOR_UNREACHABLE", async () => {
      const { ctx, plugin: p } = await build({ graphBaseUrl: `http://127.0.0.1:${await closedPort()}` });
      const err = await send(p);
      assert.equal(err.code, "VENDOR_UNREACHABLE");
      assert.equal(err.retryable, true);
      ctx.cleanup();
    });

    it("maps the documented codes", () => {
      assert.equal(describeGraphError(130429).retryable, true);
      assert.equal(describeGraphError(131047).code, "WINDOW_CLOSED");
      assert.equal(describeGraphError(131026).retryable, false);
      assert.equal(describeGraphError(131051).retryable, false);
      assert.equal(describeGraphError(190).retryable, false);
      assert.equal(describeGraphError(250).code, "PERMISSION_DENIED");
      assert.equal(describeGraphError(123, 503).retryable, true);
      assert.equal(describeGraphError(123, 400).retryable, false);
    });
  });

  describe("webhook verification", () => {
    it("answers the GET handshake with hub.challenge when the verify token matches", async () => {
      const r = await need(plugin.handleInbound)(server.verification(URL_, { challenge: "1158201444" }));
      assert.equal(r.response.status, 200);
      assert.equal(r.response.body, "1158201444");
      assert.deepEqual(r.events, []);
    });

    it("refuses the handshake with a wrong token, a wrong mode or missing fields", async () => {
      const handle = need(plugin.handleInbound);
      for (const req of [
        server.verification(URL_, { verifyToken: "nope" }),
        server.verification(URL_, { mode: "unsubscribe" }),
        { method: "GET" as const, url: URL_, headers: {}, query: {}, rawBody: Buffer.alloc(0) },
      ]) {
        const r = await handle(req);
        assert.equal(r.response.status, 403);
        assert.deepEqual(r.events, []);
      }
    });

    it("refuses (403, no events) POSTs with a missing, wrong or stale X-Hub-Signature-256", async () => {
      const handle = need(plugin.handleInbound);
      const good = server.statusWebhook(URL_, [{ id: "wamid.X", status: "read" }]);
      const missing = { ...good, headers: { "content-type": "application/json" } };
      const wrongSecret = server.statusWebhook(URL_, [{ id: "wamid.X", status: "read" }], { appSecret: "other" });
      const tampered = { ...good, rawBody: Buffer.from(good.rawBody.toString().replace('"read"', '"sent"')) };
      const notSha256 = { ...good, headers: { "x-hub-signature-256": "sha1=abc" } };
      for (const req of [missing, wrongSecret, tampered, notSha256]) {
        const r = await handle(req);
        assert.equal(r.response.status, 403);
        assert.deepEqual(r.events, []);
      }
      const ok = await handle({ ...good, headers: { "X-Hub-Signature-256": good.headers["x-hub-signature-256"] } });
      assert.equal(ok.response.status, 200);
      assert.equal(ok.events.length, 1);
    });
  });

  describe("webhook mapping", () => {
    const handle = (req: Parameters<NonNullable<ChannelPlugin["handleInbound"]>>[0]) => need(plugin.handleInbound)(req);

    it("maps sent, delivered, read, played and failed statuses", async () => {
      const at = new Date("2026-03-01T10:00:00Z");
      const r = await handle(
        server.statusWebhook(URL_, [
          { id: "wamid.A", status: "sent", timestamp: at },
          { id: "wamid.A", status: "delivered", timestamp: at },
          { id: "wamid.A", status: "read", timestamp: at },
          { id: "wamid.V", status: "played", timestamp: at },
          {
            id: "wamid.B",
            status: "failed",
            timestamp: at,
            errors: [{ code: 131047, title: "Re-engagement message" }],
          },
          { id: "wamid.C", status: "failed", errors: [{ code: 131000, title: "Something went wrong" }] },
          { id: "wamid.D", status: "deleted" },
        ]),
      );
      assert.equal(r.response.status, 200);
      const statuses = r.events.map((e) => (e.kind === "status" ? [e.vendorId, e.status, e.raw] : []));
      assert.deepEqual(statuses, [
        ["wamid.A", "SENT", "sent"],
        ["wamid.A", "DELIVERED", "delivered"],
        ["wamid.A", "READ", "read"],
        ["wamid.V", "READ", "played"],
        ["wamid.B", "FAILED", "failed"],
        ["wamid.C", "FAILED", "failed"],
      ]);
      const failed = r.events[4];
      assert.ok(failed?.kind === "status");
      assert.equal(failed.reasonCode, "131047");
      assert.equal(failed.retryable, false);
      assert.match(failed.reason ?? "", /24 hours/);
      assert.deepEqual(failed.at, at);
      const transient = r.events[5];
      assert.ok(transient?.kind === "status");
      assert.equal(transient.retryable, true);
    });

    it("turns text messages into replies, with the sender in E.164", async () => {
      const r = await handle(
        server.messageWebhook(URL_, [{ from: "34612345678", id: "wamid.IN1", text: "¿A qué hora?" }]),
      );
      assert.equal(r.events.length, 1);
      const reply = r.events[0];
      assert.ok(reply?.kind === "reply");
      assert.equal(reply.from, CUSTOMER_PHONE);
      assert.equal(reply.channel, "whatsapp");
      assert.equal(reply.text, "¿A qué hora?");
      assert.equal(reply.vendorId, "wamid.IN1");
    });

    it("keeps media ids (caption as text) and button texts", async () => {
      const r = await handle(
        server.messageWebhook(URL_, [
          { from: "34612345678", media: { type: "image", id: "1234567890", caption: "the label" } },
          { from: "34612345678", media: { type: "audio", id: "998877", mimeType: "audio/ogg" } },
          { from: "34612345678", button: { text: "Confirm" } },
        ]),
      );
      const replies = r.events.filter((e): e is Extract<CanonicalEvent, { kind: "reply" }> => e.kind === "reply");
      assert.deepEqual(
        replies.map((e) => [e.text, e.media]),
        [
          ["the label", ["1234567890"]],
          ["", ["998877"]],
          ["Confirm", undefined],
        ],
      );
    });

    it("adds opt-out / opt-in events for keywords, including configured languages", async () => {
      const stop = await handle(server.messageWebhook(URL_, [{ from: "34612345678", text: "Stop" }]));
      assert.deepEqual(
        stop.events.map((e) => e.kind),
        ["reply", "opt-out"],
      );
      const out = stop.events[1];
      assert.ok(out?.kind === "opt-out");
      assert.equal(out.address, CUSTOMER_PHONE);
      assert.equal(out.channel, "whatsapp");
      const start = await handle(server.messageWebhook(URL_, [{ from: "34612345678", text: "unstop" }]));
      assert.deepEqual(
        start.events.map((e) => e.kind),
        ["reply", "opt-in"],
      );
      const baja = await handle(server.messageWebhook(URL_, [{ from: "34612345678", text: "BAJA" }]));
      assert.deepEqual(
        baja.events.map((e) => e.kind),
        ["reply"],
      );
      const { ctx, plugin: p } = await build({ optOutKeywords: { es: { optOut: ["BAJA"], optIn: ["ALTA"] } } });
      const bajaEs = await need(p.handleInbound)(server.messageWebhook(URL_, [{ from: "34612345678", text: "baja" }]));
      assert.deepEqual(
        bajaEs.events.map((e) => e.kind),
        ["reply", "opt-out"],
      );
      const altaEs = await need(p.handleInbound)(server.messageWebhook(URL_, [{ from: "34612345678", text: "Alta" }]));
      assert.deepEqual(
        altaEs.events.map((e) => e.kind),
        ["reply", "opt-in"],
      );
      ctx.cleanup();
    });

    it("ignores other objects and fields, and answers 400 to a signed non-JSON body", async () => {
      const keywords = compileKeywords();
      assert.deepEqual(mapWebhook({ object: "page", entry: [] }, keywords), []);
      assert.deepEqual(
        mapWebhook(
          { object: "whatsapp_business_account", entry: [{ changes: [{ field: "account_update", value: {} }] }] },
          keywords,
        ),
        [],
      );
      const r = await handle(signedGraphRequest(server.appSecret, URL_, "not json"));
      assert.equal(r.response.status, 400);
      assert.deepEqual(r.events, []);
    });
  });

  describe("throughput", () => {
    it("sends only once the limiter grants a slot, asking maxPerSecond on the phone number's key", async () => {
      const rate = 5;
      const { ctx, plugin: p } = await build({ maxPerSecond: rate });
      // The hub's limiter (shared by all nodes) paces slots; its pacing is tested in
      // test/store/rate-limiter.test.ts. Here slots are granted by hand, so what is asserted is
      // causal: no message reaches Graph without a slot of its own.
      const asks: { key: string; perSecond: number; grant: () => void }[] = [];
      ctx.context.rateLimiter.acquire = (key: string, perSecond: number) =>
        new Promise<void>((grant) => asks.push({ key, perSecond, grant }));
      const from = server.messages.length;
      const sent = () => server.messages.length - from;
      const sends = Array.from({ length: 3 }, () => p.send(request({ lastInboundAt: recent() })));
      await eventually(async () => asks.length === 3, 5_000, "three slots asked for");
      assert.equal(sent(), 0, "nothing reaches Graph before its slot");
      need(asks[0]).grant();
      await eventually(async () => sent() === 1, 5_000, "the first message");
      assert.equal(sent(), 1, "the two without a slot still wait");
      for (const ask of asks.slice(1)) ask.grant();
      await Promise.all(sends);
      assert.equal(sent(), 3);
      assert.deepEqual(
        asks.map((a) => [a.key, a.perSecond]),
        Array.from({ length: 3 }, () => [`whatsapp-cloud:${server.phoneNumberId}`, rate]),
      );
      ctx.cleanup();
    });
  });
});
