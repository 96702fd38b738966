import assert from "node:assert/strict";
import { describe, it, beforeEach, afterEach } from "@jest/globals";
import { createTestContext, type TestContext } from "@dialmesh/sdk/contract-kit";
import type { SendRequest } from "@dialmesh/sdk";
import nock from "nock";
import { startCiscoUccxServer, type CiscoUccxServer } from "../../test/vendors/cisco-uccx-server.ts";
import {
  appendAll,
  callResults,
  describeAppendPaths,
  ManualTimers,
  runCiscoContract,
  statusEventOf,
  voiceRequests,
} from "../../test/support/cisco-plugin-test.ts";
import createPlugin, { createCiscoUccx, type CiscoUccxOptions, type CiscoUccxPlugin } from "./cisco-uccx.provider.ts";

const CUSTOMER = { id: "cust-1", firstName: "Ada", lastName: "Lovelace", phone: "+14155552671" };

// ---------------------------------------------------------------------------------------------
// The contract kit

runCiscoContract({
  pluginDir: import.meta.dirname,
  customer: CUSTOMER,
  startServer: () => startCiscoUccxServer(),
  options: (server) => serverOptions(server),
});

function serverOptions(server: CiscoUccxServer, extra: Partial<CiscoUccxOptions> = {}): CiscoUccxOptions {
  return {
    baseUrl: server.baseUrl,
    username: server.username,
    password: server.password,
    defaultCampaign: 200,
    campaignMap: { "hub-b": 201 },
    batchSize: 10,
    batchWindowMs: 2000,
    pollIntervalMs: 15_000,
    defaultRegion: "US",
    ...extra,
  };
}

const request = voiceRequests("uccx-att", CUSTOMER);

// ---------------------------------------------------------------------------------------------
// The paths both Cisco plugins share (cisco-common)

describeAppendPaths({
  plugin: "cisco-uccx",
  startServer: () => startCiscoUccxServer({ campaigns: [200, 201] }),
  options: serverOptions,
  create: createCiscoUccx,
  defaultCampaign: 200,
  mappedCampaign: 201,
  campaignAccounts: (server, campaignId) => server.campaignContacts(campaignId).map((c) => c.accountNumber),
  listPathEnd: "/contacts",
  phoneField: "Phone1",
  connect: (server, campaignId, accountNumber) =>
    server.setResult(campaignId, accountNumber, { callResult: 10, callStatus: "CLOSED" }),
  flushPathEnd: (campaignId) => `/adminapi/campaign/${campaignId}/contacts`,
  customer: CUSTOMER,
});

// ---------------------------------------------------------------------------------------------
// The plugin's own paths

