/**
 * DNC lists through the REST API: a list is created and loaded (all or nothing), an activity
 * naming it is BLOCKED with `DNC:<list>` on every channel it tries (SMS, then its email
 * fallback), a prefix entry blocks the numbers under it, an activity naming no list is sent,
 * an unknown list is refused at intake, and a removed entry no longer blocks.
 */
import assert from "node:assert/strict";
import { describe, test, beforeAll, afterAll } from "@jest/globals";
import { startSmtpServer, type LocalSmtpServer } from "../vendors/smtp-server.ts";
import { startTwilioServer, type TwilioTestServer } from "../vendors/twilio-server.ts";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { schedule, waitForActivity, type ActivityView } from "./digital-helpers.ts";

interface DncListView {
  id: string;
  name: string;
  source: string;
  entries: number;
  stale: boolean;
  lastRefreshedAt: string | null;
}

describe("DNC lists: an address on a list an activity names is BLOCKED as DNC:<list> on every channel", () => {
  let twilio: TwilioTestServer;
  let smtp: LocalSmtpServer;
  let hub: TestHub;

  beforeAll(async () => {
    twilio = await startTwilioServer();
    smtp = await startSmtpServer();
    hub = await startTestHub({
      plugins: [
        {
          id: "tw",
          use: "sms-twilio",
          channels: ["sms"],
          options: twilio.pluginOptions({ from: "+15005550006", maxPerSecond: 100 }),
        },
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
    await twilio?.stop();
  });

  /** Waits until every attempt the activity will make (its channel, then `count - 1` fallbacks) has settled. */
  const settled = (id: string, count: number): Promise<ActivityView> =>
    waitForActivity(
      hub,
      id,
      (a) => a.attempts.length >= count && a.attempts.every((t) => t.status !== "DISPATCHING"),
      `${count} settled attempt(s)`,
    );

  const sentTo = (phone: string, email: string) => ({
    sms: twilio.messages.filter((m) => m.to === phone).length,
    email: smtp.messages.filter((m) => m.envelope.rcptTo.includes(email)).length,
  });

  async function putList(id: string, body: Record<string, unknown>): Promise<DncListView> {
    const res = await hub.api("PUT", `/api/v1/dnc-lists/${id}`, body);
    assert.ok(res.status === 201 || res.status === 200, res.text);
    return res.body as DncListView;
  }

  test("a list is loaded all or nothing, each bad entry named by its index", async () => {
    const created = await putList("internal", { name: "Internal DNC", source: "complaints desk" });
    assert.equal(created.entries, 0);
    assert.equal(created.stale, true, "never loaded");

    const bad = await hub.api("POST", "/api/v1/dnc-lists/internal/entries", {
      entries: ["+14155550150", "0415550150", "a@b.c", "+1415*5"],
    });
    assert.equal(bad.status, 400, bad.text);
    const details = (bad.body as { details: { path: string; message: string }[] }).details;
    assert.deepEqual(
      details.map((d) => d.path),
      ["/entries/1", "/entries/3"],
    );
    assert.equal(((await hub.api("GET", "/api/v1/dnc-lists/internal")).body as DncListView).entries, 0);

    const ok = await hub.api("POST", "/api/v1/dnc-lists/internal/entries", {
      entries: ["+1 415 555 0150", "Ada.DNC@Example.com", "+1415666*", "+14155550150"],
    });
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(
      { ...(ok.body as object), lastRefreshedAt: undefined },
      {
        id: "internal",
        added: 3,
        existing: 1,
        lastRefreshedAt: undefined,
      },
    );
    const again = await hub.api("POST", "/api/v1/dnc-lists/internal/entries", { entries: ["ada.dnc@example.com"] });
    assert.equal((again.body as { added: number }).added, 0, "adding an entry twice stores it once");

    const list = (await hub.api("GET", "/api/v1/dnc-lists/internal")).body as DncListView;
    assert.equal(list.entries, 3);
    assert.equal(list.stale, false);
    assert.equal(list.source, "complaints desk");
    const entries = (await hub.api("GET", "/api/v1/dnc-lists/internal/entries")).body as { entries: string[] };
    assert.deepEqual(entries.entries.sort(), ["+14155550150", "+1415666*", "ada.dnc@example.com"]);

    await putList("other", { name: "Other" });
    await hub.api("POST", "/api/v1/dnc-lists/other/entries", { entries: ["+14155550999"] });
    const all = (await hub.api("GET", "/api/v1/dnc-lists")).body as { dncLists: DncListView[] };
    assert.deepEqual(
      all.dncLists.map((l) => `${l.id}:${l.entries}`),
      ["internal:3", "other:1"],
    );
  });

  test("an activity naming the list is BLOCKED as DNC:internal on SMS and on its email fallback; nothing is sent", async () => {
    const phone = "+14155550150";
    const email = "ada.dnc@example.com";
    const before = sentTo(phone, email);
    const id = await schedule(hub, {
      customer: { id: "dnc-1", phone, email: "Ada.DNC@example.com" },
      channel: "sms",
      content: { text: "Offer", subject: "Offer" },
      dncLists: ["other", "internal"],
    });
    const activity = await settled(id, 2);
    assert.deepEqual(
      activity.attempts.map((a) => `${a.channel}:${a.status}:${a.reasonCode}:${a.reason}`),
      ["sms:BLOCKED:DNC:DNC:internal", "email:BLOCKED:DNC:DNC:internal"],
    );
    assert.ok(
      activity.attempts.every((a) => a.pluginId === undefined),
      "never handed to a plugin",
    );
    assert.deepEqual(sentTo(phone, email), before);
  });

  test("a prefix entry blocks a number under it", async () => {
    const id = await schedule(hub, {
      customer: { id: "dnc-2", phone: "+14156660123" },
      channel: "sms",
      content: { text: "Offer" },
      dncLists: ["internal"],
    });
    const activity = await settled(id, 1);
    assert.equal(activity.attempts[0]!.status, "BLOCKED");
    assert.equal(activity.attempts[0]!.reason, "DNC:internal");
    assert.equal(twilio.messages.filter((m) => m.to === "+14156660123").length, 0);
  });

  test("the same number in an activity naming no list is sent", async () => {
    const phone = "+14155550150";
    const id = await schedule(hub, { customer: { id: "dnc-3", phone }, channel: "sms", content: { text: "Hi" } });
    const activity = await settled(id, 1);
    assert.equal(activity.attempts[0]!.status, "QUEUED");
    assert.equal(activity.attempts[0]!.pluginId, "tw");
    assert.equal(twilio.messages.filter((m) => m.to === phone).length, 1);
  });

  test("an unknown list is a 400 at intake, naming it by its index; nothing is stored", async () => {
    const res = await hub.api("POST", "/api/v1/activities", {
      activities: [
        { customer: { id: "dnc-4", phone: "+14155550151" }, channel: "sms", content: { text: "x" } },
        {
          customer: { id: "dnc-5", phone: "+14155550152" },
          channel: "sms",
          content: { text: "x" },
          dncLists: ["internal", "no-such-list"],
        },
      ],
    });
    assert.equal(res.status, 400, res.text);
    const details = (res.body as { details: { path: string; message: string }[] }).details;
    assert.deepEqual(
      details.map((d) => d.path),
      ["/activities/1/dncLists/1"],
    );
    assert.match(details[0]!.message, /"no-such-list" is not a DNC list/);
    const stored = (await hub.api("GET", "/api/v1/activities?customerId=dnc-4")).body as { activities: unknown[] };
    assert.equal(stored.activities.length, 0);
  });

  test("a removed entry no longer blocks", async () => {
    const removed = await hub.api("DELETE", `/api/v1/dnc-lists/internal/entries/${encodeURIComponent("+1415666*")}`);
    assert.equal(removed.status, 200, removed.text);
    const missing = await hub.api("DELETE", `/api/v1/dnc-lists/internal/entries/${encodeURIComponent("+1415666*")}`);
    assert.equal(missing.status, 404);
    const id = await schedule(hub, {
      customer: { id: "dnc-6", phone: "+14156660123" },
      channel: "sms",
      content: { text: "Offer" },
      dncLists: ["internal"],
    });
    assert.equal((await settled(id, 1)).attempts[0]!.status, "QUEUED");
  });
});
