/**
 * An activity that names a stored customer by id, without an address, is sent to the stored
 * customer's address (email for email; the first phone for voice, SMS and WhatsApp).
 */
import assert from "node:assert/strict";
import { afterAll, beforeAll, describe, test } from "@jest/globals";
import { startSmtpServer, type LocalSmtpServer } from "../vendors/smtp-server.ts";
import { eventually, startTestHub, TEST_KEYS, type TestHub } from "../support/hub.ts";

describe("activities for stored customers", () => {
  let smtp: LocalSmtpServer;
  let hub: TestHub;
  beforeAll(async () => {
    smtp = await startSmtpServer();
    hub = await startTestHub({
      plugins: [
        {
          id: "mail",
          use: "email-smtp",
          options: { host: "127.0.0.1", port: smtp.port, secure: false, from: "Campaigns <noreply@example.com>" },
        },
      ],
    });
  });
  afterAll(async () => {
    await hub?.stop();
    await smtp?.stop();
  });

  test("the stored email is used when the activity gives none; the request's own fields win", async () => {
    const put = await hub.api(
      "PUT",
      "/api/v1/customers/grace",
      { firstName: "Grace", email: "Grace@Example.com", phones: ["+1 212 555 0101"], timezone: "America/New_York" },
      TEST_KEYS.writer,
    );
    assert.equal(put.status, 201, put.text);
    const res = await hub.api("POST", "/api/v1/activities", {
      customer: { id: "grace" },
      channel: "email",
      content: { subject: "Hello {{firstName}}", text: "Hi {{firstName}}" },
    });
    assert.equal(res.status, 202, res.text);
    const id = (res.body as { id: string }).id;
    await eventually(
      async () => {
        const a = await hub.api("GET", `/api/v1/activities/${id}`);
        return (a.body as { status: string }).status === "SENT" ? true : undefined;
      },
      10_000,
      "the activity SENT",
    );
    const mail = smtp.messages.at(-1)!;
    assert.deepEqual(mail.envelope.rcptTo, ["grace@example.com"]);
    assert.match(mail.headers.subject ?? "", /Hello Grace/);

    // The request's own name wins over the stored one.
    const own = await hub.api("POST", "/api/v1/activities", {
      customer: { id: "grace", firstName: "G." },
      channel: "email",
      content: { subject: "Hello {{firstName}}", text: "Hi" },
    });
    assert.equal(own.status, 202, own.text);
    await smtp.waitForMessages(2);
    assert.match(smtp.messages[1]!.headers.subject ?? "", /Hello G\./);
  });

  test("no stored customer, no address: a 400 that says so, and nothing stored", async () => {
    const res = await hub.api("POST", "/api/v1/activities", {
      customer: { id: "nobody" },
      channel: "email",
      content: { subject: "s", text: "t" },
    });
    assert.equal(res.status, 400, res.text);
    const details = (res.body as { details: { path: string; message: string }[] }).details;
    assert.equal(details[0]!.path, "/customer/email");
    assert.match(details[0]!.message, /no stored customer "nobody"/);
    const stored = await hub.api("GET", "/api/v1/activities?customerId=nobody");
    assert.deepEqual((stored.body as { activities: unknown[] }).activities, []);
  });
});
