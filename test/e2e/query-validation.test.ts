/**
 * Query parameters are plain values or a 400: operator objects (`?customerId[$ne]=x`) and arrays
 * never reach the store, and a `limit` outside its range is refused rather than clamped.
 */
import assert from "node:assert/strict";
import { afterAll, beforeAll, describe, test } from "@jest/globals";
import { startTestHub, type TestHub } from "../support/hub.ts";

describe("typed query parameters", () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub({ plugins: [] });
    // Two customers' conversations exist (inbound ones are enough).
    await hub.runtime.conversations.ensureInbound("sms", "+14155550101", new Date());
    await hub.runtime.conversations.ensureInbound("sms", "+14155550102", new Date());
  });
  afterAll(async () => {
    await hub?.stop();
  });

  test("an operator object in a query parameter is a 400 naming it, and lists nothing", async () => {
    for (const query of [
      "customerId[$ne]=x",
      "customerId[$gt]=",
      "customerId[]=a&customerId[]=b",
      "customerId=a&customerId=b",
    ]) {
      const res = await hub.api("GET", `/api/v1/conversations?${query}`);
      assert.equal(res.status, 400, `${query}: ${res.text}`);
      const body = res.body as { error: string; details: { path: string }[] };
      assert.equal(body.error, "ValidationError");
      assert.deepEqual(
        body.details.map((d) => d.path),
        ["/query/customerId"],
        query,
      );
      assert.ok(!res.text.includes("unknown:+1415555010"), "no conversation leaks");
    }
    const dead = await hub.api("GET", "/api/v1/webhooks/dead-letters?after[$gt]=");
    assert.equal(dead.status, 400, dead.text);
  });

  test("limit beyond its maximum, zero or not a number is refused, not clamped", async () => {
    for (const limit of ["501", "0", "ten", "1.5"]) {
      const res = await hub.api("GET", `/api/v1/conversations?customerId=unknown:+14155550101&limit=${limit}`);
      assert.equal(res.status, 400, `limit=${limit}: ${res.text}`);
      assert.match(res.text, /must be an integer from 1 to 500/);
    }
    const ok = await hub.api("GET", "/api/v1/conversations?customerId=unknown%3A%2B14155550101&limit=500");
    assert.equal(ok.status, 200, ok.text);
    assert.equal((ok.body as { conversations: unknown[] }).conversations.length, 1);
  });
});

describe("methods", () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub({ plugins: [] });
  });
  afterAll(async () => {
    await hub?.stop();
  });

  test("a method a path does not serve is a 405 with Allow; an unknown path stays a 404", async () => {
    for (const [method, url, allow] of [
      ["PUT", "/api/v1/activities", "GET, POST"],
      ["PATCH", "/api/v1/plugins/mail", "DELETE"],
      ["DELETE", "/api/v1/conversations", "GET"],
    ] as const) {
      const res = await fetch(hub.apiUrl + url, {
        method,
        headers: { Authorization: "Bearer test-admin-key-0123456789" },
      });
      assert.equal(res.status, 405, `${method} ${url}`);
      assert.equal(res.headers.get("allow"), allow);
      const body = JSON.parse(await res.text()) as { error: string; message: string };
      assert.equal(body.error, "MethodNotAllowed");
      assert.match(body.message, new RegExp(`${method} is not allowed on ${url.replace(/\//g, "\\/")}`));
    }
    const unknown = await hub.api("GET", "/api/v1/nothing-here");
    assert.equal(unknown.status, 404);
  });
});
