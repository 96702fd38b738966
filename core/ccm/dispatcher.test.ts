/**
 * The dispatcher on the real store (the suite's FerretDB), with its other ports as small
 * recorders: routing, failover inside an attempt, waiting for plugins still loading, pinned
 * instances, recovery of an attempt a dead node left DISPATCHING, and the journal that keeps a
 * vendor's answer the database did not take.
 */
import assert from "node:assert/strict";
import { describe, test, beforeAll, afterAll } from "@jest/globals";
import type { SendRequest } from "@dialmesh/sdk";
import { openStore, type Store } from "../store/connection.ts";
import { ActivityStore } from "../store/activities.ts";
import { ClaimStore } from "../store/claims.ts";
import { ConversationStore } from "../store/conversations.ts";
import type { ActivityDoc } from "../store/models.ts";
import type { NormalizedActivity } from "../domain/activity-input.ts";
import { freshDatabaseUrl } from "../../test/support/mongo.ts";
import { Dispatcher } from "./dispatcher.ts";
import type { AttemptState, Routing, SendOutcome } from "./ports.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { OutcomeJournal } from "../store/outcome-journal.ts";
import type { RoutePlan } from "../routing/plan.ts";

const hasDb = Boolean(process.env.DIALMESH_TEST_MONGO_URL);
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const LEASE_MS = 30_000;

/** Routing that answers a fixed plan and, per instance, a scripted outcome; records every call. */
function scriptedRouting(
  plan: RoutePlan,
  outcomes: Record<string, SendOutcome>,
  opts: { idempotent?: string[] } = {},
): Routing & { calls: { pluginId: string; request: SendRequest }[]; routed: (string | undefined)[] } {
  const calls: { pluginId: string; request: SendRequest }[] = [];
  const routed: (string | undefined)[] = [];
  return {
    calls,
    routed,
    route: (_channel, pinned) => {
      routed.push(pinned);
      return plan;
    },
    idempotentSend: (id) => opts.idempotent?.includes(id) ?? false,
    send: async (pluginId, request) => {
      calls.push({ pluginId, request });
      return outcomes[pluginId] ?? { ok: false, error: failure("NOT_SCRIPTED", false) };
    },
  };
}

function failure(code: string, retryable: boolean) {
  return { code, message: `${code} from the vendor`, retryable, status: "FAILED" as const, optOut: false };
}
const sent = (vendorId: string): SendOutcome => ({ ok: true, result: { status: "SENT", vendorId } });

