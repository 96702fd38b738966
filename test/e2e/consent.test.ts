/**
 * Consent and objections through the REST API: a marketing email that requires consent is
 * BLOCKED as NO_CONSENT without a record, SENT once consent is granted, BLOCKED as
 * CONSENT_WITHDRAWN after a withdrawal; an objection to direct marketing blocks marketing even
 * with a granted consent, while a `service` activity to the same customer still goes.
 */
import assert from "node:assert/strict";
import { describe, test, beforeAll, afterAll } from "@jest/globals";
import { startSmtpServer, type LocalSmtpServer } from "../vendors/smtp-server.ts";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { schedule, waitForActivity, type AttemptView } from "./digital-helpers.ts";

interface ConsentsView {
  customerId: string;
  current: { channel: string; purpose: string; granted: boolean; source: string; evidence?: string }[];
  objection: { purpose: string; since: string } | null;
  history: { kind: string; granted?: boolean }[];
}

describe("consent and objections: attempts are BLOCKED without consent or after an objection", () => {
  let smtp: LocalSmtpServer;
  let hub: TestHub;
  const customer = { id: "cns-1", email: "ada.consent@example.com" };

  beforeAll(async () => {
    smtp = await startSmtpServer();
    hub = await startTestHub({
      plugins: [
        {
          id: "mail",
          use: "email-smtp",
          options: { host: "127.0.0.1", port: smtp.port, secure: false, from: "noreply@example.com" },
        },
      ],
    });
  });
  afterAll(async () => {
    await hub?.stop();
    await smtp?.stop();
  });

  const sent = () => smtp.messages.filter((m) => m.envelope.rcptTo.includes(customer.email)).length;

  /** Schedules an email of `purpose` and waits for its one attempt to settle. */
  async function attempt(purpose: string, requiresConsent: boolean): Promise<AttemptView> {
    const id = await schedule(hub, {
      customer,
      channel: "email",
      content: { subject: "Hello", text: "Hello" },
      purpose,
      requiresConsent,
    });
    const activity = await waitForActivity(
      hub,
      id,
      (a) => a.attempts.length >= 1 && ["BLOCKED", "SENT", "FAILED"].includes(a.attempts[0]!.status),
      "a settled attempt",
    );
    return activity.attempts[0]!;
  }

  async function post(path: string, body: Record<string, unknown>): Promise<void> {
    const res = await hub.api("POST", `/api/v1/customers/${customer.id}/${path}`, body);
    assert.equal(res.status, 201, res.text);
  }

  test("a consent with a bad field is a 400 naming it; nothing is recorded", async () => {
    const res = await hub.api("POST", `/api/v1/customers/${customer.id}/consents`, {
      channel: "email",
      purpose: "sales",
      granted: true,
      source: "web",
    });
    assert.equal(res.status, 400, res.text);
    const details = (res.body as { details: { path: string }[] }).details;
    assert.deepEqual(
      details.map((d) => d.path),
      ["/purpose"],
    );
    const bad = await hub.api("POST", "/api/v1/activities", {
      customer,
      channel: "email",
      content: { text: "x" },
      requiresConsent: true,
    });
    assert.equal(bad.status, 400, "requiresConsent needs a purpose");
    const view = (await hub.api("GET", `/api/v1/customers/${customer.id}/consents`)).body as ConsentsView;
    assert.deepEqual(view, { customerId: customer.id, current: [], objection: null, history: [] });
  });

  test("marketing requiring consent: BLOCKED without it, SENT with it, BLOCKED after a withdrawal", async () => {
    const before = sent();
    const none = await attempt("marketing", true);
    assert.deepEqual(
      [none.status, none.reasonCode, none.reason],
      ["BLOCKED", "NO_CONSENT", "NO_CONSENT:marketing/email"],
    );
    assert.equal(sent(), before);

    await post("consents", {
      channel: "email",
      purpose: "marketing",
      granted: true,
      source: "signup form",
      evidence: "https://example.com/forms/1",
    });
    assert.equal((await attempt("marketing", true)).status, "SENT");
    assert.equal(sent(), before + 1);

    await post("consents", { channel: "email", purpose: "marketing", granted: false, source: "unsubscribe page" });
    const withdrawn = await attempt("marketing", true);
    assert.deepEqual(
      [withdrawn.status, withdrawn.reasonCode, withdrawn.reason],
      ["BLOCKED", "NO_CONSENT", "CONSENT_WITHDRAWN:marketing/email"],
    );
    assert.equal(sent(), before + 1);

    const view = (await hub.api("GET", `/api/v1/customers/${customer.id}/consents`)).body as ConsentsView;
    assert.deepEqual(
      view.history.map((h) => `${h.kind}:${String(h.granted)}`),
      ["consent:true", "consent:false"],
    );
    assert.deepEqual(
      view.current.map((c) => `${c.purpose}/${c.channel}:${c.granted}:${c.source}`),
      ["marketing/email:false:unsubscribe page"],
    );
  });

  test("an objection blocks marketing even with a granted consent, is kept, and a service email still goes", async () => {
    await post("consents", { channel: "email", purpose: "marketing", granted: true, source: "call" });
    await post("objections", { purpose: "marketing", source: "letter", evidence: "scan 77" });
    // A consent after the objection does not lift it.
    await post("consents", { channel: "email", purpose: "marketing", granted: true, source: "web form" });
    const before = sent();

    for (const requiresConsent of [true, false]) {
      const blocked = await attempt("marketing", requiresConsent);
      assert.deepEqual(
        [blocked.status, blocked.reasonCode, blocked.reason],
        ["BLOCKED", "OBJECTION", "OBJECTION:marketing"],
      );
    }
    assert.equal((await attempt("service", false)).status, "SENT");
    assert.equal(sent(), before + 1);

    const view = (await hub.api("GET", `/api/v1/customers/${customer.id}/consents`)).body as ConsentsView;
    assert.equal(view.objection?.purpose, "marketing");
    const badObjection = await hub.api("POST", `/api/v1/customers/${customer.id}/objections`, {
      purpose: "service",
      source: "x",
    });
    assert.equal(badObjection.status, 400, "an objection is to marketing only");
  });
});
