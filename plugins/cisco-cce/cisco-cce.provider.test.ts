import assert from "node:assert/strict";
import { describe, it, beforeAll, afterAll, beforeEach, afterEach } from "@jest/globals";
import { GridFSBucket, MongoClient, type Db } from "mongodb";
import { createTestContext, type TestContext } from "@dialmesh/sdk/contract-kit";
import type { PluginStorage, SendRequest } from "@dialmesh/sdk";
import { startCiscoAwServer, type CiscoAwServer } from "../../test/vendors/cisco-aw-server.ts";
import { freshDatabaseUrl } from "../../test/support/mongo.ts";
import { TERM_MS } from "../cisco-common/flusher.ts";
import { CiscoAwClient } from "./cisco-cce.api.ts";
import { contactRow, contactsCsv } from "./cisco-cce.contacts.ts";
import createPlugin, { createCiscoCce, type CiscoCceOptions, type CiscoCcePlugin } from "./cisco-cce.provider.ts";
import {
  appendAll,
  callResults,
  deliverAll,
  describeAppendPaths,
  ManualTimers,
  runCiscoContract,
  statusEventOf,
  voiceRequests,
} from "../../test/support/cisco-plugin-test.ts";

const CUSTOMER = {
  id: "cust-1",
  firstName: "Ada",
  lastName: "Lovelace",
  phone: "+14155552671",
  timezone: "America/New_York",
};

// ---------------------------------------------------------------------------------------------
// The contract kit

runCiscoContract({
  pluginDir: import.meta.dirname,
  customer: CUSTOMER,
  startServer: () => startCiscoAwServer(),
  options: (server) => serverOptions(server),
});

function serverOptions(server: CiscoAwServer, extra: Partial<CiscoCceOptions> = {}): CiscoCceOptions {
  return {
    baseUrl: server.baseUrl,
    username: server.username,
    password: server.password,
    defaultCampaign: 5001,
    campaignMap: { "hub-b": 5002 },
    batchSize: 10,
    batchWindowMs: 2000,
    pollIntervalMs: 15_000,
    defaultRegion: "US",
    ...extra,
  };
}

// ---------------------------------------------------------------------------------------------
// Helpers

const request = voiceRequests("att", CUSTOMER);

// ---------------------------------------------------------------------------------------------
// The paths both Cisco plugins share (cisco-common)

describeAppendPaths({
  plugin: "cisco-cce",
  startServer: () => startCiscoAwServer({ campaigns: [5001, 5002] }),
  options: serverOptions,
  create: createCiscoCce,
  defaultCampaign: 5001,
  mappedCampaign: 5002,
  campaignAccounts: (server, campaignId) => server.campaignContacts(campaignId).map((c) => c.accountNumber),
  listPathEnd: "/import",
  phoneField: "Phone01",
  connect: (server, campaignId, accountNumber) =>
    server.setResult(campaignId, accountNumber, { callResult: 10, callStatus: "C" }),
  flushPathEnd: (campaignId) => `/campaign/${campaignId}/import`,
  customer: CUSTOMER,
});

// ---------------------------------------------------------------------------------------------
// The plugin's own paths

