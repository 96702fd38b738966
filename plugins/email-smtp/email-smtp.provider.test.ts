import assert from "node:assert/strict";
import { createServer } from "node:net";
import { describe, test, beforeAll, afterAll } from "@jest/globals";
import { contractSendRequest, createTestContext, runPluginContract } from "@dialmesh/sdk/contract-kit";
import type { TestContext } from "@dialmesh/sdk/contract-kit";
import type { ChannelPlugin, Customer, InboundRequest, SendRequest } from "@dialmesh/sdk";
import { PluginError, isPluginError } from "@dialmesh/sdk";
import { LocalSmtpServer, dsnReport, signedWebhookRequest, startSmtpServer } from "../../test/vendors/smtp-server.ts";
import { parseDsnReport } from "./dsn-report.ts";
import { RETRY_AFTER_MS, smtpErrorToPluginError } from "./email-smtp.mapping.ts";
import factory, { messageIdFor } from "./email-smtp.provider.ts";
import type { EmailSmtpOptions } from "./email-smtp.provider.ts";

const AUTH = { user: "mailer", pass: "smtp-pass-Zq7-never-logged" };
const INBOUND_SECRET = "inbound-secret-Kx9-never-logged";
const customer: Customer = { id: "cust-1", firstName: "Ada", lastName: "Lovelace", email: "ada@example.com" };

function optionsFor(server: LocalSmtpServer, extra: Partial<EmailSmtpOptions> = {}): EmailSmtpOptions {
  return {
    host: server.host,
    port: server.port,
    secure: false,
    auth: AUTH,
    from: "Campaigns <noreply@example.com>",
    inboundSecret: INBOUND_SECRET,
    maxConnections: 2,
    connectionTimeout: 2000,
    greetingTimeout: 2000,
    socketTimeout: 5000,
    ...extra,
  };
}

/** The DSN an MTA would post for the message the server received with this Message-ID. */
function reportFor(
  server: LocalSmtpServer,
  vendorId: string,
  action: "delivered" | "failed" | "delayed" = "delivered",
) {
  const mail = server.messages.find((m) => m.messageId === vendorId);
  return dsnReport({
    action,
    recipient: mail?.envelope.rcptTo[0] ?? customer.email ?? "",
    envelopeId: mail?.dsn?.envid ?? undefined,
    messageId: vendorId,
    ...(action === "failed" ? { diagnosticCode: "smtp; 550 5.1.1 <ada@example.com>: user unknown" } : {}),
  });
}

// ---------------------------------------------------------------------------------------------
// The contract every plugin passes.

let contractServer: LocalSmtpServer | undefined;
const contractSmtp = (): LocalSmtpServer => {
  assert.ok(contractServer, "contract SMTP server not started");
  return contractServer;
};

runPluginContract<EmailSmtpOptions>({
  pluginDir: import.meta.dirname,
  channel: "email",
  customer,
  async setup() {
    contractServer = await startSmtpServer({ auth: AUTH });
    return optionsFor(contractServer);
  },
  async teardown() {
    await contractServer?.stop();
  },
  invalidOptions: [
    { options: { from: "noreply@example.com" }, why: "host is required" },
    { options: { host: "smtp.example.com" }, why: "from is required" },
    { options: { host: "smtp.example.com", from: "not-an-address" }, why: "from must hold an address" },
    { options: { host: "smtp.example.com", from: "a@example.com", port: 70000 }, why: "port out of range" },
    { options: { host: "smtp.example.com", from: "a@example.com", auth: { user: "u" } }, why: "auth needs a pass" },
    { options: { host: "smtp.example.com", from: "a@example.com", inboundSecret: "short" }, why: "weak inboundSecret" },
    { options: { host: "smtp.example.com", from: "a@example.com", maxConnections: 0 }, why: "maxConnections >= 1" },
    { options: { host: "smtp.example.com", from: "a@example.com", hots: "typo" }, why: "unknown option" },
  ],
  failNextPermanently: () => contractSmtp().failNext(550),
  failNextTransiently: () => contractSmtp().failNext(451),
  acceptedCount: () => contractSmtp().acceptedCount,
  signedStatusCallback: (vendorId, options) =>
    signedWebhookRequest(reportFor(contractSmtp(), vendorId), options.inboundSecret),
  forgedStatusCallback: (vendorId) =>
    signedWebhookRequest(reportFor(contractSmtp(), vendorId), undefined, { signature: `sha256=${"0".repeat(64)}` }),
});

