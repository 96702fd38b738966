import assert from "node:assert/strict";
import { describe, it, beforeEach, afterEach } from "@jest/globals";
import { createTestContext, runPluginContract, type TestContext } from "@dialmesh/sdk/contract-kit";
import { isPluginError, type PluginError, type SendRequest } from "@dialmesh/sdk";
import { startFive9Server, type Five9SoapServer } from "../../test/vendors/five9-soap-server.ts";
import { createFive9, type Five9Options, type Five9Plugin } from "./five9.provider.ts";

const CUSTOMER = { id: "cust-1", firstName: "Ada", lastName: "Lovelace", phone: "+14155552671" };
const SECRET = "five9-webhook-secret-0123456789";

function serverOptions(server: Five9SoapServer, extra: Partial<Five9Options> = {}): Five9Options {
  return {
    endpoint: server.endpoint,
    username: server.username,
    password: server.password,
    webhookSecret: SECRET,
    defaultList: "Dialmesh",
    listMap: { renewals: "Renewals" },
    batchWindowMs: 20,
    retryBaseMs: 10,
    importPollMs: 5,
    countersRefreshMs: 0,
    ...extra,
  };
}

// ---------------------------------------------------------------------------------------------
// The contract kit

/** Options the schema accepts; each invalid example breaks one thing. */
const VALID = { endpoint: "https://f9", username: "u", password: "p", webhookSecret: SECRET, defaultList: "L" };
const without = (name: keyof typeof VALID): Record<string, string> =>
  Object.fromEntries(Object.entries(VALID).filter(([k]) => k !== name));

let contractServer: Five9SoapServer | undefined;
runPluginContract<Five9Options>({
  pluginDir: import.meta.dirname,
  channel: "voice",
  customer: CUSTOMER,
  async setup() {
    contractServer = await startFive9Server();
    // No time for a retry: one injected fault makes one failed send.
    return serverOptions(contractServer, { sendBudgetMs: 100 });
  },
  async teardown() {
    await contractServer?.stop();
  },
  invalidOptions: [
    { options: without("endpoint"), why: "an endpoint or baseUrl" },
    { options: without("username"), why: "username is required" },
    { options: without("password"), why: "password is required" },
    { options: without("webhookSecret"), why: "webhookSecret is required" },
    { options: { ...VALID, webhookSecret: "short" }, why: "webhookSecret of at least 16 characters" },
    { options: without("defaultList"), why: "a list: default or map" },
    { options: { ...VALID, endpoint: "ftp://f9" }, why: "endpoint is http(s)" },
    { options: { ...VALID, batchSize: 101 }, why: "batchSize is at most 100" },
    { options: { ...VALID, dispositionMap: { Sale: "SOLD" } }, why: "dispositions map to canonical outcomes" },
  ],
  failNextPermanently: () => contractServer?.rejectNext(),
  failNextTransiently: () => contractServer?.injectFault("ServiceUnavailable"),
  acceptedCount: () => contractServer?.records("Dialmesh").length ?? 0,
  signedStatusCallback: (vendorId) =>
    contractServer!.webConnectorRequest(vendorId, "No Answer", {
      url: "https://hub.test/webhooks/contract",
      secret: SECRET,
    }),
  forgedStatusCallback: (vendorId) =>
    contractServer!.webConnectorRequest(vendorId, "No Answer", {
      url: "https://hub.test/webhooks/contract",
      secret: "not-the-secret-at-all",
    }),
});

// ---------------------------------------------------------------------------------------------
// The plugin's own paths

let seq = 0;
function request(extra: Partial<SendRequest> = {}, customer: Partial<SendRequest["customer"]> = {}): SendRequest {
  seq += 1;
  return {
    attemptId: `att-${seq}`,
    activityId: `act-${seq}`,
    conversationId: `conv-${seq}`,
    channel: "voice",
    customer: { ...CUSTOMER, ...customer },
    content: {},
    ...extra,
  };
}