describe("cisco-cce", () => {
  let server: CiscoAwServer;
  let timers: ManualTimers;
  let tc: TestContext<CiscoCceOptions>;
  let plugin: CiscoCcePlugin;

  const build = (extra: Partial<CiscoCceOptions> = {}, storage?: PluginStorage, nodeId = "node-a") => {
    const ctx = createTestContext(serverOptions(server, extra), {
      instanceId: "cce",
      ...(storage ? { storage } : {}),
    });
    return { ctx, plugin: createCiscoCce(ctx.context, { timers, nodeId, now: () => new Date(timers.clock) }) };
  };

  beforeEach(async () => {
    server = await startCiscoAwServer({ campaigns: [5001, 5002] });
    timers = new ManualTimers();
    ({ ctx: tc, plugin } = build());
  });
  afterEach(async () => {
    await plugin.stop?.();
    tc.cleanup();
    await server.stop();
  });

  describe("appending", () => {
    it("25,000 sends through a burst of 503s arrive as 3 imports of at most 10,000, each contact once", async () => {
      const { ctx, plugin: p } = build({ batchSize: 10_000 });
      server.injectUnavailable(4);
      const requests = Array.from({ length: 25_000 }, () => request());
      await appendAll(p, timers, requests);
      assert.deepEqual(
        server.appliedImports().map((i) => i.accountNumbers.length),
        [10_000, 10_000, 5_000],
      );
      const appended = new Map<string, number>();
      for (const c of server.campaignContacts(5001))
        appended.set(c.accountNumber, (appended.get(c.accountNumber) ?? 0) + 1);
      assert.equal(appended.size, 25_000);
      assert.ok(
        [...appended.values()].every((n) => n === 1),
        "no contact twice",
      );
      assert.ok(
        requests.every((r) => appended.has(r.attemptId)),
        "none lost",
      );
      ctx.cleanup();
    });

    it("writes the documented columns: national number, zone bias and DST from the customer's zone", async () => {
      await appendAll(plugin, timers, [
        request(),
        request({}, { phone: "+447911123456", timezone: "Europe/London", firstName: "Bo" }),
      ]);
      const [us, uk] = server.campaignContacts(5001);
      assert.deepEqual(us?.phones, [{ number: "4155552671", callResult: 0, gmtOffset: "-300", dstObserved: "true" }]);
      assert.deepEqual(uk?.phones, [{ number: "447911123456", callResult: 0, gmtOffset: "0", dstObserved: "true" }]);
      assert.deepEqual([us?.firstName, us?.lastName, uk?.firstName], ["Ada", "Lovelace", "Bo"]);
      assert.ok(
        server.imports.every((i) => !i.overwriteData),
        "overwriteData false: appended, never replaced",
      );
    });

    it("retries 503s with backoff for 8 deliveries, then the contact ends FAILED retryable by an event; the next goes through", async () => {
      server.injectUnavailable(8);
      const r = request();
      assert.equal((await plugin.send(r)).status, "QUEUED");
      await deliverAll(plugin, timers);
      assert.deepEqual(
        timers.sleeps,
        [500, 1000, 2000, 4000, 8000, 10_000, 10_000],
        "no send timeout bounds the retries any more",
      );
      const event = statusEventOf(tc.emitted, r.attemptId);
      assert.deepEqual([event.status, event.reasonCode, event.retryable], ["FAILED", "CISCO_UNAVAILABLE", true]);
      assert.match(event.reason ?? "", /queue is at capacity/);
      assert.equal(server.imports.length, 8);
      assert.equal(server.rowCount(r.attemptId), 0);
      const [next] = await appendAll(plugin, timers, [request()]);
      assert.equal(server.rowCount((next as SendRequest).attemptId), 1);
    });
  });

  describe("results", () => {
    const append = (count: number): Promise<SendRequest[]> =>
      appendAll(
        plugin,
        timers,
        Array.from({ length: count }, () => request()),
      );

    it("polls the import list page by page and reports each closed contact once, with the raw code", async () => {
      const requests = await append(150); // two pages of 100
      const codes = [10, 8, 9, 12, 11, 3, 16, 2, 14, 26];
      const closed = requests.slice(120, 130);
      closed.forEach((r, i) => server.setResult(5001, r.attemptId, { callResult: codes[i] ?? 0, callStatus: "C" }));
      const retrying = requests[140] as SendRequest;
      server.setResult(5001, retrying.attemptId, { callResult: 8, callStatus: "R" }); // attempts left

      assert.equal(await plugin.pollResults(), 10);
      const events = callResults(tc.emitted);
      assert.equal(tc.emitted.length, 10);
      const expected = [
        "CONNECTED",
        "NO_ANSWER",
        "BUSY",
        "ANSWERING_MACHINE",
        "FAX",
        "INVALID_NUMBER",
        "ABANDONED",
        "NETWORK_ERROR",
        "CONNECTED",
        "BLOCKED",
      ];
      closed.forEach((r, i) => {
        const e = events.get(r.attemptId);
        assert.ok(e, r.attemptId);
        const got = e.kind === "call-result" ? e.outcome : e.kind === "status" ? e.status : e.kind;
        assert.equal(got, expected[i], `code ${codes[i]}`);
        assert.equal("raw" in e ? e.raw : undefined, String(codes[i]));
      });
      const callback = events.get(closed[8]?.attemptId ?? "");
      assert.equal(callback?.kind === "call-result" ? callback.reasonCode : undefined, "CALLBACK_REQUESTED");
      assert.equal(events.has(retrying.attemptId), false, "a contact with attempts left stays open");
      const noAnswer = events.get(closed[1]?.attemptId ?? "");
      assert.equal(
        noAnswer?.kind === "call-result" ? noAnswer.retryable : undefined,
        false,
        "Cisco's attempts are used",
      );

      // Nothing twice; the retried contact reports once Cisco gives up on it (max attempts).
      assert.equal(await plugin.pollResults(), 0);
      server.setResult(5001, retrying.attemptId, { callResult: 9, callStatus: "M" });
      assert.equal(await plugin.pollResults(), 1);
      const last = tc.emitted.at(-1);
      assert.equal(
        last?.kind === "call-result" ? `${last.vendorId} ${last.outcome} ${last.raw}` : "",
        `${retrying.attemptId} BUSY 9`,
      );
      const listRequests = server.requests.filter((r) => r.method === "GET" && r.path.endsWith("/import"));
      assert.equal(listRequests.length, 6, "three polls of two pages");
    });

    it("health: reachable, with the campaign's runtime stats; the view lists every campaign", async () => {
      const [r] = await append(1);
      server.setResult(5001, (r as SendRequest).attemptId, { callResult: 10, callStatus: "C" });
      const health = await plugin.health();
      assert.equal(health.ok, true);
      assert.match(health.detail ?? "", /attemptedCount=1, voiceCount=1/);
      const stats = (await plugin.views?.runtimestats?.()) as Record<string, Record<string, number>>;
      assert.deepEqual(Object.keys(stats), ["5001", "5002"]);
      assert.equal(stats["5001"]?.voiceCount, 1);
      await server.stop();
      assert.equal((await plugin.health()).ok, false);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Shared storage: restarts and several hub nodes

describe("cisco-cce with the hub's storage", () => {
  let server: CiscoAwServer;
  let client: MongoClient;
  let db: Db;

  const storageOf = (prefix: string): PluginStorage => ({
    prefix,
    collection: (name) => db.collection(`${prefix}${name}`),
    bucket: (name) => new GridFSBucket(db, { bucketName: `${prefix}${name}` }),
  });

  /**
   * Hub nodes running the instance on one storage, on the same driven clock (window 5 s), and
   * the sizes of the imports applied since.
   */
  const cluster = (prefix: string) => {
    const storage = storageOf(prefix);
    const timers = new ManualTimers();
    const importsBefore = server.appliedImports().length;
    const node = (nodeId: string) => {
      const ctx = createTestContext(serverOptions(server, { batchWindowMs: 5000 }), { instanceId: "cce", storage });
      return { ctx, plugin: createCiscoCce(ctx.context, { nodeId, timers, now: () => new Date(timers.clock) }) };
    };
    const newImports = (): number[] =>
      server
        .appliedImports()
        .slice(importsBefore)
        .map((i) => i.accountNumbers.length);
    return { timers, node, newImports };
  };

  beforeAll(async () => {
    client = new MongoClient(freshDatabaseUrl("cisco_cce"));
    await client.connect();
    db = client.db();
    server = await startCiscoAwServer();
  });
  afterAll(async () => {
    await db.dropDatabase();
    await client.close();
    await server.stop();
  });

  it("several nodes poll, each result is reported once; open contacts survive a restart", async () => {
    const storage = storageOf("plugin_cce_");
    const node = (nodeId: string) => {
      const ctx = createTestContext(serverOptions(server, { batchWindowMs: 0 }), { instanceId: "cce", storage });
      return { ctx, plugin: createCiscoCce(ctx.context, { nodeId }) };
    };
    const a = node("node-a");
    await a.plugin.start?.(); // creates the storage's index; its poller stops with it below
    const requests = Array.from({ length: 5 }, () => request());
    await Promise.all(requests.map((r) => a.plugin.send(r)));
    await a.plugin.stop?.();
    a.ctx.cleanup();

    // Node a is gone (restart); b and c take over from the shared state.
    const b = node("node-b");
    const c = node("node-c");
    for (const r of requests) server.setResult(5001, r.attemptId, { callResult: 8, callStatus: "M" });
    const reported = (await Promise.all([b.plugin.pollResults(), c.plugin.pollResults()])).reduce((x, y) => x + y);
    assert.equal(reported, 5);
    const emitted = [...b.ctx.emitted, ...c.ctx.emitted];
    assert.deepEqual(
      emitted.map((e) => ("vendorId" in e ? e.vendorId : "")).sort(),
      requests.map((r) => r.attemptId).sort(),
    );
    // One node holds the campaign's lease: the other did not read the list.
    assert.ok(b.ctx.emitted.length === 0 || c.ctx.emitted.length === 0);
    assert.equal((await b.plugin.pollResults()) + (await c.plugin.pollResults()), 0);
    b.ctx.cleanup();
    c.ctx.cleanup();
  });

  it("two nodes take sends into one outbox; one of them flushes each campaign: full batches, each contact once", async () => {
    const { timers, node, newImports } = cluster("plugin_cce_shared_");
    const a = node("node-a");
    const b = node("node-b");
    const fromA = Array.from({ length: 7 }, () => request());
    const fromB = Array.from({ length: 8 }, () => request());
    await Promise.all([...fromA.map((r) => a.plugin.send(r)), ...fromB.map((r) => b.plugin.send(r))]);
    await Promise.all([a.plugin.idle(), b.plugin.idle()]);
    for (let i = 0; i < 5 && timers.fire(5000) > 0; i++) await Promise.all([a.plugin.idle(), b.plugin.idle()]);
    assert.deepEqual(newImports(), [10, 5]);
    for (const r of [...fromA, ...fromB]) assert.equal(server.rowCount(r.attemptId), 1, r.attemptId);
    const importers = [a, b].filter((n) => n.ctx.logs.some((l) => l.msg === "cisco import accepted"));
    assert.equal(importers.length, 1, "one node holds the campaign's term");
    await Promise.all([a.plugin.stop?.(), b.plugin.stop?.()]);
    a.ctx.cleanup();
    b.ctx.cleanup();
  });

  it("the outbox survives its node: after the term lapses another node flushes it, each contact once", async () => {
    const { timers, node, newImports } = cluster("plugin_cce_outbox_");
    const a = node("node-a");
    const requests = Array.from({ length: 6 }, () => request());
    await Promise.all(requests.map((r) => a.plugin.send(r)));
    await a.plugin.idle(); // node a holds the campaign's term; its window is open
    // Node a took two rows into an import Cisco applied, and died before it recorded that.
    const taken = requests.slice(0, 2);
    const client = new CiscoAwClient({ ...serverOptions(server), timeoutMs: 5000 });
    await client.importContacts(5001, contactsCsv(taken.map((r) => contactRow(r, "US", new Date()))), 5000);
    await db
      .collection("plugin_cce_outbox_outbox")
      .updateMany(
        { _id: { $in: taken.map((r) => r.attemptId) } as never },
        { $set: { takenAt: new Date(timers.clock) } },
      );

    const b = node("node-b");
    const late = request();
    assert.equal((await b.plugin.send(late)).status, "QUEUED");
    await b.plugin.idle();
    assert.deepEqual(newImports(), [2], "node a's term still runs: b appends nothing");

    timers.clock += TERM_MS + 5000;
    await b.plugin.start?.();
    timers.fire(1000); // node b's outbox check; node a is gone (its timers never fire)
    await b.plugin.idle();
    assert.deepEqual(newImports(), [2, 5], "b read the list for the taken rows and appended only the others");
    for (const r of [...requests, late]) assert.equal(server.rowCount(r.attemptId), 1, r.attemptId);
    assert.equal(await db.collection("plugin_cce_outbox_outbox").countDocuments(), 0, "the outbox is empty");
    assert.equal(b.ctx.emitted.length, 0, "nothing failed");
    await b.plugin.stop?.();
    a.ctx.cleanup();
    b.ctx.cleanup();
  });

  it("the default export builds the plugin from the hub's context", async () => {
    const ctx = createTestContext(serverOptions(server), { storage: storageOf("plugin_cce2_") });
    const p = await createPlugin(ctx.context);
    assert.equal((await p.health()).ok, true);
    ctx.cleanup();
  });
});
