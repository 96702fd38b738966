/** Saved customer filters and their live preview against a real hub on FerretDB. */
import assert from "node:assert/strict";
import { afterAll, beforeAll, describe, test } from "@jest/globals";
import { startTestHub, TEST_KEYS, type TestHub } from "../support/hub.ts";

const DAY = 86_400_000;

describe("filters", () => {
  let hub: TestHub;
  /** The ids of the customers the filter `id` matches now (count checked against the sample). */
  const preview = async (id: string) => {
    const res = await hub.api("GET", `/api/v1/filters/${id}/preview?limit=100`, undefined, TEST_KEYS.reader);
    assert.equal(res.status, 200, res.text);
    const b = res.body as { count: number; sample: { id: string }[] };
    assert.equal(b.count, b.sample.length);
    return b.sample.map((c) => c.id);
  };
  const putFilter = async (id: string, where: unknown) => {
    const res = await hub.api("PUT", `/api/v1/filters/${id}`, { where }, TEST_KEYS.writer);
    assert.ok(res.status === 201 || res.status === 200, res.text);
    return res;
  };
  const putCustomer = async (id: string, body: unknown) => {
    const res = await hub.api("PUT", `/api/v1/customers/${id}`, body, TEST_KEYS.writer);
    assert.equal(res.status, 201, res.text);
  };

  beforeAll(async () => {
    hub = await startTestHub({});
    for (const [name, decl] of Object.entries({
      segment: { type: "enum", values: ["gold", "silver"] },
      balance: { type: "number" },
      lastPurchase: { type: "date" },
      city: { type: "string" },
    })) {
      const res = await hub.api("PUT", `/api/v1/attributes/${name}`, decl);
      assert.equal(res.status, 201, res.text);
    }
    // Purchase dates days away from the -P30D boundary, so the test does not depend on when it runs.
    const daysAgo = (n: number) => new Date(Date.now() - n * DAY).toISOString();
    const customers: Record<string, unknown> = {
      c1: {
        firstName: "Ada",
        email: "ada@example.com",
        attributes: { segment: "gold", balance: 150, lastPurchase: daysAgo(10), city: "New York" },
      },
      c2: {
        firstName: "Alan",
        attributes: { segment: "gold", balance: 50, lastPurchase: daysAgo(40), city: "Newark" },
      },
      c3: { firstName: "Grace", phones: ["+14155550100"], attributes: { segment: "silver", balance: 500 } },
      c4: { firstName: "Linus", attributes: { segment: "silver", balance: 20, city: "St. John's (East)" } },
      c5: { firstName: "Edsger", email: "edsger@example.org", attributes: { city: "Stx Johns" } },
      // 2020-05-31T22:00Z: stored in UTC, so it falls in May although its text says June.
      c6: { firstName: "Niklaus", attributes: { lastPurchase: "2020-06-01T01:00:00+03:00" } },
    };
    for (const [id, body] of Object.entries(customers)) await putCustomer(id, body);
  });
  afterAll(async () => {
    await hub?.stop();
  });

  test("PUT creates then replaces; GET and the list give it back; preview counts the matches", async () => {
    const where = {
      and: [
        { attr: "attributes.segment", op: "eq", value: "gold" },
        { attr: "attributes.balance", op: "gt", value: 100 },
      ],
    };
    const created = await putFilter("gold-rich", where);
    assert.equal(created.status, 201);
    const replaced = await hub.api(
      "PUT",
      "/api/v1/filters/gold-rich",
      { name: "Gold, balance over 100", where },
      TEST_KEYS.writer,
    );
    assert.equal(replaced.status, 200, replaced.text);
    const got = await hub.api("GET", "/api/v1/filters/gold-rich", undefined, TEST_KEYS.reader);
    assert.equal(got.status, 200);
    assert.deepEqual((got.body as { where: unknown }).where, where);
    assert.equal((got.body as { name: string }).name, "Gold, balance over 100");
    assert.deepEqual(await preview("gold-rich"), ["c1"]);

    const sampled = await hub.api("GET", "/api/v1/filters/gold-rich/preview?limit=1");
    const b = sampled.body as { count: number; sample: { id: string; attributes: Record<string, unknown> }[] };
    assert.equal(b.count, 1);
    assert.equal(b.sample[0]!.attributes.balance, 150);

    await putFilter("everyone", { attr: "createdAt", op: "exists", value: true });
    const list = await hub.api("GET", "/api/v1/filters?limit=1", undefined, TEST_KEYS.reader);
    assert.deepEqual(list.body && (list.body as { filters: { id: string }[] }).filters.map((f) => f.id), ["everyone"]);
    assert.equal((list.body as { next: string }).next, "everyone");
    const rest = await hub.api("GET", "/api/v1/filters?after=everyone");
    assert.deepEqual(
      (rest.body as { filters: { id: string }[] }).filters.map((f) => f.id),
      ["gold-rich"],
    );
  });

  test("and/or/not nest; not includes customers without the field; contains/startsWith take the text literally", async () => {
    await putFilter("nested", {
      or: [
        {
          and: [
            { attr: "attributes.segment", op: "eq", value: "silver" },
            { not: { attr: "attributes.balance", op: "gt", value: 100 } },
          ],
        },
        { attr: "attributes.city", op: "startsWith", value: "new y" },
      ],
    });
    assert.deepEqual(await preview("nested"), ["c1", "c4"]);

    await putFilter("not-rich", { not: { attr: "attributes.balance", op: "gte", value: 100 } });
    assert.deepEqual(await preview("not-rich"), ["c2", "c4", "c5", "c6"]);

    await putFilter("saint", { attr: "attributes.city", op: "contains", value: "st. john's (" });
    assert.deepEqual(await preview("saint"), ["c4"]);

    await putFilter("facts", {
      or: [
        { attr: "email", op: "in", value: ["ADA@example.com"] },
        { attr: "phones", op: "eq", value: "+14155550100" },
        {
          and: [
            { attr: "attributes.balance", op: "between", value: [10, 60] },
            { attr: "firstName", op: "ne", value: "Alan" },
          ],
        },
      ],
    });
    assert.deepEqual(await preview("facts"), ["c1", "c3", "c4"]);

    await putFilter("no-email", {
      and: [
        { attr: "email", op: "exists", value: false },
        { attr: "attributes.segment", op: "nin", value: ["silver"] },
      ],
    });
    assert.deepEqual(await preview("no-email"), ["c2", "c6"]);
  });

  test("relative dates are resolved at each preview", async () => {
    await putFilter("recent-buyers", { attr: "attributes.lastPurchase", op: "gte", value: "-P30D" });
    assert.deepEqual(await preview("recent-buyers"), ["c1"]);
    await putFilter("lapsed", {
      attr: "attributes.lastPurchase",
      op: "between",
      value: ["-P1Y", "-P30D"],
    });
    assert.deepEqual(await preview("lapsed"), ["c2"]);
    await putFilter("created-today", { attr: "createdAt", op: "gte", value: "-P1D" });
    assert.deepEqual(await preview("created-today"), ["c1", "c2", "c3", "c4", "c5", "c6"]);
    await putFilter("created-long-ago", { attr: "createdAt", op: "lt", value: "-P1D" });
    assert.deepEqual(await preview("created-long-ago"), []);
    await putFilter("may-2020", {
      attr: "attributes.lastPurchase",
      op: "between",
      value: ["2020-05-31", "2020-05-31T23:59:59Z"],
    });
    assert.deepEqual(await preview("may-2020"), ["c6"]);
  });

  test("membership is live: a customer written after the filter was saved matches at once", async () => {
    await putFilter("gold", { attr: "attributes.segment", op: "eq", value: "gold" });
    assert.deepEqual(await preview("gold"), ["c1", "c2"]);
    await putCustomer("c0", { firstName: "Barbara", attributes: { segment: "gold" } });
    assert.deepEqual(await preview("gold"), ["c0", "c1", "c2"]);
    assert.equal((await hub.api("DELETE", "/api/v1/customers/c0", undefined, TEST_KEYS.writer)).status, 200);
    assert.deepEqual(await preview("gold"), ["c1", "c2"]);
  });

  test("bad filters are 400s naming the place and what was expected; unknown is 404; roles apply", async () => {
    const bad = await hub.api(
      "PUT",
      "/api/v1/filters/bad",
      {
        where: {
          and: [
            { attr: "attributes.colour", op: "eq", value: "red" },
            { attr: "attributes.balance", op: "gt", value: "100" },
            { attr: "attributes.segment", op: "lt", value: "gold" },
            { attr: "createdAt", op: "gte", value: "30 days ago" },
          ],
        },
      },
      TEST_KEYS.writer,
    );
    assert.equal(bad.status, 400, bad.text);
    const details = (bad.body as { details: { path: string; message: string }[] }).details;
    const byPath = Object.fromEntries(details.map((d) => [d.path, d.message]));
    assert.deepEqual(Object.keys(byPath), [
      "/where/and/0/attr",
      "/where/and/1/value",
      "/where/and/2/op",
      "/where/and/3/value",
    ]);
    assert.match(byPath["/where/and/0/attr"]!, /^colour is not a declared attribute/);
    assert.match(byPath["/where/and/1/value"]!, /expected a number/);

    const shape = await hub.api("PUT", "/api/v1/filters/bad", { where: { attr: "email", op: "like" }, colour: 1 });
    assert.equal(shape.status, 400);
    assert.deepEqual((shape.body as { details: { path: string }[] }).details.map((d) => d.path).sort(), [
      "/colour",
      "/where/op",
    ]);
    assert.equal((await hub.api("GET", "/api/v1/filters/bad")).status, 404);
    assert.equal((await hub.api("GET", "/api/v1/filters/bad/preview")).status, 404);
    assert.equal((await hub.api("GET", "/api/v1/filters/gold/preview?limit=1000")).status, 400);
    const denied = await hub.api(
      "PUT",
      "/api/v1/filters/x",
      { where: { attr: "email", op: "exists", value: true } },
      TEST_KEYS.reader,
    );
    assert.equal(denied.status, 403);
  });

  test("a filter the declarations no longer fit is a 409 at preview; DELETE removes a filter", async () => {
    await putFilter("by-city", { attr: "attributes.city", op: "startsWith", value: "New" });
    assert.equal((await hub.api("PUT", "/api/v1/attributes/city", { type: "number" })).status, 200);
    const stale = await hub.api("GET", "/api/v1/filters/by-city/preview");
    assert.equal(stale.status, 409, stale.text);
    assert.deepEqual(
      (stale.body as { details: { path: string }[] }).details.map((d) => d.path),
      ["/where/op"],
    );
    assert.equal((await hub.api("PUT", "/api/v1/attributes/city", { type: "string" })).status, 200);
    assert.equal((await hub.api("DELETE", "/api/v1/filters/by-city", undefined, TEST_KEYS.writer)).status, 200);
    assert.equal((await hub.api("GET", "/api/v1/filters/by-city")).status, 404);
    assert.equal((await hub.api("DELETE", "/api/v1/filters/by-city", undefined, TEST_KEYS.writer)).status, 404);
  });
});