describe("cisco-uccx", () => {
  let server: CiscoUccxServer;
  let timers: ManualTimers;
  let tc: TestContext<CiscoUccxOptions>;
  let plugin: CiscoUccxPlugin;

  const build = (extra: Partial<CiscoUccxOptions> = {}) => {
    const ctx = createTestContext(serverOptions(server, extra), { instanceId: "uccx" });
    return {
      ctx,
      plugin: createCiscoUccx(ctx.context, { timers, nodeId: "node-a", now: () => new Date(timers.clock) }),
    };
  };

  beforeEach(async () => {
    server = await startCiscoUccxServer({ campaigns: [200, 201] });
    timers = new ManualTimers();
    ({ ctx: tc, plugin } = build());
  });
  afterEach(async () => {
    await plugin.stop?.();
    tc.cleanup();
    await server.stop();
  });

  describe("appending", () => {
    it("writes the documented csvdata: the account number, names, Phone1 in national digits", async () => {
      const [r] = (await appendAll(plugin, timers, [request()])) as [SendRequest];
      const [contact] = server.campaignContacts(200);
      assert.deepEqual(
        [contact?.accountNumber, contact?.firstName, contact?.lastName, contact?.phones],
        [r.attemptId, "Ada", "Lovelace", ["4155552671"]],
      );
    });

    it("UCCX answers 503 while its queue is full: the other campaign's append backs off and lands once", async () => {
      await server.stop();
      server = await startCiscoUccxServer({ campaigns: [200, 201], maxQueued: 1, appendDelayMs: 100 });
      // Real timers: the backoff must outlast the other append's processing.
      const ctx = createTestContext(serverOptions(server, { batchWindowMs: 0 }), { instanceId: "uccx" });
      const p = createCiscoUccx(ctx.context, { nodeId: "node-a" });
      const requests = [request(), request({ campaignId: "hub-b" })];
      await Promise.all(requests.map((r) => p.send(r)));
      assert.equal(server.peakQueued, 1);
      assert.deepEqual(server.appends.map((x) => x.status).sort(), [200, 200, 503]);
      for (const r of requests) assert.equal(server.rowCount(r.attemptId), 1);
      await p.stop?.();
      ctx.cleanup();
    });

    it("a lost answer with a list at UCCX's 10,000-record cap cannot be reconciled: OUTCOME_UNKNOWN, never resent", async () => {
      const { ctx, plugin: p } = build({ batchSize: 10_000 });
      await appendAll(
        p,
        timers,
        Array.from({ length: 10_000 }, () => request()),
      );
      server.dropNextAnswer(1);
      const [r] = (await appendAll(p, timers, [request()])) as [SendRequest];
      const event = statusEventOf(ctx.emitted, r.attemptId);
      assert.deepEqual([event.status, event.reasonCode, event.retryable], ["FAILED", "OUTCOME_UNKNOWN", false]);
      assert.match(event.reason ?? "", /cannot tell whether the append was applied/);
      assert.equal(server.rowCount(r.attemptId), 1, "appended once, not again");
      ctx.cleanup();
    }, 30_000);

    it("202 Accepted (UCCX imports in the background) counts as appended", async () => {
      server.answerAccepted = true;
      const [r] = (await appendAll(plugin, timers, [request()])) as [SendRequest];
      assert.equal(server.appends[0]?.status, 202);
      assert.equal(server.rowCount(r.attemptId), 1);
      assert.equal(tc.emitted.length, 0, "nothing failed");
    });

    it("a 500 without a body is retried like a 503 (nock: one odd answer)", async () => {
      const base = "http://uccx.nock.test";
      const scope = nock(base)
        .post("/adminapi/campaign/200/contacts")
        .reply(500, "")
        .post("/adminapi/campaign/200/contacts")
        .reply(200, "<campaignContacts><csvdata/></campaignContacts>");
      const { ctx, plugin: p } = build({ baseUrl: base, batchWindowMs: 0 });
      const sent = await p.send(request());
      assert.equal(sent.detail, "appended to Cisco campaign 200", "window 0: the send waited for the append");
      assert.ok(scope.isDone());
      assert.deepEqual(timers.sleeps, [500]);
      ctx.cleanup();
      nock.cleanAll();
    });
  });

  describe("results", () => {
    const append = (count: number): Promise<SendRequest[]> =>
      appendAll(
        plugin,
        timers,
        Array.from({ length: count }, () => request()),
      );

    it("reports each closed contact once with the raw code; contacts with attempts left stay open", async () => {
      const requests = await append(8);
      const codes = [10, 15, 11, 3, 2, 4, 99];
      requests.slice(0, 7).forEach((r, i) =>
        server.setResult(200, r.attemptId, {
          callResult: codes[i] ?? 0,
          callStatus: i === 1 ? "MAX_CALLS" : "CLOSED",
        }),
      );
      const retrying = requests[7] as SendRequest;
      server.setResult(200, retrying.attemptId, { callResult: 15, callStatus: "RETRY" });

      assert.equal(await plugin.pollResults(), 7);
      const events = callResults(tc.emitted);
      const expected = ["CONNECTED", "NO_ANSWER", "BUSY", "ANSWERING_MACHINE", "FAX", "INVALID_NUMBER", "FAILED"];
      requests.slice(0, 7).forEach((r, i) => {
        const e = events.get(r.attemptId);
        assert.ok(e, r.attemptId);
        const got = e.kind === "call-result" ? e.outcome : e.kind === "status" ? e.status : e.kind;
        assert.equal(got, expected[i], `code ${codes[i]}`);
        assert.equal("raw" in e ? e.raw : undefined, String(codes[i]));
      });
      const unknown = events.get(requests[6]?.attemptId ?? "");
      assert.equal(unknown?.kind === "status" ? unknown.reasonCode : undefined, "UNKNOWN_CALL_RESULT");
      assert.equal(events.has(retrying.attemptId), false, "a contact with attempts left stays open");

      assert.equal(await plugin.pollResults(), 0, "nothing twice");
      server.setResult(200, retrying.attemptId, { callResult: 11, callStatus: "MAX_CALLS" });
      assert.equal(await plugin.pollResults(), 1);
      const last = tc.emitted.at(-1);
      assert.equal(
        last?.kind === "call-result" ? `${last.vendorId} ${last.outcome} ${last.raw} ${last.retryable}` : "",
        `${retrying.attemptId} BUSY 11 false`,
      );
    });

    it("the simulated dialer works the campaign; results advance poll by poll", async () => {
      const requests = await append(4);
      // First pass: nobody answers, UCCX will retry.
      server.dialAll(200, () => ({ callResult: 15, callStatus: "RETRY" }));
      assert.equal(await plugin.pollResults(), 0);
      // Second pass: the first two answer, the others are given up on.
      server.dialAll(200, (c) =>
        c.accountNumber === requests[0]?.attemptId || c.accountNumber === requests[1]?.attemptId
          ? { callResult: 10, callStatus: "CLOSED" }
          : { callResult: 15, callStatus: "MAX_CALLS" },
      );
      assert.equal(await plugin.pollResults(), 4);
      const outcomes = requests.map((r) => {
        const e = callResults(tc.emitted).get(r.attemptId);
        return e?.kind === "call-result" ? e.outcome : "";
      });
      assert.deepEqual(outcomes, ["CONNECTED", "CONNECTED", "NO_ANSWER", "NO_ANSWER"]);
    });

    it("health: reachable, with the last import's status; the view lists every campaign", async () => {
      await append(1);
      const health = await plugin.health();
      assert.equal(health.ok, true);
      assert.match(health.detail ?? "", /UCCX reachable; campaign 200: MANUAL SUCCESS/);
      const view = (await plugin.views?.importstatus?.()) as Record<string, unknown[]>;
      assert.deepEqual(Object.keys(view), ["200", "201"]);
      assert.deepEqual(view["200"], [{ importType: "MANUAL", result: "SUCCESS", numContactsImported: 1 }]);
      await server.stop();
      assert.equal((await plugin.health()).ok, false);
    });
  });
});

// The open-contact store, leases and claims are cisco-common's, tested with the hub's storage
// through cisco-cce's provider test.

it("the default export builds the plugin from the hub's context", async () => {
  const server = await startCiscoUccxServer();
  const ctx = createTestContext(serverOptions(server), { instanceId: "uccx" });
  const p = await createPlugin(ctx.context);
  assert.equal((await p.health()).ok, true);
  ctx.cleanup();
  await server.stop();
});
