/**
 * Vendor events into the hub, on the real store: statuses advance an attempt once (a repeated
 * callback is ignored, an unknown message unmatched), opt-outs suppress and opt-ins lift, and a
 * reply lands on the conversation of the latest message to that address. Only the publisher of
 * notifications is a recorder.
 */
import assert from "node:assert/strict";
import { afterAll, beforeAll, describe, test } from "@jest/globals";
import { openStore, type Store } from "../store/connection.ts";
import { ActivityStore } from "../store/activities.ts";
import { ClaimStore } from "../store/claims.ts";
import { ConversationStore } from "../store/conversations.ts";
import { SuppressionStore } from "../store/suppressions.ts";
import type { NormalizedActivity } from "../domain/activity-input.ts";
import { freshDatabaseUrl } from "../../test/support/mongo.ts";
import { Dispatcher } from "./dispatcher.ts";
import { EventIngester } from "./ingest.ts";

const hasDb = Boolean(process.env.DIALMESH_TEST_MONGO_URL);
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const PHONE = "+14155550142";

(hasDb ? describe : describe.skip)("EventIngester", () => {
  let store: Store;
  let activities: ActivityStore;
  let conversations: ConversationStore;
  let suppressions: SuppressionStore;
  const published: { id: string; name: string }[] = [];
  const events = {
    publish: async (e: { id: string; name: string }) => {
      published.push({ id: e.id, name: e.name });
    },
  };
  let ingester: EventIngester;
  let activityId: string;
  let conversationId: string;

  beforeAll(async () => {
    store = await openStore(freshDatabaseUrl("ingest"));
    activities = new ActivityStore(store.models, new ClaimStore(store.conn));
    conversations = new ConversationStore(store.models);
    suppressions = new SuppressionStore(store.models);
    const plan = { maxRetries: 1, retryBaseMs: 1000 };
    ingester = new EventIngester({
      activities,
      conversations,
      suppressions,
      events,
      logger: quiet,
      plan,
      nodeId: "node-i",
      matchRetries: { attempts: 2, delayMs: 10 },
    });
    // One SMS sent through "sms-a" with vendor id SM1.
    const now = new Date();
    const item: NormalizedActivity = {
      customer: { id: "c-1", phone: PHONE },
      channel: "sms",
      content: { text: "hi" },
      dueAt: now,
      chain: [{ channel: "sms" }],
      requestHash: "h",
      idempotencyKey: "k-ingest",
    };
    const [accepted] = await activities.accept([item], now);
    activityId = accepted!.id;
    const [claimed] = await activities.claimDue("node-i", new Date(), 10, 30_000);
    await new Dispatcher({
      activities,
      conversations,
      routing: {
        route: () => ({ kind: "route", candidates: ["sms-a"], passedOver: [] }),
        idempotentSend: () => false,
        send: async () => ({ ok: true, result: { status: "QUEUED", vendorId: "SM1" } }),
      },
      compliance: { blockReason: async () => undefined, suppress: async () => undefined },
      events,
      logger: quiet,
      nodeId: "node-i",
      plan,
    }).process(claimed!);
    conversationId = (await activities.get(activityId))!.conversationId;
  });
  afterAll(async () => {
    await store?.conn.dropDatabase().catch(() => undefined);
    await store?.close();
  });

  const status = (vendorId: string, s: "SENT" | "DELIVERED", seconds: number) => ({
    kind: "status" as const,
    vendorId,
    status: s,
    raw: s.toLowerCase(),
    at: new Date(Date.now() + seconds * 1000),
  });

  test("a status advances the attempt once; repeated it is ignored; an unknown message is unmatched", async () => {
    assert.deepEqual(await ingester.ingest("sms-a", [status("SM1", "DELIVERED", 1)]), {
      applied: 1,
      ignored: 0,
      unmatched: 0,
    });
    assert.equal((await activities.get(activityId))!.attempts[0]!.status, "DELIVERED");
    assert.deepEqual(await ingester.ingest("sms-a", [status("SM1", "DELIVERED", 1), status("SM1", "SENT", 0)]), {
      applied: 0,
      ignored: 2,
      unmatched: 0,
    });
    assert.equal((await activities.get(activityId))!.attempts[0]!.status, "DELIVERED", "never backwards");
    assert.deepEqual(await ingester.ingest("sms-a", [status("SM-nope", "SENT", 0)]), {
      applied: 0,
      ignored: 0,
      unmatched: 1,
    });
    assert.deepEqual(
      await ingester.ingest("sms-b", [status("SM1", "SENT", 0)]),
      { applied: 0, ignored: 0, unmatched: 1 },
      "vendor ids are per instance",
    );
    assert.equal(published.filter((p) => p.id.endsWith(":DELIVERED")).length, 1, "notified once");
  });

  test("an opt-out suppresses the address once; an opt-in lifts it", async () => {
    const optOut = { kind: "opt-out" as const, channel: "sms", address: PHONE, reason: "STOP", at: new Date() };
    assert.equal((await ingester.ingest("sms-a", [optOut])).applied, 1);
    assert.ok(await suppressions.find(PHONE));
    assert.equal((await ingester.ingest("sms-a", [optOut])).ignored, 1);
    const optIn = { kind: "opt-in" as const, channel: "sms", address: PHONE, reason: "START", at: new Date() };
    assert.equal((await ingester.ingest("sms-a", [optIn])).applied, 1);
    assert.equal(await suppressions.find(PHONE), null);
  });

  test("a reply lands on the conversation of the latest message to that number, once", async () => {
    const reply = {
      kind: "reply" as const,
      channel: "sms",
      from: PHONE,
      text: "yes please",
      vendorId: "SMr1",
      at: new Date(),
    };
    assert.equal((await ingester.ingest("sms-a", [reply])).applied, 1);
    assert.equal((await ingester.ingest("sms-a", [reply])).ignored, 1);
    const view = await conversations.get(conversationId);
    const replies = (view?.timeline ?? []).filter((e) => e.type === "REPLIED");
    assert.equal(replies.length, 1);
    assert.equal(replies[0]!.text, "yes please");
  });
});
