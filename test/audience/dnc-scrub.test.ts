/**
 * The scrub of a filter against a DNC list, through the REST API: which customers the filter
 * matches have a phone or the email on the list (exactly or under a prefix), counted, with a
 * sample of them and their listed addresses; a saved filter or an inline `where`; bad requests.
 */
import assert from "node:assert/strict";
import { afterAll, beforeAll, describe, test } from "@jest/globals";
import { startTestHub, TEST_KEYS, type TestHub } from "../support/hub.ts";

interface Scrub {
  count: number;
  sample: { customer: { id: string }; addresses: string[] }[];
}

describe("POST /api/v1/dnc-lists/:id/scrub", () => {
  let hub: TestHub;

  beforeAll(async () => {
    hub = await startTestHub({});
    assert.equal(
      (await hub.api("PUT", "/api/v1/attributes/segment", { type: "enum", values: ["gold", "basic"] })).status,
      201,
    );
    // S1..S12: gold when odd; phone +1415555010<n>; S3 has a listed email, S4 and S8 a listed
    // phone, S10-S12 phones under the listed prefix +1415666.
    for (let n = 1; n <= 12; n++) {
      const phone = n >= 10 ? `+1415666${String(n).padStart(4, "0")}` : `+1415555${String(100 + n).padStart(4, "0")}`;
      const res = await hub.api("PUT", `/api/v1/customers/S${n}`, {
        email: n === 3 ? "Listed@Example.com" : `s${n}@example.com`,
        phones: [phone],
        attributes: { segment: n % 2 ? "gold" : "basic" },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
    }
    assert.equal((await hub.api("PUT", "/api/v1/dnc-lists/scrubbed", { name: "Scrubbed" })).status, 201);
    const load = await hub.api("POST", "/api/v1/dnc-lists/scrubbed/entries", {
      entries: ["listed@example.com", "+14155550104", "+14155550108", "+1415666*", "+12125550100"],
    });
    assert.equal(load.status, 200, JSON.stringify(load.body));
    const saved = await hub.api("PUT", "/api/v1/filters/gold", {
      where: { attr: "attributes.segment", op: "eq", value: "gold" },
    });
    assert.equal(saved.status, 201, JSON.stringify(saved.body));
  });
  afterAll(async () => {
    await hub?.stop();
  });

  test("a saved filter: the customers of it on the list, counted, with their listed addresses", async () => {
    const res = await hub.api("POST", "/api/v1/dnc-lists/scrubbed/scrub", { filter: "gold" }, TEST_KEYS.reader);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const out = res.body as Scrub;
    // Gold (odd): S3 by its email, S11 under the prefix; S1, S5, S7, S9 are not listed.
    assert.equal(out.count, 2);
    assert.deepEqual(
      out.sample.map((s) => [s.customer.id, s.addresses]),
      [
        ["S11", ["+14156660011"]],
        ["S3", ["listed@example.com"]],
      ],
    );
  });

  test("an inline where, and a sample cut to limit while the count is of all", async () => {
    const res = await hub.api("POST", "/api/v1/dnc-lists/scrubbed/scrub?limit=2", {
      where: { attr: "email", op: "contains", value: "example.com" },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const out = res.body as Scrub;
    assert.equal(out.count, 6, "S3, S4, S8, S10, S11, S12");
    assert.deepEqual(
      out.sample.map((s) => s.customer.id),
      ["S10", "S11"],
    );
  });

  test("bad requests: both or neither of filter and where, an unknown filter, a bad condition, an unknown list", async () => {
    const paths = async (body: unknown, list = "scrubbed") => {
      const res = await hub.api("POST", `/api/v1/dnc-lists/${list}/scrub`, body);
      return [res.status, ((res.body as { details?: { path: string }[] }).details ?? []).map((d) => d.path)];
    };
    assert.deepEqual(await paths({}), [400, [""]]);
    assert.deepEqual(await paths({ filter: "gold", where: { attr: "id", op: "eq", value: "S1" } }), [400, [""]]);
    assert.deepEqual(await paths({ filter: "nope" }), [400, ["/filter"]]);
    const bad = await paths({ where: { attr: "attributes.segment", op: "eq", value: "bronze" } });
    assert.equal(bad[0], 400);
    assert.match(String(bad[1]), /^\/where/);
    assert.deepEqual(await paths({ filter: "gold" }, "missing"), [404, []]);
  });
});