// ---------------------------------------------------------------------------------------------
// email-smtp's own behaviour, against a real SMTP server.

interface Built {
  plugin: ChannelPlugin;
  tc: TestContext<EmailSmtpOptions>;
}

async function build(options: EmailSmtpOptions): Promise<Built> {
  const tc = createTestContext(options, { instanceId: "mail" });
  const plugin = await factory(tc.context);
  return { plugin, tc };
}

function request(overrides: Partial<SendRequest> = {}): SendRequest {
  return { ...contractSendRequest("email", customer), ...overrides };
}

async function rejection(p: Promise<unknown>): Promise<PluginError> {
  try {
    await p;
  } catch (err) {
    assert.ok(isPluginError(err), `expected a PluginError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected send() to reject");
}

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const address = srv.address();
  assert.ok(address && typeof address === "object");
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return address.port;
}

describe("email-smtp", () => {
  let server: LocalSmtpServer;
  let built: Built;
  const extra: Built[] = [];

  beforeAll(async () => {
    server = await startSmtpServer({ auth: AUTH });
    built = await build(optionsFor(server));
  });

  afterAll(async () => {
    for (const b of [built, ...extra]) {
      await b.plugin.stop?.();
      b.tc.cleanup();
    }
    await server.stop();
  });

  const another = async (options: EmailSmtpOptions): Promise<Built> => {
    const b = await build(options);
    extra.push(b);
    return b;
  };

  test("sends text and html with the filled placeholders; SENT with a deterministic Message-ID", async () => {
    const req = request({
      attemptId: "att-text-html-1",
      campaignId: "camp-9",
      content: {
        subject: "Hello Ada, your offer",
        text: "Dear Ada Lovelace, your code is 42. Grüße!",
        html: "<p>Dear <b>Ada Lovelace</b>, your code is 42. Grüße!</p>",
      },
    });
    const result = await built.plugin.send(req);
    assert.equal(result.status, "SENT");
    assert.equal(result.vendorId, "<att-text-html-1@dialmesh>");
    const mail = server.messages.at(-1);
    assert.ok(mail);
    assert.equal(mail.messageId, "<att-text-html-1@dialmesh>");
    assert.deepEqual(mail.envelope.rcptTo, ["ada@example.com"]);
    assert.equal(mail.envelope.mailFrom, "noreply@example.com");
    assert.equal(mail.user, AUTH.user, "authenticated with the configured user");
    assert.equal(mail.headers["subject"], "Hello Ada, your offer");
    assert.match(mail.headers["from"] ?? "", /Campaigns <noreply@example.com>/);
    assert.equal(mail.headers["x-dialmesh-attempt-id"], "att-text-html-1");
    assert.equal(mail.headers["x-dialmesh-campaign-id"], "camp-9");
    assert.match(mail.headers["content-type"] ?? "", /multipart\/alternative/);
    assert.equal(mail.text?.trim(), "Dear Ada Lovelace, your code is 42. Grüße!");
    assert.equal(mail.html?.trim(), "<p>Dear <b>Ada Lovelace</b>, your code is 42. Grüße!</p>");
  });

  test("the same attemptId sent again carries the same Message-ID (a receiver can tell the copies apart)", async () => {
    const req = request({ attemptId: "att-resend-1" });
    const first = await built.plugin.send(req);
    const second = await built.plugin.send(req);
    assert.equal(first.vendorId, second.vendorId);
    const ids = server.messages
      .filter((m) => m.headers["x-dialmesh-attempt-id"] === "att-resend-1")
      .map((m) => m.messageId);
    assert.deepEqual(ids, ["<att-resend-1@dialmesh>", "<att-resend-1@dialmesh>"]);
  });

  test("Message-IDs stay valid and one-to-one for any attemptId", () => {
    assert.equal(messageIdFor("65f1c0ffee"), "<65f1c0ffee@dialmesh>");
    assert.equal(messageIdFor("a.b c@d", "mail.example.com"), "<a=2Eb=20c=40d@mail.example.com>");
    assert.notEqual(messageIdFor("a=2E"), messageIdFor("a."));
  });

  test("asks for a DSN (RET=HDRS, ENVID=attemptId, NOTIFY=SUCCESS,FAILURE,DELAY, ORCPT) when advertised", async () => {
    await built.plugin.send(request({ attemptId: "att-dsn-1" }));
    const mail = server.messages.at(-1);
    assert.ok(mail?.dsn, "the server saw DSN parameters");
    assert.equal(mail.dsn.ret, "HDRS");
    assert.equal(mail.dsn.envid, "att-dsn-1");
    assert.deepEqual(mail.dsn.notify["ada@example.com"], ["SUCCESS", "FAILURE", "DELAY"]);
    assert.equal(mail.dsn.orcpt["ada@example.com"], "rfc822;ada@example.com");
  });

  test("sends without DSN parameters to a server that does not advertise DSN, or when requestDsn is false", async () => {
    const plain = await startSmtpServer({ dsn: false });
    try {
      const b = await build(optionsFor(plain, { auth: undefined }));
      const result = await b.plugin.send(request());
      assert.equal(result.status, "SENT");
      assert.equal(plain.messages.at(-1)?.dsn, undefined);
      await b.plugin.stop?.();
      b.tc.cleanup();
    } finally {
      await plain.stop();
    }
    const noDsn = await another(optionsFor(server, { requestDsn: false }));
    await noDsn.plugin.send(request({ attemptId: "att-nodsn" }));
    assert.equal(server.messages.at(-1)?.dsn, undefined);
  });

  test("returnPath sets the envelope sender (where DSNs go), the From header stays", async () => {
    const b = await another(optionsFor(server, { returnPath: "bounces@example.com" }));
    await b.plugin.send(request());
    const mail = server.messages.at(-1);
    assert.equal(mail?.envelope.mailFrom, "bounces@example.com");
    assert.deepEqual(mail?.envelope.rcptTo, ["ada@example.com"]);
    assert.match(mail?.headers["from"] ?? "", /noreply@example.com/);
  });

  test("550 at RCPT TO is FAILED, not retryable, reason SMTP_550", async () => {
    server.failNext(550, { message: "5.1.1 <ada@example.com>: Recipient address rejected" });
    const err = await rejection(built.plugin.send(request()));
    assert.equal(err.code, "SMTP_550");
    assert.equal(err.status, "FAILED");
    assert.equal(err.retryable, false);
    assert.match(err.message, /5\.1\.1/);
  });

  test("554 after DATA is FAILED, not retryable", async () => {
    server.failNext(554, { stage: "data", message: "5.7.1 Message rejected as spam" });
    const err = await rejection(built.plugin.send(request()));
    assert.equal(err.code, "SMTP_554");
    assert.equal(err.retryable, false);
  });

  test("451 is retryable with a backoff hint", async () => {
    server.failNext(451, { message: "4.7.1 Greylisted, try again later" });
    const err = await rejection(built.plugin.send(request()));
    assert.equal(err.code, "SMTP_451");
    assert.equal(err.retryable, true);
    assert.equal(err.retryAfterMs, RETRY_AFTER_MS.transient);
    server.failNext(421, { stage: "data" });
    const err421 = await rejection(built.plugin.send(request()));
    assert.equal(err421.retryable, true);
    assert.equal(err421.retryAfterMs, RETRY_AFTER_MS.serviceUnavailable);
  });

  test("a server that is down gives a retryable SMTP_CONNECTION error and an unhealthy health()", async () => {
    const down = await another(optionsFor(server, { port: await closedPort() }));
    const err = await rejection(down.plugin.send(request()));
    assert.equal(err.code, "SMTP_CONNECTION");
    assert.equal(err.retryable, true);
    assert.equal(err.retryAfterMs, RETRY_AFTER_MS.connection);
    assert.match(err.message, /ECONNREFUSED/);
    const health = await down.plugin.health();
    assert.equal(health.ok, false);
    assert.equal((await built.plugin.health()).ok, true);
  });

  test("the pool recovers when the server goes down and comes back", async () => {
    const flaky = await startSmtpServer();
    const b = await build(optionsFor(flaky, { auth: undefined }));
    try {
      assert.equal((await b.plugin.send(request())).status, "SENT");
      await flaky.stop();
      const err = await rejection(b.plugin.send(request()));
      assert.equal(err.code, "SMTP_CONNECTION");
      assert.equal(err.retryable, true);
      await flaky.start();
      assert.equal((await b.plugin.send(request())).status, "SENT");
      assert.equal(flaky.acceptedCount, 2);
    } finally {
      await b.plugin.stop?.();
      b.tc.cleanup();
      await flaky.stop();
    }
  });

  test("a wrong password never shows in errors, logs or health", async () => {
    const wrongPass = "wrong-pass-Yt5-never-logged";
    const bad = await another(optionsFor(server, { auth: { user: AUTH.user, pass: wrongPass } }));
    const err = await rejection(bad.plugin.send(request()));
    assert.equal(err.code, "SMTP_AUTH");
    assert.equal(err.retryable, true, "a config problem: the message waits for the operator");
    const health = await bad.plugin.health();
    assert.equal(health.ok, false);
    const texts = [err.message, JSON.stringify(err.cause), bad.tc.logText(), built.tc.logText(), health.detail ?? ""];
    for (const text of texts) {
      assert.ok(!text.includes(wrongPass));
      assert.ok(!text.includes(AUTH.pass));
      assert.ok(!text.includes(INBOUND_SECRET));
    }
    assert.ok(bad.tc.logText().length > 0, "something was logged");
  });

  test("a customer without an email address, or content without text/html, is FAILED at once", async () => {
    const noEmail = await rejection(built.plugin.send(request({ customer: { id: "c2", phone: "+15550001111" } })));
    assert.equal(noEmail.code, "NO_EMAIL_ADDRESS");
    assert.equal(noEmail.retryable, false);
    const template = await rejection(
      built.plugin.send(request({ content: { template: { name: "welcome", language: "en" } } })),
    );
    assert.equal(template.code, "UNSUPPORTED_CONTENT");
    const malformed = await rejection(built.plugin.send(request({ customer: { id: "c3", email: "not an address" } })));
    assert.equal(malformed.retryable, false);
  });

  test("concurrent sends share the pool: 60 at once all arrive, each once", async () => {
    const before = server.acceptedCount;
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => built.plugin.send(request({ attemptId: `att-burst-${i}` }))),
    );
    assert.ok(results.every((r) => r.status === "SENT"));
    assert.equal(server.acceptedCount, before + 60);
    const ids = new Set(server.messages.slice(before).map((m) => m.messageId));
    assert.equal(ids.size, 60);
  });

  test("maxPerSecond goes through the hub's rate limiter", async () => {
    const limited = await another(optionsFor(server, { maxPerSecond: 5 }));
    await limited.plugin.send(request());
    await limited.plugin.send(request());
    assert.deepEqual(limited.tc.rateLimits, [
      { key: "email-smtp:mail", perSecond: 5 },
      { key: "email-smtp:mail", perSecond: 5 },
    ]);
    assert.deepEqual(built.tc.rateLimits, [], "no limiter without maxPerSecond");
  });

  describe("DSN reports on the webhook", () => {
    let vendorId: string;
    const handle = (req: InboundRequest) => {
      assert.ok(built.plugin.handleInbound);
      return built.plugin.handleInbound(req);
    };

    beforeAll(async () => {
      vendorId = (await built.plugin.send(request({ attemptId: "att-report-1" }))).vendorId;
    });

    test("delivered (multipart/report) gives DELIVERED for the sent message", async () => {
      const result = await handle(signedWebhookRequest(reportFor(server, vendorId, "delivered"), INBOUND_SECRET));
      assert.equal(result.response.status, 200);
      assert.equal(result.events.length, 1);
      const event = result.events[0];
      assert.ok(event?.kind === "status");
      assert.equal(event.vendorId, "<att-report-1@dialmesh>");
      assert.equal(event.status, "DELIVERED");
      assert.equal(event.raw, "delivered 2.0.0");
    });

    test("failed (5.1.1, smtp; 550) gives FAILED, not retryable, SMTP_550", async () => {
      const result = await handle(signedWebhookRequest(reportFor(server, vendorId, "failed"), INBOUND_SECRET));
      assert.equal(result.response.status, 200);
      const event = result.events[0];
      assert.ok(event?.kind === "status");
      assert.equal(event.status, "FAILED");
      assert.equal(event.retryable, false);
      assert.equal(event.reasonCode, "SMTP_550");
      assert.match(event.reason ?? "", /user unknown/);
    });

    test("delayed changes nothing (the attempt stays SENT)", async () => {
      const result = await handle(signedWebhookRequest(reportFor(server, vendorId, "delayed"), INBOUND_SECRET));
      assert.equal(result.response.status, 200);
      assert.deepEqual(result.events, []);
    });

    test("the bare message/delivery-status part, and a whole bounce message, are understood", async () => {
      const bare = dsnReport({
        action: "delivered",
        recipient: "ada@example.com",
        envelopeId: "att-report-1",
        bare: true,
      });
      const r1 = await handle(signedWebhookRequest(bare, INBOUND_SECRET));
      assert.equal(r1.events[0]?.kind === "status" && r1.events[0].vendorId, vendorId);
      const whole = dsnReport({
        action: "failed",
        status: "5.2.2",
        recipient: "ada@example.com",
        messageId: vendorId,
        withMessageHeaders: true,
      });
      const r2 = await handle(signedWebhookRequest(whole, INBOUND_SECRET));
      const e2 = r2.events[0];
      assert.ok(e2?.kind === "status");
      assert.equal(e2.vendorId, vendorId, "matched by the returned Message-ID when there is no ENVID");
      assert.equal(e2.reasonCode, "DSN_5.2.2");
    });

    test("a missing or wrong signature is refused with 403 and no events", async () => {
      const report = reportFor(server, vendorId);
      const none = await handle(signedWebhookRequest(report, undefined));
      assert.equal(none.response.status, 403);
      assert.deepEqual(none.events, []);
      const wrong = await handle(signedWebhookRequest(report, "another-secret-of-some-length"));
      assert.equal(wrong.response.status, 403);
      assert.deepEqual(wrong.events, []);
      const tampered = signedWebhookRequest(report, INBOUND_SECRET);
      tampered.rawBody = Buffer.from(report.body.replace("delivered", "failed"));
      assert.equal((await handle(tampered)).response.status, 403);
      const upper = signedWebhookRequest(report, INBOUND_SECRET);
      upper.headers = {
        "X-Dialmesh-Signature": upper.headers["x-dialmesh-signature"],
        "Content-Type": report.contentType,
      };
      assert.equal((await handle(upper)).response.status, 200, "header names are case-insensitive");
    });

    test("without inboundSecret every inbound request is refused", async () => {
      const noSecret = await another(optionsFor(server, { inboundSecret: undefined }));
      const result = await noSecret.plugin.handleInbound?.(
        signedWebhookRequest(reportFor(server, vendorId), "any-secret-at-all-here"),
      );
      assert.equal(result?.response.status, 403);
      assert.deepEqual(result?.events, []);
    });

    test("a signed body that is not a DSN is answered 400", async () => {
      const result = await handle(
        signedWebhookRequest({ contentType: "application/json", body: '{"hello":"world"}' }, INBOUND_SECRET),
      );
      assert.equal(result.response.status, 400);
      assert.deepEqual(result.events, []);
    });

    test("secrets never reach the logs", () => {
      const logs = built.tc.logText();
      assert.ok(!logs.includes(AUTH.pass));
      assert.ok(!logs.includes(INBOUND_SECRET));
    });
  });
});

describe("email-smtp mapping", () => {
  const scrub = (s: string) => s;

  test("failures before a session was open are retryable SMTP_CONNECTION", () => {
    for (const fields of [
      { code: "ECONNREFUSED" },
      { code: "EDNS" },
      { code: "ESOCKET", originalCode: "ECONNREFUSED" },
      { code: "ETIMEDOUT", timeoutType: "CONNECT_TIMEOUT" },
      { code: "ETIMEDOUT", timeoutType: "GREETING_TIMEOUT" },
    ]) {
      const err = smtpErrorToPluginError(Object.assign(new Error("boom"), fields), scrub);
      assert.equal(err.code, "SMTP_CONNECTION", JSON.stringify(fields));
      assert.equal(err.retryable, true);
    }
    const wrapped = smtpErrorToPluginError(
      Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNECTION", originalCode: "ECONNREFUSED" }),
      scrub,
    );
    assert.match(wrapped.message, /ECONNREFUSED/);
  });

  test("a session that broke once open is OUTCOME_UNKNOWN, not retried (the server may have the message)", () => {
    for (const fields of [
      { code: "ETIMEDOUT", timeoutType: "SOCKET_TIMEOUT" },
      { code: "ESOCKET", originalCode: "ECONNRESET" },
      { code: "ECONNECTION" },
    ]) {
      const err = smtpErrorToPluginError(Object.assign(new Error("boom"), fields), scrub);
      assert.equal(err.code, "OUTCOME_UNKNOWN", JSON.stringify(fields));
      assert.equal(err.retryable, false);
    }
  });

  test("5xx to the greeting refuses the session, not the message: retryable", () => {
    const err = smtpErrorToPluginError(
      Object.assign(new Error("greeting"), {
        code: "EPROTOCOL",
        responseCode: 554,
        command: "CONN",
        response: "554 no",
      }),
      scrub,
    );
    assert.equal(err.retryable, true);
  });

  test("452 gets the longest backoff; secrets are scrubbed from the message", () => {
    const err = smtpErrorToPluginError(
      Object.assign(new Error("x"), {
        code: "EENVELOPE",
        responseCode: 452,
        command: "RCPT TO",
        response: "452 full s3cr3t",
      }),
      (s) => s.replaceAll("s3cr3t", "***"),
    );
    assert.equal(err.retryAfterMs, RETRY_AFTER_MS.storage);
    assert.ok(!err.message.includes("s3cr3t"));
  });

  test("parseDsnReport reads folded fields and several recipients", () => {
    const body = [
      "Reporting-MTA: dns; mx.example.net",
      "Original-Envelope-Id: att+2Dplus",
      "",
      "Final-Recipient: rfc822; ada@example.com",
      "Action: failed",
      "Status: 5.1.1 (bad mailbox)",
      "Diagnostic-Code: smtp; 550 5.1.1",
      "  user unknown",
      "",
      "Final-Recipient: rfc822;bob@example.com",
      "Action: delivered",
      "Status: 2.0.0",
      "",
    ].join("\r\n");
    const report = parseDsnReport(Buffer.from(body), "message/delivery-status");
    assert.ok(report);
    assert.equal(report.envelopeId, "att-plus");
    assert.equal(report.recipients.length, 2);
    assert.equal(report.recipients[0]?.status, "5.1.1");
    assert.equal(report.recipients[0]?.finalRecipient, "ada@example.com");
    assert.equal(report.recipients[0]?.diagnosticCode, "smtp; 550 5.1.1 user unknown");
    assert.equal(report.recipients[1]?.action, "delivered");
    assert.equal(parseDsnReport("hello", "text/plain"), undefined);
    const whole = dsnReport({
      action: "delivered",
      recipient: "ada@example.com",
      envelopeId: "att-7",
      messageId: "<att-7@dialmesh>",
      withMessageHeaders: true,
    });
    for (const type of [undefined, "text/plain", "message/rfc822"]) {
      const r = parseDsnReport(whole.body, type);
      assert.equal(r?.envelopeId, "att-7", String(type));
      assert.equal(r?.messageId, "<att-7@dialmesh>");
      assert.equal(r?.recipients[0]?.action, "delivered");
    }
  });
});
