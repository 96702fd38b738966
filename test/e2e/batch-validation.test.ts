/**
 * A batch is all or nothing: an item whose attributes the store could not keep, a phone with an
 * extension or a fixed-offset time zone fails the request with the item's pointer, and none of
 * the other items is stored.
 */
import assert from "node:assert/strict";
import { afterAll, beforeAll, describe, test } from "@jest/globals";
import { startTestHub, type TestHub } from "../support/hub.ts";

describe("batch validation", () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub({
      plugins: [{ id: "mail", use: "email-smtp", options: { host: "127.0.0.1", port: 1, from: "a@b.co" } }],
    });
  });
  afterAll(async () => {
    await hub?.stop();
  });

  const good = (i: number) => ({
    customer: { id: `b-${i}`, email: `b${i}@example.com` },
    channel: "email",
    content: { text: "hi" },
    idempotencyKey: `batch-${i}`,
  });

  test("one bad item among good ones: 400 with its pointer, and nothing stored", async () => {
    let deep: Record<string, unknown> = { leaf: true };
    for (let i = 0; i < 1000; i++) deep = { d: deep };
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [
        { attributes: { "utm.source": "mail" } },
        "/activities/1/customer/attributes/utm.source",
        /usable attribute name/,
      ],
      [{ attributes: deep }, "/activities/1/customer/attributes/d/d/d/d/d/d/d/d", /deeper than 8/],
      [{ attributes: { blob: "x".repeat(70_000) } }, "/activities/1/customer/attributes", /bytes of JSON/],
      [{ phone: "+1 415 555 0100 ext. 12" }, "/activities/1/customer/phone", /has an extension \(12\)/],
      [{ timezone: "+05:30" }, "/activities/1/customer/timezone", /not an IANA time zone name/],
    ];
    for (const [extra, pointer, message] of cases) {
      const bad = { ...good(1), customer: { ...good(1).customer, ...extra } };
      const res = await hub.api("POST", "/api/v1/activities", { activities: [good(0), bad, good(2)] });
      assert.equal(res.status, 400, `${pointer}: ${res.text.slice(0, 500)}`);
      const details = (res.body as { details: { path: string; message: string }[] }).details;
      const hit = details.find((d) => d.path === pointer);
      assert.ok(hit, `${pointer} in ${JSON.stringify(details).slice(0, 500)}`);
      assert.match(hit.message, message);
    }
    const stored = await hub.runtime.store.models.Activity.countDocuments({});
    assert.equal(stored, 0, "no item of a refused batch is stored");
    const ok = await hub.api("POST", "/api/v1/activities", { activities: [good(0), good(1), good(2)] });
    assert.equal(ok.status, 202, ok.text);
  });
});