async function rejection(promise: Promise<unknown>): Promise<PluginError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(isPluginError(err), `expected a PluginError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected the send to fail");
}

describe("five9", () => {
  let server: Five9SoapServer;
  let tc: TestContext<Five9Options>;
  let plugin: Five9Plugin;

  const build = (extra: Partial<Five9Options> = {}) => {
    tc?.cleanup();
    tc = createTestContext(serverOptions(server, extra), { instanceId: "f9" });
    plugin = createFive9(tc.context);
    return plugin;
  };

  beforeEach(async () => {
    server = await startFive9Server({ lists: ["Dialmesh", "Renewals"] });
    build();
    await plugin.start?.();
  });
  afterEach(async () => {
    await plugin.stop?.();
    tc.cleanup();
    await server.stop();
  });

  describe("adding records", () => {
    it("a few sends go one by one with addRecordToListSimple, QUEUED with the attemptId as vendorId", async () => {
      const requests = [request(), request({ campaignId: "renewals" })];
      const results = await Promise.all(requests.map((r) => plugin.send(r)));
      assert.deepEqual(results, [
        { status: "QUEUED", vendorId: requests[0]!.attemptId, detail: "added to Five9 list Dialmesh" },
        { status: "QUEUED", vendorId: requests[1]!.attemptId, detail: "added to Five9 list Renewals" },
      ]);
      assert.equal(server.succeeded("addRecordToListSimple").length, 2);
      assert.equal(server.calls.filter((c) => c.operation === "asyncAddRecordsToList").length, 0);
      const [record] = server.records("Renewals");
      assert.deepEqual(record?.fields, {
        number1: "4155552671",
        first_name: "Ada",
        last_name: "Lovelace",
        dialmesh_key: requests[1]!.attemptId,
        dialmesh_activity: requests[1]!.activityId,
      });
      assert.ok(tc.rateLimits.every((l) => l.key === `five9:${server.username}:single` && l.perSecond === 2));
      assert.equal(tc.rateLimits.length, 2, "each single insert took a slot of the shared limiter");
    });

    it("a burst goes in asyncAddRecordsToList calls of at most batchSize, confirmed, each record once", async () => {
      build({ burstThreshold: 2, batchSize: 10 });
      const requests = Array.from({ length: 25 }, () => request());
      await Promise.all(requests.map((r) => plugin.send(r)));
      const singles = server.succeeded("addRecordToListSimple").length;
      const batches = server.succeeded("asyncAddRecordsToList").map((c) => c.records ?? 0);
      assert.equal(singles, 2);
      assert.deepEqual(batches, [10, 10, 3]);
      assert.ok(server.succeeded("getListImportResult").length >= 3, "every import was confirmed");
      for (const r of requests) assert.equal(server.keyCount(r.attemptId), 1, r.attemptId);
      // Each import took a slot of the shared limiter: 20 a minute as 4 per quarter minute.
      const imports = tc.rateLimits.filter((l) => l.key === `five9:${server.username}:async`);
      assert.equal(imports.length, server.calls.filter((c) => c.operation === "asyncAddRecordsToList").length);
      assert.ok(
        imports.every((l) => l.perSecond === 4 && l.windowMs === 15_000),
        JSON.stringify(imports),
      );
    });

    it("sending the same attempt again does not add it twice (the key is the attemptId)", async () => {
      const r = request();
      await plugin.send(r);
      const again = await plugin.send(r);
      assert.equal(again.vendorId, r.attemptId);
      assert.equal(server.keyCount(r.attemptId), 1);
      assert.equal(server.records("Dialmesh").length, 1);
    });

    it("OperationsLimitExceeded, ConcurrentModification, ServiceUnavailable: retried, then added once", async () => {
      server.injectFault("OperationsLimitExceeded", 2);
      server.injectFault("ConcurrentModification");
      server.injectFault("ServiceUnavailable");
      const r = request();
      assert.equal((await plugin.send(r)).status, "QUEUED");
      assert.equal(server.keyCount(r.attemptId), 1);
      assert.equal(server.calls.filter((c) => c.operation === "addRecordToListSimple").length, 5);
    });

    it("faults through a burst: the batch is sent again and every record is in the list once", async () => {
      build({ burstThreshold: 0, batchSize: 100 });
      server.injectFault("OperationsLimitExceeded", 3);
      const requests = Array.from({ length: 12 }, () => request());
      await Promise.all(requests.map((r) => plugin.send(r)));
      assert.equal(server.records("Dialmesh").length, 12);
      for (const r of requests) assert.equal(server.keyCount(r.attemptId), 1);
    });

    it("no slot of the shared limiter within the budget: the send fails retryable and nothing is sent later", async () => {
      tc?.cleanup();
      let grant: () => void = () => {};
      tc = createTestContext(serverOptions(server, { sendBudgetMs: 300 }), {
        instanceId: "f9",
        // Every node's slots are taken: the limiter answers only when the test says so.
        rateLimiter: { acquire: () => new Promise<void>((resolve) => (grant = resolve)) },
      });
      plugin = createFive9(tc.context);
      const err = await rejection(plugin.send(request()));
      assert.equal(err.code, "FIVE9_RATE_LIMITED");
      assert.equal(err.retryable, true);
      assert.match(err.message, /within the send's budget/);
      grant(); // the slot comes after all: the given-up record must not go out with it
      await plugin.stop?.();
      assert.equal(server.calls.filter((c) => /^add|^asyncAdd/.test(c.operation)).length, 0);
    });

    it("retryable faults past the budget: the send fails retryable, naming the fault", async () => {
      build({ sendBudgetMs: 600 });
      server.injectFault("OperationsLimitExceeded", 50);
      const err = await rejection(plugin.send(request()));
      assert.equal(err.code, "FIVE9_RATE_LIMITED");
      assert.equal(err.retryable, true);
      assert.match(err.message, /OperationsLimitExceeded/);
    });

    it("another fault fails the activity with Five9's text, not retryable", async () => {
      build({ defaultList: "Nope" });
      const err = await rejection(plugin.send(request()));
      assert.equal(err.code, "FIVE9_LIST_NOT_FOUND");
      assert.equal(err.retryable, false);
      assert.match(err.message, /List "Nope" not found/);
    });

    it("a row Five9 refuses fails alone; the rest of its batch is added", async () => {
      build({ burstThreshold: 0 });
      const good = [request(), request()];
      const bad = request({}, { phone: "+1415" });
      const results = await Promise.allSettled([...good, bad].map((r) => plugin.send(r)));
      assert.deepEqual(
        results.map((r) => r.status),
        ["fulfilled", "fulfilled", "rejected"],
      );
      const err = (results[2] as PromiseRejectedResult).reason as PluginError;
      assert.equal(err.code, "FIVE9_INVALID_RECORD");
      assert.equal(err.retryable, false);
      assert.match(err.message, /ParseError: number1: invalid phone/);
      assert.equal(server.succeeded("asyncAddRecordsToList").length, 1);
    });

    it("the domain's call counters at their limit: no insert is tried, the send fails retryable", async () => {
      await server.stop();
      server = await startFive9Server({ limitsPerMinute: { SingleRecordImport: 1 } });
      build({ sendBudgetMs: 1000 });
      await plugin.send(request());
      const err = await rejection(plugin.send(request()));
      assert.equal(err.retryable, true);
      assert.equal(server.calls.filter((c) => c.operation === "addRecordToListSimple").length, 1);
      assert.ok(server.calls.some((c) => c.operation === "getCallCountersState"));
    });

    it("wrong credentials: AUTH_FAILED, not retryable, health says so without the password", async () => {
      tc.cleanup();
      tc = createTestContext({ ...serverOptions(server), password: "wrong-password-123" }, { instanceId: "f9" });
      plugin = createFive9(tc.context);
      const err = await rejection(plugin.send(request()));
      assert.equal(err.code, "AUTH_FAILED");
      assert.equal(err.retryable, false);
      const health = await plugin.health();
      assert.equal(health.ok, false);
      assert.ok(!String(health.detail).includes("wrong-password-123"));
      assert.ok(server.unauthorized > 0);
    });
  });

  describe("web connector", () => {
    const url = "https://hub.test/webhooks/f9";

    it("a disposition with the secret in a header maps to a call result for the attempt and its activity", async () => {
      const r = request();
      await plugin.send(r);
      const res = await plugin.handleInbound(
        server.webConnectorRequest(r.attemptId, "Busy", { url, secret: SECRET, via: "header" }),
      );
      assert.equal(res.response.status, 200);
      assert.equal(res.events.length, 1);
      const [event] = res.events;
      assert.equal(event?.kind, "call-result");
      assert.ok(event?.kind === "call-result");
      assert.equal(event.vendorId, r.attemptId);
      assert.equal(event.activityId, r.activityId);
      assert.equal(event.outcome, "BUSY");
      assert.equal(event.raw, "Busy");
    });

    it("a wrong or missing secret: 403, nothing recorded", async () => {
      const missing = await plugin.handleInbound(server.webConnectorRequest("att-x", "Busy", { url }));
      assert.equal(missing.response.status, 403);
      assert.deepEqual(missing.events, []);
    });

    it("a request without the record key: 400 naming it", async () => {
      const req = server.webConnectorRequest("att-x", "Busy", { url, secret: SECRET, extra: { dialmesh_key: "" } });
      const res = await plugin.handleInbound(req);
      assert.equal(res.response.status, 400);
      assert.match(res.response.body ?? "", /dialmesh_key/);
    });

    it("custom dispositions follow dispositionMap; Do Not Call opts the number out", async () => {
      build({ dispositionMap: { "Not Home": "NO_ANSWER" } });
      const r = request();
      await plugin.send(r);
      const custom = await plugin.handleInbound(
        server.webConnectorRequest(r.attemptId, "Not Home", { url, secret: SECRET }),
      );
      assert.equal(custom.events[0]?.kind === "call-result" && custom.events[0].outcome, "NO_ANSWER");
      const dnc = await plugin.handleInbound(
        server.webConnectorRequest(r.attemptId, "Do Not Call", { url, secret: SECRET }),
      );
      assert.deepEqual(
        dnc.events.map((e) => e.kind),
        ["status", "opt-out"],
      );
      assert.equal(dnc.events[1]?.kind === "opt-out" && dnc.events[1].address, CUSTOMER.phone);
    });
  });

  describe("flush", () => {
    it("empties the list at Five9 and ends the open activities CANCELLED", async () => {
      const requests = [request({ campaignId: "renewals" }), request({ campaignId: "renewals" })];
      await Promise.all(requests.map((r) => plugin.send(r)));
      // One of them has its result already: it is not cancelled.
      await plugin.handleInbound(
        server.webConnectorRequest(requests[0]!.attemptId, "Sale", { url: "https://h/w", secret: SECRET }),
      );
      const result = await plugin.actions.flush({ campaign: "renewals" });
      assert.deepEqual(result, { listName: "Renewals", deleted: 2, cancelled: 1 });
      assert.equal(server.records("Renewals").length, 0);
      const cancelled = tc.emitted.filter((e) => e.kind === "status" && e.status === "CANCELLED");
      assert.deepEqual(
        cancelled.map((e) => e.kind === "status" && [e.vendorId, e.activityId, e.reasonCode]),
        [[requests[1]!.attemptId, requests[1]!.activityId, "LIST_FLUSHED"]],
      );
    });

    it("bad input is refused, naming what it takes", async () => {
      const err = await rejection(plugin.actions.flush({ campaign: "unknown" }));
      assert.equal(err.code, "INVALID_INPUT");
      assert.match(err.message, /renewals/);
    });
  });
});