describe("a preview that runs past api.previewTimeoutMs", () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub({ api: { previewTimeoutMs: 1 } });
    assert.equal((await hub.api("PUT", "/api/v1/attributes/balance", { type: "number" })).status, 201);
    // Enough customers that a range over an attribute cannot be read within 1 ms.
    const customers = hub.runtime.store.conn.collection("customers");
    for (let b = 0; b < 5; b++)
      await customers.insertMany(
        Array.from({ length: 2_000 }, (_, i) => ({ _id: `t${b}-${i}`, attributes: { balance: i } })) as never[],
      );
  });
  afterAll(async () => {
    await hub?.stop();
  });

  test("is a 504 that says what took too long and what to do, before the request timeout", async () => {
    const where = { attr: "attributes.balance", op: "gt", value: 10 };
    assert.equal((await hub.api("PUT", "/api/v1/filters/slow", { where }, TEST_KEYS.writer)).status, 201);
    const res = await hub.api("GET", "/api/v1/filters/slow/preview", undefined, TEST_KEYS.reader);
    assert.equal(res.status, 504, res.text);
    const body = res.body as { error: string; message: string };
    assert.equal(body.error, "GatewayTimeout");
    assert.match(body.message, /preview of filter slow took longer than 0\.001 s: .*indexed/);
  });
});
