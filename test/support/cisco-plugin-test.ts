/**
 * What the Cisco plugins' tests (cisco-cce, cisco-uccx) share: driven timers, error and event
 * helpers, and the append paths both plugins must pass.
 */
import assert from "node:assert/strict";
import { describe, it, beforeEach, afterEach } from "@jest/globals";
import { createTestContext, runPluginContract, type TestContext } from "@dialmesh/sdk/contract-kit";
import {
  isPluginError,
  type CanonicalEvent,
  type PluginContext,
  type PluginError,
  type SendRequest,
} from "@dialmesh/sdk";
import type { Timers } from "@dialmesh/sdk";
import type {
  CiscoOutboundDeps,
  CiscoOutboundOptions,
  CiscoOutboundPlugin,
} from "../../plugins/cisco-common/outbound.ts";
import type { CiscoVendorServer } from "../vendors/cisco-vendor-server.ts";

/**
 * Timers the test drives: timers run on fire(), the clock moving on to when they were due;
 * backoffs resolve at once, are recorded and move the clock on.
 */
export class ManualTimers implements Timers {
  readonly sleeps: number[] = [];
  clock = Date.parse("2026-03-02T10:00:00Z");
  private pending: { fn: () => void; ms: number; dueAt: number }[] = [];

  setTimer(fn: () => void, ms: number): () => void {
    const timer = { fn, ms, dueAt: this.clock + ms };
    this.pending.push(timer);
    return () => {
      this.pending = this.pending.filter((t) => t !== timer);
    };
  }

  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.clock += ms;
  }

  /** Runs the timers set so far (batch windows and poll ticks) with at most `maxMs` delay. */
  fire(maxMs = Number.POSITIVE_INFINITY): number {
    const due = this.pending.filter((t) => t.ms <= maxMs);
    this.pending = this.pending.filter((t) => t.ms > maxMs);
    for (const t of due) {
      this.clock = Math.max(this.clock, t.dueAt);
      t.fn();
    }
    return due.length;
  }
}

/**
 * Lets the outbox flush: fires the batch windows (and flusher ticks) due within 2 s and waits
 * for the deliveries they start, until none is left. Send-wait bounds (15 s) never fire.
 */
export async function deliverAll(plugin: CiscoOutboundPlugin, timers: ManualTimers): Promise<void> {
  await plugin.idle();
  for (let round = 0; round < 20 && timers.fire(2000) > 0; round++) await plugin.idle();
}

/** Sends `requests` through `plugin` (each answered once its row is in the outbox) and delivers them. */
export async function appendAll(
  plugin: CiscoOutboundPlugin,
  timers: ManualTimers,
  requests: SendRequest[],
): Promise<SendRequest[]> {
  await Promise.all(requests.map((r) => plugin.send(r)));
  await deliverAll(plugin, timers);
  return requests;
}

/** The status event the plugin reported for `vendorId` (a row Cisco refused, or cancelled). */
export function statusEventOf(events: CanonicalEvent[], vendorId: string): Extract<CanonicalEvent, { kind: "status" }> {
  const event = events.find((e) => e.kind === "status" && e.vendorId === vendorId);
  assert.ok(event?.kind === "status", `no status event for ${vendorId}`);
  return event;
}

