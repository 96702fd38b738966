/** GET /api/v1/activities: filters, cursor paging, typed parameters. */
import assert from "node:assert/strict";
import { afterAll, beforeAll, describe, test } from "@jest/globals";
import { eventually, startTestHub, type TestHub } from "../support/hub.ts";
import { startSmtpServer, type LocalSmtpServer } from "../vendors/smtp-server.ts";

describe("listing activities", () => {
  let hub: TestHub;
  let ids: string[];
  beforeAll(async () => {
    // Due in an hour: they stay SCHEDULED while the test lists them.
    hub = await startTestHub({
      plugins: [{ id: "mail", use: "email-smtp", options: { host: "127.0.0.1", port: 1, from: "a@b.co" } }],
    });
    const dueAt = new Date(Date.now() + 3600_000).toISOString();
    const res = await hub.api("POST", "/api/v1/activities", {
      activities: Array.from({ length: 7 }, (_, i) => ({
        customer: { id: i < 5 ? "cust-a" : "cust-b", email: `l${i}@example.com` },
        channel: "email",
        content: { text: "x" },
        campaignId: i % 2 === 0 ? "even" : "odd",
        dueAt,
      })),
    });
    assert.equal(res.status, 202, res.text);
    ids = (res.body as { activities: { id: string }[] }).activities.map((a) => a.id);
  });
  afterAll(async () => {
    await hub?.stop();
  });

  type Page = { activities: { id: string; customerId: string; campaignId: string }[]; next: string | null };
  const page = async (query: string) => {
    const res = await hub.api("GET", `/api/v1/activities?${query}`);
    assert.equal(res.status, 200, res.text);
    return res.body as Page;
  };

  test("filters by customer and campaign, and pages by cursor in id order (creation time first) without gaps or repeats", async () => {
    assert.deepEqual(
      (await page("customerId=cust-a&campaignId=even")).activities.map((a) => a.id),
      [ids[0]!, ids[2]!, ids[4]!].sort(),
    );
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const p: Page = await page(`status=SCHEDULED&limit=3${cursor ? `&after=${cursor}` : ""}`);
      assert.ok(p.activities.length <= 3);
      seen.push(...p.activities.map((a) => a.id));
      cursor = p.next;
    } while (cursor);
    assert.deepEqual(seen, [...ids].sort());
    assert.deepEqual((await page("status=SENT")).activities, []);
    const until = new Date(Date.now() - 3600_000).toISOString();
    assert.deepEqual((await page(`until=${encodeURIComponent(until)}`)).activities, []);
  });

  test("bad filters are a 400 naming them; a reader may list", async () => {
    for (const [query, pointer] of [
      ["status=DONE", "/query/status"],
      ["since=yesterday", "/query/since"],
      ["after=x' OR 1=1", "/query/after"],
      ["limit=501", "/query/limit"],
      ["customerId[$ne]=x", "/query/customerId"],
    ] as const) {
      const res = await hub.api("GET", `/api/v1/activities?${query}`);
      assert.equal(res.status, 400, `${query}: ${res.text}`);
      assert.ok(
        (res.body as { details: { path: string }[] }).details.some((d) => d.path === pointer),
        res.text,
      );
    }
  });
});

describe("listing a send in flight", () => {
  let hub: TestHub;
  let smtp: LocalSmtpServer;
  beforeAll(async () => {
    smtp = await startSmtpServer();
    hub = await startTestHub({
      plugins: [{ id: "mail", use: "email-smtp", options: { host: "127.0.0.1", port: smtp.port, from: "a@b.co" } }],
    });
  });
  afterAll(async () => {
    await hub?.stop();
    await smtp?.stop();
  });

  test("an activity whose email is being sent is listed as DISPATCHING, not under its stored status", async () => {
    const release = smtp.holdAnswersAfter(0);
    const res = await hub.api("POST", "/api/v1/activities", {
      customer: { id: "in-flight", email: "flight@example.com" },
      channel: "email",
      content: { text: "x" },
    });
    assert.equal(res.status, 202, res.text);
    const id = (res.body as { id: string }).id;
    const list = async (status: string) =>
      (
        (await hub.api("GET", `/api/v1/activities?status=${status}&customerId=in-flight`)).body as {
          activities: { id: string; status: string }[];
        }
      ).activities;
    try {
      const dispatching = await eventually(
        async () => {
          const found = await list("DISPATCHING");
          return found.length > 0 && found;
        },
        10_000,
        "the send listed as DISPATCHING",
      );
      assert.deepEqual(
        dispatching.map((a) => [a.id, a.status]),
        [[id, "DISPATCHING"]],
      );
      assert.deepEqual(await list("SCHEDULED"), [], "not under the status it is stored with");
    } finally {
      release();
    }
    await eventually(async () => (await list("SENT")).length === 1, 10_000, "SENT once answered");
    assert.deepEqual(await list("DISPATCHING"), []);
  });
});
