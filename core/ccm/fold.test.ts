/** Folding vendor statuses into an activity (pure): order, idempotence, and what becomes due. */
import assert from "node:assert/strict";
import { describe, test } from "@jest/globals";
import type { ActivityDoc, AttemptDoc } from "../store/models.ts";
import { foldStatuses, type StatusEvent } from "./fold.ts";

const T0 = new Date("2026-03-02T10:00:00Z");
const at = (s: number) => new Date(T0.getTime() + s * 1000);
const plan = { maxRetries: 2, retryBaseMs: 1000 };

function attempt(id: string, status: AttemptDoc["status"], step = 0): AttemptDoc {
  return { id, step, retry: 0, channel: step === 0 ? "whatsapp" : "sms", status, dispatchedAt: T0, updatedAt: T0 };
}

function activity(attempts: AttemptDoc[]): ActivityDoc {
  return {
    _id: "act_1",
    idempotencyKey: "k",
    requestHash: "h",
    customer: { id: "c", phone: "+14155550123" },
    channel: "whatsapp",
    content: { text: "hi" },
    dueAt: T0,
    chain: [{ channel: "whatsapp" }, { channel: "sms", after: "PT10M", unless: "READ" }],
    conversationId: "cv_1",
    status: attempts.at(-1)?.status ?? "SCHEDULED",
    attempts,
    nextRunAt: null,
    leaseOwner: null,
    leaseUntil: new Date(0),
    leaseToken: null,
    claimEpoch: 0,
    createdAt: T0,
    updatedAt: T0,
  } as ActivityDoc;
}

const event = (attemptId: string, status: StatusEvent["status"], s: number, raw = status ?? ""): StatusEvent => ({
  attemptId,
  status,
  at: at(s),
  raw,
});

describe("foldStatuses", () => {
  test("events apply in vendor time order, whatever order they arrive in", () => {
    const fold = foldStatuses(
      activity([attempt("a1", "QUEUED")]),
      [event("a1", "DELIVERED", 3), event("a1", "SENT", 1), event("a1", "READ", 5)],
      at(10),
      plan,
    );
    assert.ok(fold);
    assert.equal(fold.activity.attempts[0]!.status, "READ");
    assert.equal(fold.activity.status, "READ");
    assert.deepEqual(
      fold.updates.map((u) => [u.index, u.set.status]),
      [[0, "READ"]],
    );
  });

  test("a late or repeated callback changes nothing", () => {
    const read = activity([attempt("a1", "READ")]);
    assert.equal(foldStatuses(read, [event("a1", "SENT", 9), event("a1", "DELIVERED", 9)], at(10), plan), undefined);
    assert.equal(foldStatuses(read, [event("a1", "READ", 9)], at(10), plan), undefined);
    assert.equal(foldStatuses(read, [event("zz", "FAILED", 9)], at(10), plan), undefined, "an unknown attempt");
  });

  test("the latest attempt failing makes the activity due again for its fallback", () => {
    const fold = foldStatuses(
      activity([attempt("a1", "SENT")]),
      [{ ...event("a1", "FAILED", 2), reasonCode: "UNDELIVERABLE", retryable: false }],
      at(10),
      plan,
    );
    assert.ok(fold);
    assert.equal(fold.activity.status, "FAILED");
    assert.ok(fold.activitySet.nextRunAt instanceof Date, "the sms step is due");
    assert.equal(fold.updates[0]!.set.reasonCode, "UNDELIVERABLE");
  });

  test("a progress status does not schedule anything; an earlier attempt's status leaves the activity's own", () => {
    const progress = foldStatuses(activity([attempt("a1", "SENT")]), [event("a1", "DELIVERED", 1)], at(2), plan);
    assert.ok(progress);
    assert.equal("nextRunAt" in progress.activitySet, false);
    const two = activity([attempt("a1", "DELIVERED"), attempt("a2", "QUEUED", 1)]);
    const earlier = foldStatuses(two, [event("a1", "READ", 3)], at(4), plan);
    assert.ok(earlier);
    assert.equal(earlier.activity.status, "QUEUED", "the activity follows its latest attempt");
    assert.equal(earlier.activity.attempts[0]!.status, "READ");
  });

  test("a voice outcome gets its retryability (NO_ANSWER and BUSY retry, others not)", () => {
    const call = activity([{ ...attempt("c1", "QUEUED"), channel: "voice" }]);
    const busy = foldStatuses(call, [event("c1", "BUSY", 1, "USER_BUSY")], at(2), plan);
    assert.equal(busy?.updates[0]!.set.retryable, true);
    const invalid = foldStatuses(call, [event("c1", "INVALID_NUMBER", 1, "UNALLOCATED_NUMBER")], at(2), plan);
    assert.equal(invalid?.updates[0]!.set.retryable, false);
    assert.equal(invalid?.updates[0]!.set.raw, "UNALLOCATED_NUMBER");
  });
});