(hasDb ? describe : describe.skip)("Dispatcher", () => {
  let store: Store;
  let activities: ActivityStore;
  let conversations: ConversationStore;
  let n = 0;

  beforeAll(async () => {
    store = await openStore(freshDatabaseUrl("dispatcher"));
    activities = new ActivityStore(store.models, new ClaimStore(store.conn));
    conversations = new ConversationStore(store.models);
  });
  afterAll(async () => {
    await store?.conn.dropDatabase().catch(() => undefined);
    await store?.close();
  });

  /** Accepts one SMS activity due now and claims it, as a scheduler round would. */
  async function claimed(chainPluginId?: string): Promise<ActivityDoc> {
    const now = new Date();
    const id = `c-${++n}`;
    const item: NormalizedActivity = {
      customer: { id, phone: "+14155550123" },
      channel: "sms",
      content: { text: "hi" },
      dueAt: now,
      chain: [{ channel: "sms", ...(chainPluginId ? { pluginId: chainPluginId } : {}) }],
      requestHash: id,
      idempotencyKey: `k-${id}-${Math.random()}`,
    };
    const [accepted] = await activities.accept([item], now);
    const claims = await activities.claimDue("node-t", new Date(), 1000, LEASE_MS);
    const mine = claims.find((a) => a._id === accepted!.id);
    assert.ok(mine, "the activity is claimed");
    return mine;
  }

  function dispatcher(routing: Routing, extra: Partial<ConstructorParameters<typeof Dispatcher>[0]> = {}): Dispatcher {
    return new Dispatcher({
      ...extra,
      activities,
      conversations,
      routing,
      compliance: { blockReason: async () => undefined, suppress: async () => undefined },
      events: { publish: async () => undefined },
      logger: quiet,
      nodeId: "node-t",
      plan: { maxRetries: 2, retryBaseMs: 1000 },
      leaseMs: LEASE_MS,
      ...(extra.activities ? { activities: extra.activities } : {}),
      ...(extra.nodeId ? { nodeId: extra.nodeId } : {}),
    });
  }

  test("a retryable refusal fails over to the next instance inside the same attempt", async () => {
    const a = await claimed();
    const routing = scriptedRouting(
      { kind: "route", candidates: ["sms-a", "sms-b"], passedOver: [] },
      { "sms-a": { ok: false, error: failure("VENDOR_UNAVAILABLE", true) }, "sms-b": sent("SM1") },
    );
    await dispatcher(routing).process(a);
    assert.deepEqual(
      routing.calls.map((c) => c.pluginId),
      ["sms-a", "sms-b"],
    );
    assert.equal(routing.calls[0]!.request.attemptId, routing.calls[1]!.request.attemptId, "one attempt id");
    const stored = (await activities.get(a._id))!;
    assert.equal(stored.attempts.length, 1);
    assert.equal(stored.attempts[0]!.status, "SENT");
    assert.equal(stored.attempts[0]!.pluginId, "sms-b");
    assert.equal(stored.attempts[0]!.vendorId, "SM1");
    assert.deepEqual(stored.attempts[0]!.passedOver, [
      { pluginId: "sms-a", code: "VENDOR_UNAVAILABLE", reason: "VENDOR_UNAVAILABLE from the vendor" },
    ]);
  });

  test("a timeout does not fail over (the vendor may have the message): the attempt fails, retryable", async () => {
    const a = await claimed();
    const routing = scriptedRouting(
      { kind: "route", candidates: ["sms-a", "sms-b"], passedOver: [] },
      { "sms-a": { ok: false, error: failure("PLUGIN_TIMEOUT", true) }, "sms-b": sent("SM2") },
    );
    await dispatcher(routing).process(a);
    assert.deepEqual(
      routing.calls.map((c) => c.pluginId),
      ["sms-a"],
    );
    const attempt = (await activities.get(a._id))!.attempts[0]!;
    assert.equal(attempt.status, "FAILED");
    assert.equal(attempt.reasonCode, "PLUGIN_TIMEOUT");
    assert.equal(attempt.pluginId, "sms-a");
  });

  test("a non-retryable refusal stays with its instance", async () => {
    const a = await claimed();
    const routing = scriptedRouting(
      { kind: "route", candidates: ["sms-a", "sms-b"], passedOver: [{ pluginId: "sms-0", reason: "unhealthy: x" }] },
      { "sms-a": { ok: false, error: failure("INVALID_NUMBER", false) }, "sms-b": sent("SM3") },
    );
    await dispatcher(routing).process(a);
    assert.equal(routing.calls.length, 1);
    const attempt = (await activities.get(a._id))!.attempts[0]!;
    assert.equal(attempt.reasonCode, "INVALID_NUMBER");
    assert.deepEqual(attempt.passedOver, [{ pluginId: "sms-0", reason: "unhealthy: x" }], "the plan's passed over");
  });

  test("plugins still loading on this node: no attempt is spent, the activity is due again shortly", async () => {
    const a = await claimed();
    const before = Date.now();
    await dispatcher(scriptedRouting({ kind: "wait", reason: "loading" }, {})).process(a);
    const stored = (await activities.get(a._id))!;
    assert.equal(stored.attempts.length, 0);
    assert.equal(stored.status, "SCHEDULED");
    assert.ok(stored.nextRunAt && stored.nextRunAt.getTime() > before, "due again, later");
    assert.equal(stored.leaseToken, null, "released");
  });

  test("nothing carries the channel: the attempt fails with NO_PLUGIN and the plan's reason", async () => {
    const a = await claimed();
    await dispatcher(scriptedRouting({ kind: "none", reason: 'no plugin instance carries channel "sms"' }, {})).process(
      a,
    );
    const attempt = (await activities.get(a._id))!.attempts[0]!;
    assert.equal(attempt.reasonCode, "NO_PLUGIN");
    assert.match(attempt.reason ?? "", /carries channel "sms"/);
  });

  test("the step's pluginId is what routing is asked for", async () => {
    const a = await claimed("sms-b");
    const routing = scriptedRouting({ kind: "route", candidates: ["sms-b"], passedOver: [] }, { "sms-b": sent("SM4") });
    await dispatcher(routing).process(a);
    assert.deepEqual(routing.routed, ["sms-b"]);
  });

  test("an attempt a dead node left DISPATCHING: resent under its id where the vendor dedupes, else OUTCOME_UNKNOWN", async () => {
    for (const idempotent of [true, false]) {
      const a = await claimed();
      const first = scriptedRouting({ kind: "route", candidates: ["sms-a"], passedOver: [] }, {});
      // The node dies inside the plugin call: the attempt stays DISPATCHING.
      first.send = () => new Promise<SendOutcome>(() => undefined);
      void dispatcher(first).process(a);
      const interrupted = await waitFor(async () => {
        const s = await activities.get(a._id);
        return s?.attempts[0]?.status === "DISPATCHING" ? s : undefined;
      });
      // Its lease passes; another node claims the activity.
      const afterLease = new Date(Date.now() + LEASE_MS + 1_000);
      const again = (await activities.claimDue("node-u", afterLease, 1000, LEASE_MS)).find((x) => x._id === a._id);
      assert.ok(again);
      const second = scriptedRouting(
        { kind: "route", candidates: ["sms-a"], passedOver: [] },
        { "sms-a": sent("SM5") },
        idempotent ? { idempotent: ["sms-a"] } : {},
      );
      await dispatcher(second).process(again);
      const attempt = (await activities.get(a._id))!.attempts[0]!;
      if (idempotent) {
        assert.deepEqual(
          second.calls.map((c) => c.request.attemptId),
          [interrupted.attempts[0]!.id],
        );
        assert.equal(attempt.status, "SENT");
      } else {
        assert.equal(second.calls.length, 0, "not resent");
        assert.equal(attempt.reasonCode, "OUTCOME_UNKNOWN");
      }
    }
  });

  test("the database does not take the vendor's answer: it is journaled, peers wait for it, and the replay records it once", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "dialmesh-dispatch-journal-"));
    const journal = new OutcomeJournal(path.join(dir, "journal"), "node-t");
    try {
      const a = await claimed();
      // The database goes away between the plugin's answer and its record.
      const unreachable = Object.assign(Object.create(activities) as ActivityStore, {
        finishAttempt: async () => {
          throw new Error("connection <monitor> to 127.0.0.1:27017 closed");
        },
      });
      const routing = scriptedRouting(
        { kind: "route", candidates: ["sms-a"], passedOver: [] },
        { "sms-a": sent("SM6") },
      );
      const sender = dispatcher(routing, { activities: unreachable, journal });
      await sender.process(a);
      const attemptId = routing.calls[0]!.request.attemptId;
      assert.equal((await activities.get(a._id))!.attempts[0]!.status, "DISPATCHING", "the database has no answer");
      assert.equal(journal.find(attemptId)?.update.vendorId, "SM6");
      assert.equal(sender.attemptState(attemptId), "journaled");

      // Another node claims it once the lease passes: it asks the sender, which holds the answer,
      // and waits instead of resending or failing it.
      const afterLease = new Date(Date.now() + LEASE_MS + 1_000);
      const again = (await activities.claimDue("node-u", afterLease, 1000, LEASE_MS)).find((x) => x._id === a._id);
      assert.ok(again);
      const asked: string[] = [];
      const peers = {
        attemptState: async (nodeId: string, id: string): Promise<AttemptState> => {
          asked.push(nodeId);
          return sender.attemptState(id);
        },
      };
      const other = scriptedRouting({ kind: "route", candidates: ["sms-a"], passedOver: [] }, { "sms-a": sent("SM7") });
      await dispatcher(other, { nodeId: "node-u", peers }).process(again);
      assert.deepEqual(asked, ["node-t"]);
      assert.equal(other.calls.length, 0, "not resent");
      const waiting = (await activities.get(a._id))!;
      assert.equal(waiting.attempts[0]!.status, "DISPATCHING");
      assert.equal(waiting.leaseToken, null, "released to be looked at again");

      // The database is back: the replay records the answer and its timeline event.
      assert.equal(await sender.replayJournal(), 1);
      const recorded = (await activities.get(a._id))!;
      assert.deepEqual(
        recorded.attempts.map((t) => [t.id, t.status, t.vendorId]),
        [[attemptId, "SENT", "SM6"]],
      );
      assert.equal(recorded.status, "SENT");
      assert.equal(await store.models.TimelineEvent.countDocuments({ _id: `out:${attemptId}:SENT` }), 1);
      assert.equal(journal.size, 0);
      assert.equal(sender.attemptState(attemptId), "unknown");
      assert.equal(await sender.replayJournal(), 0);
    } finally {
      journal.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

async function waitFor<T>(read: () => Promise<T | undefined>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("condition not reached");
    await new Promise((resolve) => setImmediate(resolve));
  }
}
