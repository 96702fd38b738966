import assert from "node:assert/strict";
import { test } from "@jest/globals";
import type { ActivityDoc } from "../store/models.ts";
import { keyedHasher } from "./keyed-hash.ts";
import { isRedactedWebhookBody, mentionsAny, redactedActivity, redactedWebhookBody, rowMentions } from "./redact.ts";

const hash = keyedHasher(Buffer.alloc(32, 7));
const at = new Date("2026-01-01T00:00:00Z");

function activity(over: Partial<ActivityDoc>): ActivityDoc {
  return {
    _id: "act_1",
    idempotencyKey: "crm-42-renewal",
    requestHash: "abc",
    customer: {
      id: "42",
      firstName: "Ada",
      email: "ada@example.com",
      phone: "+33612345678",
      attributes: { tier: "gold" },
    },
    channel: "sms",
    content: { text: "Hello Ada" },
    dueAt: at,
    chain: [{ channel: "sms" }],
    conversationId: "cv_1",
    status: "SENT",
    attempts: [
      {
        id: "at_1",
        step: 0,
        retry: 0,
        channel: "sms",
        address: "+33612345678",
        status: "SENT",
        raw: "ok +33612345678",
        reason: "to +33612345678",
        reasonCode: "X",
        dispatchedAt: at,
        updatedAt: at,
      },
    ],
    nextRunAt: at,
    leaseOwner: null,
    leaseUntil: new Date(0),
    leaseToken: null,
    claimEpoch: 1,
    createdAt: at,
    updatedAt: at,
    ...over,
  };
}

test("an erased activity keeps ids, statuses and codes, and nothing of the customer; it stops", () => {
  const set = redactedActivity(activity({}), hash);
  const text = JSON.stringify(set);
  for (const v of ["Ada", "ada@example.com", "+33612345678", "gold", "crm-42-renewal", '"42"'])
    assert.ok(!text.includes(v), v);
  assert.deepEqual(set.customer, { id: hash("42") });
  assert.equal(set.status, "SENT");
  assert.equal(set.nextRunAt, null);
  assert.equal(set.attempts![0]!.reasonCode, "X");
  assert.equal(redactedActivity(activity({ status: "SCHEDULED" }), hash).status, "CANCELLED");
});

test("a webhook body keeps its envelope and ids; the customer id is hashed; text, from and reasons go", () => {
  const body = JSON.stringify({
    id: "e1",
    event: "conversation.reply",
    occurredAt: "2026-01-01T00:00:00.000Z",
    data: { customerId: "42", conversationId: "cv_1", from: "+33612345678", text: "call me, Ada", reason: "x" },
  });
  const out = JSON.parse(redactedWebhookBody(body, hash)) as { id: string; data: Record<string, unknown> };
  assert.equal(out.id, "e1");
  assert.deepEqual(out.data, { conversationId: "cv_1", customerId: hash("42"), erased: true });
  assert.match(redactedWebhookBody("not json", hash), /"erased":true/);
  // Erasure searches again until no body names the customer; a redacted one is done even when a
  // kept field equals the id (customer "0", event id "0"), or the search never ends.
  const zero = JSON.stringify({ id: "0", event: "activity.status", data: { customerId: "0", activityId: "0" } });
  assert.equal(isRedactedWebhookBody(zero), false);
  const redacted = redactedWebhookBody(zero, hash);
  assert.equal(mentionsAny(redacted, ["0"]), true);
  assert.equal(isRedactedWebhookBody(redacted), true);
  assert.equal(isRedactedWebhookBody("not json"), false);
});

test("mentions are whole JSON strings; import rows match by id, email or a phone's national digits", () => {
  assert.equal(mentionsAny(JSON.stringify({ a: "42" }), ["42"]), true);
  assert.equal(mentionsAny(JSON.stringify({ a: "420" }), ["42"]), false);
  const s = { customerId: "A7", emails: ["ada@example.com"], phones: ["+12125550100"] };
  assert.equal(rowMentions(["", "Ada", "212 555 0100"], s), true);
  assert.equal(rowMentions(["ADA@example.com"], s), true);
  assert.equal(rowMentions(["A7", "x"], s), true);
  assert.equal(rowMentions(["A8", "Ada", "212 555 0199", "0100"], s), false);
});
