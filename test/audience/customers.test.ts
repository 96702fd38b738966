/** Customers and declared attributes against a real hub on FerretDB. */
import assert from "node:assert/strict";
import { afterAll, beforeAll, describe, test } from "@jest/globals";
import { startTestHub, TEST_KEYS, type TestHub } from "../support/hub.ts";

describe("customers", () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub({});
    for (const [name, decl] of Object.entries({
      segment: { type: "enum", values: ["gold", "silver"] },
      balance: { type: "number" },
      code: { type: "string", unique: true },
    })) {
      const res = await hub.api("PUT", `/api/v1/attributes/${name}`, decl);
      assert.equal(res.status, 201, res.text);
    }
  });
  afterAll(async () => {
    await hub?.stop();
  });

  test("an attribute declaration is validated and read back", async () => {
    const bad = await hub.api("PUT", "/api/v1/attributes/tier", { type: "enum" });
    assert.equal(bad.status, 400);
    assert.deepEqual(
      (bad.body as { details: { path: string }[] }).details.map((d) => d.path),
      ["/values"],
    );
    const got = await hub.api("GET", "/api/v1/attributes/segment", undefined, TEST_KEYS.reader);
    assert.equal(got.status, 200);
    assert.deepEqual((got.body as { values: string[] }).values, ["gold", "silver"]);
    assert.equal((await hub.api("PUT", "/api/v1/attributes/x", { type: "string" }, TEST_KEYS.writer)).status, 403);
  });

  test("an attribute declared indexed has an index for filters, dropped when it no longer is", async () => {
    const indexes = async () =>
      (await hub.runtime.store.conn.collection("customers").indexes())
        .map((i) => i.name)
        .filter((n) => /^attr_/.test(n!));
    const put = async (decl: unknown) => {
      const res = await hub.api("PUT", "/api/v1/attributes/region", decl);
      assert.ok(res.status === 201 || res.status === 200, res.text);
      return res.body as { indexed: boolean; unique: boolean };
    };
    assert.equal((await put({ type: "string", indexed: true })).indexed, true);
    assert.deepEqual((await indexes()).sort(), ["attr_code_unique", "attr_region"]);
    await put({ type: "string", indexed: true, unique: true });
    assert.deepEqual((await indexes()).sort(), ["attr_code_unique", "attr_region_unique"]);
    assert.equal((await put({ type: "string" })).indexed, false);
    assert.deepEqual(await indexes(), ["attr_code_unique"]);
    const bad = await hub.api("PUT", "/api/v1/attributes/region", { type: "string", indexed: "yes" });
    assert.equal(bad.status, 400);
    assert.deepEqual(
      (bad.body as { details: { path: string }[] }).details.map((d) => d.path),
      ["/indexed"],
    );
  });

  test("PUT creates then replaces; phones are E.164 with zones; bad input names its pointer", async () => {
    const body = {
      firstName: "Ada",
      lastName: "Lovelace",
      email: "Ada@Example.com",
      phones: [{ number: "+1 212 555 0100", label: "Mobile" }, "+44 20 7946 0958"],
      attributes: { segment: "gold", balance: 150, code: "A-1" },
    };
    const created = await hub.api("PUT", "/api/v1/customers/ada", body, TEST_KEYS.writer);
    assert.equal(created.status, 201, created.text);
    const c = created.body as { email: string; phones: { number: string; label: string; zones: string[] }[] };
    assert.equal(c.email, "ada@example.com");
    assert.deepEqual(
      c.phones.map((p) => [p.number, p.label]),
      [
        ["+12125550100", "Mobile"],
        ["+442079460958", "phone 2"],
      ],
    );
    assert.ok(c.phones[0]!.zones.includes("America/New_York"));
    assert.equal((await hub.api("PUT", "/api/v1/customers/ada", body, TEST_KEYS.writer)).status, 200);

    const bad = await hub.api("PUT", "/api/v1/customers/bob", {
      phones: ["555"],
      attributes: { segment: "bronze", balance: "x", colour: "red" },
    });
    assert.equal(bad.status, 400);
    const details = (bad.body as { details: { path: string; message: string }[] }).details;
    const byPath = Object.fromEntries(details.map((d) => [d.path, d.message]));
    assert.match(byPath["/phones/0"]!, /"555" is not a valid phone number \(expected E\.164/);
    assert.match(byPath["/attributes/segment"]!, /"bronze": expected one of "gold", "silver"/);
    assert.match(byPath["/attributes/balance"]!, /expected a number/);
    assert.match(byPath["/attributes/colour"]!, /not a declared attribute/);

    const clash = await hub.api("PUT", "/api/v1/customers/ada2", { attributes: { code: "A-1" } });
    assert.equal(clash.status, 409, clash.text);
  });

  test("list: cursor paging, search by name, email and phone, attribute filters; delete", async () => {
    for (let i = 0; i < 5; i++) {
      const res = await hub.api("PUT", `/api/v1/customers/p${i}`, {
        firstName: i % 2 ? "Grace" : "Alan",
        email: `p${i}@example.org`,
        phones: [`+1415555010${i}`],
        attributes: { segment: i < 2 ? "gold" : "silver", balance: i * 100 },
      });
      assert.equal(res.status, 201, res.text);
    }
    const ids: string[] = [];
    let after = "";
    for (let page = 0; page < 5; page++) {
      const res = await hub.api(
        "GET",
        `/api/v1/customers?limit=2${after ? `&after=${after}` : ""}`,
        undefined,
        TEST_KEYS.reader,
      );
      assert.equal(res.status, 200, res.text);
      const b = res.body as { customers: { id: string }[]; next: string | null };
      ids.push(...b.customers.map((c) => c.id));
      if (!b.next) break;
      after = b.next;
    }
    assert.deepEqual(ids, ["ada", "p0", "p1", "p2", "p3", "p4"]);
    const list = async (qs: string) =>
      ((await hub.api("GET", `/api/v1/customers?${qs}`)).body as { customers: { id: string }[] }).customers.map(
        (c) => c.id,
      );
    assert.deepEqual(await list("q=gra"), ["p1", "p3"]);
    assert.deepEqual(await list("q=p4%40"), ["p4"]);
    assert.deepEqual(await list(`q=${encodeURIComponent("+1 (415) 555-0102")}`), ["p2"]);
    assert.deepEqual(await list("attributes.segment=gold"), ["ada", "p0", "p1"]);
    assert.deepEqual(await list("attributes.segment=silver&attributes.balance=300"), ["p3"]);
    const bad = await hub.api("GET", "/api/v1/customers?attributes.balance=lots&attributes.size=2");
    assert.equal(bad.status, 400);
    assert.deepEqual(
      (bad.body as { details: { path: string }[] }).details.map((d) => d.path),
      ["/query/attributes.balance", "/query/attributes.size"],
    );
    // Found by the schemathesis fuzz: a NUL in the search was a 500 (a regex cannot carry it).
    const nul = await hub.api("GET", "/api/v1/customers?q=%00%C2%A9c");
    assert.equal(nul.status, 400, nul.text);
    assert.equal((await hub.api("DELETE", "/api/v1/customers/p4", undefined, TEST_KEYS.writer)).status, 200);
    assert.equal((await hub.api("GET", "/api/v1/customers/p4")).status, 404);
  });
});
