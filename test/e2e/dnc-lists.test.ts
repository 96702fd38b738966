/**
 * DNC lists through the REST API: a list is created and loaded (all or nothing), an activity
 * naming it is BLOCKED with `DNC:<list>` on every channel it tries (SMS, then its email
 * fallback), a prefix entry blocks the numbers under it, an activity naming no list is sent,
 * an unknown list is refused at intake, and a removed entry no longer blocks. A list loaded as
 * a CSV (generated here: BOM, CRLF, quotes, a header, national numbers, a bad line, repeats,
 * tens of thousands of lines) is all or nothing too, and blocks as a JSON-loaded one.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import path from "node:path";
import { describe, test, beforeAll, afterAll } from "@jest/globals";
import { startSmtpServer, type LocalSmtpServer } from "../vendors/smtp-server.ts";
import { startTwilioServer, type TwilioTestServer } from "../vendors/twilio-server.ts";
import { startTestHub, TEST_KEYS, type TestHub } from "../support/hub.ts";
import { schedule, waitForActivity, type ActivityView } from "./digital-helpers.ts";

interface LoadResult {
  id: string;
  added: number;
  existing: number;
  blank: number;
  lastRefreshedAt: string;
}
type ErrorBody = { message: string; details: { path: string; message: string }[] };

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
  /** An SMS "Offer" to `phone` naming `dncLists`, once its one attempt has settled. */
  const smsNaming = async (customerId: string, phone: string, dncLists: string[]): Promise<ActivityView> =>
    settled(
      await schedule(hub, {
        customer: { id: customerId, phone },
        channel: "sms",
        content: { text: "Offer" },
        dncLists,
      }),
      1,
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
    const activity = await smsNaming("dnc-2", "+14156660123", ["internal"]);
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

  /** POSTs a CSV body (text/csv) to the list's entries with the query parameters. */
  async function postCsv(id: string, file: Buffer | string, query = "", key = TEST_KEYS.writer) {
    const res = await fetch(`${hub.apiUrl}/api/v1/dnc-lists/${id}/entries${query}`, {
      method: "POST",
      headers: { Authorization: `Bearer ${key}`, "Content-Type": "text/csv" },
      body: new Uint8Array(Buffer.from(file)),
    });
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text) as LoadResult & ErrorBody, text };
  }
  const entriesOf = async (id: string): Promise<string[]> =>
    ((await hub.api("GET", `/api/v1/dnc-lists/${id}/entries?limit=1000`)).body as { entries: string[] }).entries;
  const BOM = "\uFEFF";

  test("a CSV with a header: BOM, CRLF, quotes, national numbers, prefixes, emails, blanks and repeats", async () => {
    await putList("state-ca", { name: "California DNC", source: "state download" });
    const seeded = await hub.api("POST", "/api/v1/dnc-lists/state-ca/entries", { entries: ["+14155550170"] });
    assert.equal(seeded.status, 200, seeded.text);
    const file =
      BOM +
      [
        "name,phone,note",
        '"Smith, Ada","(415) 555-0160","said ""stop"""',
        'Bob,415-555-0161,"two',
        'lines"',
        "Carol,+1 415 777*,prefix",
        "Dan,,no phone",
        "Eve,Eve.DNC@Example.com,email",
        "Ada again,+14155550160,repeat in the file",
        "Seeded,(415) 555-0170,already on the list",
      ].join("\r\n") +
      "\r\n";
    const res = await postCsv("state-ca", file, "?column=phone&defaultRegion=US");
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(
      { ...res.body, lastRefreshedAt: undefined },
      { id: "state-ca", added: 4, existing: 2, blank: 1, lastRefreshedAt: undefined },
    );
    assert.deepEqual((await entriesOf("state-ca")).sort(), [
      "+14155550160",
      "+14155550161",
      "+14155550170",
      "+1415777*",
      "eve.dnc@example.com",
    ]);
    const list = (await hub.api("GET", "/api/v1/dnc-lists/state-ca")).body as DncListView;
    assert.equal(list.lastRefreshedAt, res.body.lastRefreshedAt);
    assert.equal(readdirSync(path.join(hub.dataDir, "dnc-uploads")).length, 0, "the spooled upload is removed");
  });

  test("a bad entry is a 400 at its line and nothing of the file is stored", async () => {
    const before = await entriesOf("state-ca");
    const refreshed = ((await hub.api("GET", "/api/v1/dnc-lists/state-ca")).body as DncListView).lastRefreshedAt;
    const lines = ["+14155550180", "+14155550181", "0415550182", "+14155550183", "+1415*5"];
    const res = await postCsv("state-ca", lines.join("\n") + "\n");
    assert.equal(res.status, 400, res.text);
    assert.match(res.body.message, /^2 bad lines; nothing was stored$/);
    assert.deepEqual(
      res.body.details.map((d) => d.path),
      ["/file/line/3", "/file/line/5"],
    );
    assert.match(res.body.details[0]!.message, /"0415550182" is not a phone number in international form/);
    assert.deepEqual(await entriesOf("state-ca"), before);
    const list = (await hub.api("GET", "/api/v1/dnc-lists/state-ca")).body as DncListView;
    assert.equal(list.lastRefreshedAt, refreshed, "not marked refreshed");

    // Many bad lines: the first 100 are listed, all are counted.
    const many = await postCsv("state-ca", Array.from({ length: 150 }, (_, i) => `bad-${i}`).join("\n"));
    assert.equal(many.status, 400, many.text);
    assert.match(many.body.message, /^150 bad lines; nothing was stored \(the first 100 are listed\)$/);
    assert.equal(many.body.details.length, 100);
    assert.equal(many.body.details.at(-1)!.path, "/file/line/100");

    const broken = await postCsv("state-ca", '+14155550184\n"+14155550185\n');
    assert.equal(broken.status, 400, broken.text);
    assert.match(broken.body.details[0]!.path, /^\/file\/line\/\d+$/);
    assert.match(broken.body.message, /quoted field is never closed/);
    assert.deepEqual(await entriesOf("state-ca"), before);
  });

  test("a one-column file: its header needs ?header=true (the 400 says so); Latin-1 on request", async () => {
    await putList("emails", { name: "Email DNC" });
    const file = "email\r\nada@example.com\r\n";
    const refused = await postCsv("emails", file);
    assert.equal(refused.status, 400, refused.text);
    assert.deepEqual(
      refused.body.details.map((d) => d.path),
      ["/file/line/1"],
    );
    assert.match(refused.body.details[0]!.message, /if line 1 names the column, send \?header=true/);
    const ok = await postCsv("emails", file, "?header=true");
    assert.deepEqual([ok.status, ok.body.added], [200, 1], ok.text);

    const latin1 = Buffer.from("nom;courriel\nJos\xe9;jose@example.fr\n", "latin1");
    const notUtf8 = await postCsv("emails", latin1, "?column=courriel&delimiter=%3B");
    assert.equal(notUtf8.status, 400, notUtf8.text);
    assert.deepEqual(
      notUtf8.body.details.map((d) => d.path),
      ["/file/line/2"],
    );
    const decoded = await postCsv("emails", latin1, "?column=courriel&delimiter=%3B&encoding=latin1");
    assert.deepEqual([decoded.status, decoded.body.added], [200, 1], decoded.text);
    assert.deepEqual((await entriesOf("emails")).sort(), ["ada@example.com", "jose@example.fr"]);
  });

  test("refusals: an unknown list 404, a reader 403, a bad option 400, another type 415", async () => {
    assert.equal((await postCsv("no-such-list", "+14155550190\n")).status, 404);
    assert.equal((await postCsv("emails", "+14155550190\n", "", TEST_KEYS.reader)).status, 403);
    const option = await postCsv("emails", "+14155550190\n", "?defaultRegion=XX&mode=fast");
    assert.equal(option.status, 400, option.text);
    assert.deepEqual(option.body.details.map((d) => d.path).sort(), ["/query/defaultRegion", "/query/mode"]);
    const empty = await postCsv("emails", "phone\n", "?header=true");
    assert.equal(empty.status, 400, empty.text);
    assert.deepEqual(
      empty.body.details.map((d) => d.path),
      ["/file"],
    );
    const plain = await fetch(`${hub.apiUrl}/api/v1/dnc-lists/emails/entries`, {
      method: "POST",
      headers: { Authorization: `Bearer ${TEST_KEYS.writer}`, "Content-Type": "text/plain" },
      body: "+14155550190\n",
    });
    assert.equal(plain.status, 415);
  });

  test("tens of thousands of lines stream through; repeats across batches are counted as existing", async () => {
    await putList("national", { name: "National DNC", source: "registry download" });
    const rows = 40_000;
    const number = (i: number) => `+1212${String(2_000_000 + i).padStart(7, "0")}`;
    // Every 10th line repeats the number of a line 1,501 earlier (not itself a repeat): in another insert batch.
    const lines = Array.from({ length: rows }, (_, i) => (i % 10 === 9 && i >= 1500 ? number(i - 1501) : number(i)));
    const res = await postCsv("national", `phone\r\n${lines.join("\r\n")}\r\n`, "?header=true");
    assert.equal(res.status, 200, res.text);
    const repeats = lines.filter((_, i) => i % 10 === 9 && i >= 1500).length;
    assert.deepEqual([res.body.added, res.body.existing], [rows - repeats, repeats]);
    assert.equal(((await hub.api("GET", "/api/v1/dnc-lists/national")).body as DncListView).entries, rows - repeats);
  });

  test("an activity to a number loaded by CSV is BLOCKED as DNC:<list>", async () => {
    const activity = await smsNaming("dnc-csv-1", "+14155550161", ["state-ca"]);
    assert.deepEqual([activity.attempts[0]!.status, activity.attempts[0]!.reason], ["BLOCKED", "DNC:state-ca"]);
    assert.equal(twilio.messages.filter((m) => m.to === "+14155550161").length, 0);
  });
});