/** The PluginError `promise` rejects with. */
export async function rejection(promise: Promise<unknown>): Promise<PluginError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(isPluginError(err), `expected a PluginError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected the send to fail");
}

/** The last event of each vendorId. */
export function callResults(events: CanonicalEvent[]): Map<string, CanonicalEvent> {
  const byVendor = new Map<string, CanonicalEvent>();
  for (const e of events) if ("vendorId" in e) byVendor.set(e.vendorId, e);
  return byVendor;
}

/** A Cisco plugin and its local server, as describeAppendPaths drives them. */
export interface AppendPathsHarness<Server extends CiscoVendorServer, Options extends CiscoOutboundOptions> {
  /** Names the describe block. */
  plugin: string;
  /** A server with `defaultCampaign` and `mappedCampaign`. */
  startServer(): Promise<Server>;
  /** The plugin's options at the server: defaultCampaign, campaignMap { "hub-b": mappedCampaign }, batchSize 10. */
  options(server: Server, extra?: Partial<Options>): Options;
  create(ctx: PluginContext<Options>, deps: CiscoOutboundDeps): CiscoOutboundPlugin;
  defaultCampaign: number;
  mappedCampaign: number;
  /** The account numbers the campaign holds, in order. */
  campaignAccounts(server: Server, campaignId: number): string[];
  /** How the list read (reconciliation) path ends, e.g. "/import". */
  listPathEnd: string;
  /** The phone column a 400 names. */
  phoneField: string;
  /** How a flush's DELETE path ends for `campaignId`, e.g. "/campaign/5002/import". */
  flushPathEnd(campaignId: number): string;
  /** The vendor's dialer connects the contact and closes it. */
  connect(server: Server, campaignId: number, accountNumber: string): void;
  customer: SendRequest["customer"];
}

/**
 * The paths every Cisco plugin shares (cisco-common's outbox, flusher, poller and flush through the
 * vendor's client and server): batching, campaigns, 503 backoff, lost answers reconciled,
 * requests cut before being applied, 400 rows, refusals before any request, wrong
 * credentials, the poll interval, the flush.
 */
export function describeAppendPaths<Server extends CiscoVendorServer, Options extends CiscoOutboundOptions>(
  h: AppendPathsHarness<Server, Options>,
): void {
  describe(`${h.plugin}: the paths of cisco-common`, () => {
    let server: Server;
    let timers: ManualTimers;
    let tc: TestContext<Options>;
    let plugin: CiscoOutboundPlugin;
    const request = voiceRequests("ap", h.customer);

    const build = (extra: Partial<Options> = {}) => {
      const ctx = createTestContext(h.options(server, extra), { instanceId: "cisco" });
      return { ctx, plugin: h.create(ctx.context, { timers, nodeId: "node-a", now: () => new Date(timers.clock) }) };
    };
    const statuses = (): number[] => server.appendLog.map((a) => a.status);

    beforeEach(async () => {
      server = await h.startServer();
      timers = new ManualTimers();
      ({ ctx: tc, plugin } = build());
    });
    afterEach(async () => {
      await plugin.stop?.();
      tc.cleanup();
      await server.stop();
    });

    it("batches N sends into ceil(N/batchSize) appends, each contact once, QUEUED with the account number", async () => {
      const requests = Array.from({ length: 25 }, () => request());
      const results = await Promise.all(requests.map((r) => plugin.send(r)));
      await plugin.idle();
      assert.deepEqual(
        server.appendLog.map((a) => a.accountNumbers.length),
        [10, 10],
        "two full batches went at once",
      );
      assert.equal(timers.fire(2000), 1, "the last 5 waited for the window");
      await plugin.idle();
      assert.deepEqual(
        server.appendLog.map((a) => a.accountNumbers.length),
        [10, 10, 5],
      );
      for (const [i, r] of requests.entries()) {
        assert.equal(results[i]?.status, "QUEUED");
        assert.equal(results[i]?.vendorId, r.attemptId);
        assert.match(results[i]?.detail ?? "", new RegExp(`Cisco campaign ${h.defaultCampaign}`));
        assert.equal(server.rowCount(r.attemptId), 1, r.attemptId);
      }
      assert.equal(tc.emitted.length, 0, "nothing to report for contacts Cisco took");
    });

    it("a send is answered once its contact is in the outbox, before any append; a resend adds nothing", async () => {
      const r = request();
      const first = await plugin.send(r);
      assert.equal(first.detail, `accepted: appended to Cisco campaign ${h.defaultCampaign} with its batch`);
      assert.equal(server.appendLog.length, 0, "the window is still open");
      await plugin.send(r);
      await deliverAll(plugin, timers);
      assert.deepEqual(
        server.appendLog.map((a) => a.accountNumbers),
        [[r.attemptId]],
      );
      // The hub sends the same attempt again after a crash: Cisco holds it, nothing is appended.
      await plugin.send(r);
      await deliverAll(plugin, timers);
      assert.equal(server.appendLog.length, 1);
      assert.equal(server.rowCount(r.attemptId), 1);
    });

    it("appends to the campaign campaignMap names, else to defaultCampaign", async () => {
      const mapped = request({ campaignId: "hub-b" });
      const other = request({ campaignId: "hub-unmapped" });
      await appendAll(plugin, timers, [mapped, other]);
      assert.deepEqual(h.campaignAccounts(server, h.mappedCampaign), [mapped.attemptId]);
      assert.deepEqual(h.campaignAccounts(server, h.defaultCampaign), [other.attemptId]);
    });

    it("backs off on a burst of 503s and sends the same batch again: nothing lost, nothing twice", async () => {
      server.injectUnavailable(3);
      const requests = Array.from({ length: 10 }, () => request());
      await Promise.all(requests.map((r) => plugin.send(r)));
      await plugin.idle();
      assert.deepEqual(statuses(), [503, 503, 503, 200]);
      assert.deepEqual(timers.sleeps, [500, 1000, 2000], "exponential backoff between attempts");
      for (const r of requests) assert.equal(server.rowCount(r.attemptId), 1);
    });

    it("an answer lost and a list that cannot be read: OUTCOME_UNKNOWN, not retried (Cisco may dial it)", async () => {
      server.dropNextAnswer(1);
      server.injectListUnavailable(20);
      const r = request();
      assert.equal((await plugin.send(r)).status, "QUEUED");
      await deliverAll(plugin, timers);
      const event = statusEventOf(tc.emitted, r.attemptId);
      assert.equal(event.status, "FAILED");
      assert.equal(event.reasonCode, "OUTCOME_UNKNOWN");
      assert.equal(event.retryable, false);
      assert.deepEqual(statuses(), [0], "never appended again");
      assert.equal(server.rowCount(r.attemptId), 1);
    });

    it("reconciles an append whose answer was lost against the list: no contact appended twice", async () => {
      server.dropNextAnswer(1);
      const requests = Array.from({ length: 10 }, () => request());
      const results = await Promise.all(requests.map((r) => plugin.send(r)));
      await plugin.idle();
      assert.ok(results.every((res) => res.status === "QUEUED"));
      assert.deepEqual(statuses(), [0], "one append, applied but unanswered; none sent again");
      assert.ok(server.requests.some((req) => req.method === "GET" && req.path.endsWith(h.listPathEnd)));
      for (const r of requests) assert.equal(server.rowCount(r.attemptId), 1);
    });

    it("an append cut before Cisco applied it is found missing by the reconciliation and sent again, once", async () => {
      server.cutNextRequest(1);
      const requests = Array.from({ length: 10 }, () => request());
      await Promise.all(requests.map((r) => plugin.send(r)));
      await plugin.idle();
      assert.deepEqual(statuses(), [-1, 200]);
      for (const r of requests) assert.equal(server.rowCount(r.attemptId), 1, r.attemptId);
    });

    it("400: only the rows Cisco names fail, not retryable, with Cisco's message; the others are appended", async () => {
      const requests = Array.from({ length: 4 }, () => request());
      const bad = requests[1] as SendRequest;
      server.rejectAccounts(bad.attemptId);
      await appendAll(plugin, timers, requests);
      const event = statusEventOf(tc.emitted, bad.attemptId);
      assert.equal(tc.emitted.length, 1, "only the named row is reported");
      assert.equal(event.status, "FAILED");
      assert.equal(event.reasonCode, "CISCO_INVALID_ROW");
      assert.equal(event.retryable, false);
      assert.equal(event.activityId, bad.activityId);
      assert.ok(event.reason?.includes(`Row 2: ${h.phoneField} is not a dialable number`), event.reason);
      assert.deepEqual(statuses(), [400, 200]);
      assert.equal(server.rowCount(bad.attemptId), 0);
      for (const r of requests.filter((x) => x !== bad)) assert.equal(server.rowCount(r.attemptId), 1);
    });

    it("a row sent at once (window 0) waits for Cisco's verdict: a refusal is the send's own error", async () => {
      const { ctx, plugin: p } = build({ batchWindowMs: 0 } as Partial<Options>);
      const r = request();
      server.rejectAccounts(r.attemptId);
      const err = await rejection(p.send(r));
      assert.equal(err.code, "CISCO_INVALID_ROW");
      assert.equal(ctx.emitted.length, 0, "reported once: by the send, not also as an event");
      await p.stop?.();
      ctx.cleanup();
    });

    it("a customer without a dialable number fails at once, without a request", async () => {
      const err = await rejection(plugin.send(request({}, { phone: "12" })));
      assert.equal(err.code, "INVALID_NUMBER");
      assert.equal(server.appendLog.length, 0);
    });

    const append = (count: number, extra: Partial<SendRequest> = {}): Promise<SendRequest[]> =>
      appendAll(
        plugin,
        timers,
        Array.from({ length: count }, () => request(extra)),
      );

    it("polls by itself every pollIntervalMs once started", async () => {
      const [r] = await append(1);
      h.connect(server, h.defaultCampaign, (r as SendRequest).attemptId);
      await plugin.start?.();
      timers.fire(15_000);
      // The tick's poll is asynchronous: stop() waits for it to finish.
      await plugin.stop?.();
      assert.equal(tc.emitted.length, 1);
    });

    it("flush deletes the campaign's contacts and ends the open ones CANCELLED, the unsent ones too", async () => {
      const sent = await append(3, { campaignId: "hub-b" });
      h.connect(server, h.mappedCampaign, (sent[0] as SendRequest).attemptId);
      await plugin.pollResults();
      const unsent = request({ campaignId: "hub-b" });
      assert.equal((await plugin.send(unsent)).status, "QUEUED");
      const result = await plugin.actions.flush({ campaign: "hub-b" });
      assert.deepEqual(result, { campaignId: h.mappedCampaign, cancelled: 3 });
      assert.deepEqual(h.campaignAccounts(server, h.mappedCampaign), []);
      const flushPath = h.flushPathEnd(h.mappedCampaign);
      assert.ok(server.requests.some((r) => r.method === "DELETE" && r.path.endsWith(flushPath)));
      const cancelled = tc.emitted.filter((e) => e.kind === "status" && e.status === "CANCELLED");
      assert.deepEqual(
        cancelled.map((e) => ("vendorId" in e ? e.vendorId : "")).sort(),
        [...sent.slice(1), unsent].map((r) => r.attemptId).sort(),
      );
      assert.equal(statusEventOf(tc.emitted, unsent.attemptId).reasonCode, "CAMPAIGN_FLUSHED");
      await deliverAll(plugin, timers);
      assert.equal(server.rowCount(unsent.attemptId), 0, "never appended");
      assert.equal(await plugin.pollResults(), 0, "nothing open there any more");
      await assert.rejects(plugin.actions.flush({}), { code: "INVALID_INPUT" });
      await assert.rejects(plugin.actions.flush({ campaign: "nope" }), { code: "INVALID_INPUT" });
    });

    it("wrong credentials: AUTH_FAILED, not retryable, health not ok, the password nowhere", async () => {
      const { ctx, plugin: p } = build({ password: "wrong-password-4711", batchWindowMs: 0 } as Partial<Options>);
      const err = await rejection(p.send(request()));
      assert.equal(err.code, "AUTH_FAILED");
      assert.equal(err.retryable, false);
      const health = await p.health();
      assert.equal(health.ok, false);
      for (const text of [err.message, JSON.stringify(health), ctx.logText()]) {
        assert.ok(!text.includes("wrong-password-4711"));
        assert.ok(!text.includes(server.password));
      }
      ctx.cleanup();
    });
  });
}

/** A `request(extra, customer)` for voice sends to `customer`, each with a new attempt id under `prefix`. */
export function voiceRequests(
  prefix: string,
  base: SendRequest["customer"],
): (extra?: Partial<SendRequest>, customer?: Partial<SendRequest["customer"]>) => SendRequest {
  let seq = 0;
  return (extra = {}, customer = {}) => {
    seq += 1;
    return {
      attemptId: `${prefix}-${seq}`,
      activityId: `act-${seq}`,
      conversationId: `conv-${seq}`,
      channel: "voice",
      customer: { ...base, ...customer },
      content: {},
      ...extra,
    };
  };
}

/** The SDK's contract kit for a Cisco plugin against its local server (the options both plugins share). */
export function runCiscoContract<Server extends CiscoVendorServer, Options extends CiscoOutboundOptions>(h: {
  pluginDir: string;
  customer: SendRequest["customer"];
  startServer(): Promise<Server>;
  options(server: Server): Options;
}): void {
  let server: Server | undefined;
  const base = { baseUrl: "https://cisco.example.com", username: "u", password: "p" };
  runPluginContract<Options>({
    pluginDir: h.pluginDir,
    channel: "voice",
    customer: h.customer,
    async setup() {
      server = await h.startServer();
      return { ...h.options(server), batchWindowMs: 0 };
    },
    async teardown() {
      await server?.stop();
    },
    invalidOptions: [
      { options: { username: "u", password: "p", defaultCampaign: 1 }, why: "baseUrl is required" },
      { options: { ...base, username: undefined, defaultCampaign: 1 }, why: "username is required" },
      { options: { ...base, password: undefined, defaultCampaign: 1 }, why: "password is required" },
      { options: base, why: "a campaign: default or map" },
      { options: { ...base, defaultCampaign: 1, batchSize: 10_001 }, why: "batchSize is at most 10,000" },
      { options: { ...base, campaignMap: { a: "5001" } }, why: "Cisco campaign ids are integers" },
      { options: { ...base, baseUrl: "ftp://cisco", defaultCampaign: 1 }, why: "baseUrl is http(s)" },
      { options: { ...base, defaultCampaign: 1, defaultRegion: "usa" }, why: "defaultRegion is an ISO country code" },
    ],
    failNextPermanently: () => server?.rejectNext(),
    // More 503s than the plugins' attempts per batch (8): the send gives up, retryable.
    failNextTransiently: () => server?.injectUnavailable(8, { retryAfterSeconds: 0 }),
    acceptedCount: () =>
      (server?.appendLog ?? [])
        .filter((a) => a.status === 200 || a.status === 202 || a.status === 0)
        .reduce((total, a) => total + a.accountNumbers.length, 0),
  });
}
