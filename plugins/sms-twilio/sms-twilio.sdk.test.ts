/**
 * The twilio SDK call at the HTTP level, against api.twilio.com intercepted by nock (the
 * end-to-end behaviour is tested against the local Twilio server in sms-twilio.provider.test.ts):
 * the request the SDK makes for one send, and how Twilio's error answers become PluginErrors,
 * with no retry behind the hub's back. (A refused connection is tested against a closed local
 * port in sms-twilio.provider.test.ts: nock 14's replyWithError hangs kept-alive requests.)
 */
import assert from "node:assert/strict";
import { afterAll, afterEach, beforeAll, describe, test } from "@jest/globals";
import nock from "nock";
import { createTestContext } from "@dialmesh/sdk/contract-kit";
import { isPluginError, type PluginError, type SendRequest } from "@dialmesh/sdk";
import createPlugin, { type SmsTwilioOptions } from "./sms-twilio.provider.ts";
import { retryAfterMs } from "./sms-twilio.mapping.ts";

const ACCOUNT = `AC${"1".repeat(32)}`;
const TOKEN = "nock-token-0123456789";
const FROM = "+15005550006";
const TO = "+14155552671";
const PATH = `/2010-04-01/Accounts/${ACCOUNT}/Messages.json`;

function request(): SendRequest {
  return {
    attemptId: "att_nock",
    activityId: "act_nock",
    conversationId: "cv_nock",
    channel: "sms",
    customer: { id: "c-1", phone: TO },
    content: { text: "hello from nock" },
  };
}

/**
 * A JSON answer with its Content-Length: the twilio SDK keeps connections alive, and nock 14
 * leaves a kept-alive response without a length unterminated (nock/nock#3001).
 */
function json(body: unknown): [string, Record<string, string>] {
  const text = JSON.stringify(body);
  return [text, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)) }];
}

function withHeader(
  [body, headers]: [string, Record<string, string>],
  name: string,
  value: string,
): [string, Record<string, string>] {
  return [body, { ...headers, [name]: value }];
}

async function plugin() {
  const tc = createTestContext<SmsTwilioOptions>({ accountSid: ACCOUNT, authToken: TOKEN, from: FROM });
  return { tc, plugin: await createPlugin(tc.context) };
}

async function sendFails(): Promise<PluginError> {
  const { tc, plugin: p } = await plugin();
  try {
    await p.send(request());
  } catch (err) {
    assert.ok(isPluginError(err), String(err));
    return err;
  } finally {
    tc.cleanup();
  }
  throw new Error("send() resolved; a PluginError was expected");
}

describe("sms-twilio through the twilio SDK, at the HTTP level", () => {
  beforeAll(() => nock.disableNetConnect());
  afterEach(() => nock.cleanAll());
  afterAll(() => nock.enableNetConnect());

  test("one send is one form POST to Messages.json with basic auth, To/From/Body and the StatusCallback", async () => {
    let form: URLSearchParams | undefined;
    const scope = nock("https://api.twilio.com")
      .post(PATH, (body: string) => {
        form = new URLSearchParams(body);
        return true;
      })
      .basicAuth({ user: ACCOUNT, pass: TOKEN })
      .reply(201, ...json({ sid: `SM${"a".repeat(32)}`, status: "queued", to: TO, from: FROM }));
    const { tc, plugin: p } = await plugin();
    try {
      const result = await p.send(request());
      assert.deepEqual(
        { ...result },
        { status: "QUEUED", vendorId: `SM${"a".repeat(32)}`, detail: "twilio status queued" },
      );
      assert.ok(scope.isDone());
      assert.equal(form?.get("To"), TO);
      assert.equal(form?.get("From"), FROM);
      assert.equal(form?.get("Body"), "hello from nock");
      assert.equal(form?.get("StatusCallback"), tc.context.webhookUrl);
    } finally {
      tc.cleanup();
    }
  });

  test("429 (Twilio 20429) is a retryable RATE_LIMITED with a wait, asked once (no SDK retries)", async () => {
    const scope = nock("https://api.twilio.com")
      .post(PATH)
      .once()
      .reply(
        429,
        ...json({
          code: 20429,
          message: "Too Many Requests",
          more_info: "https://www.twilio.com/docs/errors/20429",
          status: 429,
        }),
      );
    const err = await sendFails();
    assert.equal(err.code, "RATE_LIMITED");
    assert.equal(err.retryable, true);
    assert.ok((err.retryAfterMs ?? 0) > 0);
    assert.ok(scope.isDone());
    assert.deepEqual(nock.pendingMocks(), []);
  });

  test("a Retry-After on a 429 or a 503 is the wait the hub is told (seconds, or an HTTP date)", async () => {
    nock("https://api.twilio.com")
      .post(PATH)
      .reply(429, ...withHeader(json({ code: 20429, message: "Too Many Requests", status: 429 }), "Retry-After", "7"));
    const limited = await sendFails();
    assert.equal(limited.code, "RATE_LIMITED", limited.message);
    assert.equal(limited.retryable, true);
    assert.equal(limited.retryAfterMs, 7000);
    assert.match(limited.message, /Twilio 20429/);

    const inTwoMinutes = new Date(Date.now() + 120_000).toUTCString();
    nock("https://api.twilio.com")
      .post(PATH)
      .reply(
        503,
        ...withHeader(json({ code: 20503, message: "Service Unavailable", status: 503 }), "Retry-After", inTwoMinutes),
      );
    const unavailable = await sendFails();
    assert.equal(unavailable.code, "VENDOR_UNAVAILABLE");
    // An HTTP date has whole seconds: the wait is within the second before it.
    assert.ok(
      unavailable.retryAfterMs! > 118_000 && unavailable.retryAfterMs! <= 120_000,
      String(unavailable.retryAfterMs),
    );
    assert.deepEqual(nock.pendingMocks(), []);
  });

  test("Retry-After values: seconds, a date, nonsense, and a cap", () => {
    const now = Date.parse("2026-12-02T10:00:00Z");
    assert.equal(retryAfterMs("30", now), 30_000);
    assert.equal(retryAfterMs("Wed, 02 Dec 2026 10:01:00 GMT", now), 60_000);
    assert.equal(retryAfterMs("Wed, 02 Dec 2026 09:00:00 GMT", now), 0, "a date passed: no wait");
    assert.equal(retryAfterMs("soon", now), undefined);
    assert.equal(retryAfterMs(undefined, now), undefined);
    assert.equal(retryAfterMs("86400", now), 600_000, "at most ten minutes");
  });

  test("503 is a retryable VENDOR_UNAVAILABLE; 400 21211 is a final INVALID_NUMBER", async () => {
    nock("https://api.twilio.com")
      .post(PATH)
      .reply(503, ...json({ code: 20503, message: "Service Unavailable", status: 503 }));
    const unavailable = await sendFails();
    assert.deepEqual([unavailable.code, unavailable.retryable], ["VENDOR_UNAVAILABLE", true]);
    nock("https://api.twilio.com")
      .post(PATH)
      .reply(400, ...json({ code: 21211, message: "Invalid 'To' Phone Number: +1555", status: 400 }));
    const invalid = await sendFails();
    assert.deepEqual([invalid.code, invalid.retryable], ["INVALID_NUMBER", false]);
  });
});
