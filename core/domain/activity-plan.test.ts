import { test } from "@jest/globals";
import assert from "node:assert/strict";
import { decideNext, type ActivitySnapshot, type AttemptSnapshot } from "./activity-plan.ts";

const opts = { maxRetries: 2, retryBaseMs: 1000 };
const t0 = new Date("2026-03-02T15:00:00Z");
const at = (ms: number) => new Date(t0.getTime() + ms);

function activity(over: Partial<ActivitySnapshot> = {}): ActivitySnapshot {
  return {
    status: "SCHEDULED",
    dueAt: t0,
    chain: [{ channel: "whatsapp" }, { channel: "sms", after: "PT10M", unless: "READ" }, { channel: "email" }],
    attempts: [],
    ...over,
  };
}
const attempt = (over: Partial<AttemptSnapshot>): AttemptSnapshot => ({
  step: 0,
  retry: 0,
  status: "SENT",
  dispatchedAt: t0,
  ...over,
});

test("a new activity waits for its due time, then dispatches step 0", () => {
  assert.deepEqual(decideNext(activity(), at(-5000), opts), { kind: "wait", until: t0, reason: "due" });
  assert.deepEqual(decideNext(activity(), t0, opts), { kind: "dispatch", step: 0, retry: 0 });
});

test("outside the calling window it waits for the next opening in the customer's zone", () => {
  const a = activity({ window: { window: { start: "09:00", end: "17:00" }, zone: "Asia/Tokyo" } });
  const d = decideNext(a, t0, opts); // 00:00 in Tokyo
  assert.equal(d.kind, "wait");
  assert.equal(d.kind === "wait" && d.until.toISOString(), "2026-03-03T00:00:00.000Z");
  assert.equal(d.kind === "wait" && d.reason, "window");
});

test("a retryable failure is retried with exponential backoff, then falls back", () => {
  const failed = attempt({ status: "FAILED", retryable: true, retry: 0 });
  assert.deepEqual(decideNext(activity({ attempts: [failed] }), at(500), opts), {
    kind: "wait",
    until: at(1000),
    reason: "retry",
  });
  assert.deepEqual(decideNext(activity({ attempts: [failed] }), at(1000), opts), {
    kind: "dispatch",
    step: 0,
    retry: 1,
  });
  const exhausted = attempt({ status: "FAILED", retryable: true, retry: 2 });
  assert.deepEqual(decideNext(activity({ attempts: [exhausted] }), at(1), opts), {
    kind: "dispatch",
    step: 1,
    retry: 0,
  });
});

test("a permanent failure falls back at once; the last step's failure ends the chain", () => {
  assert.deepEqual(decideNext(activity({ attempts: [attempt({ status: "BLOCKED" })] }), at(1), opts), {
    kind: "dispatch",
    step: 1,
    retry: 0,
  });
  assert.deepEqual(decideNext(activity({ attempts: [attempt({ step: 2, status: "FAILED" })] }), at(1), opts), {
    kind: "idle",
  });
});

test("the next step waits for its deadline and is skipped once the unless status is reached", () => {
  const sent = activity({ attempts: [attempt({ status: "DELIVERED" })] });
  assert.deepEqual(decideNext(sent, at(60_000), opts), {
    kind: "wait",
    until: at(600_000),
    reason: "fallback-deadline",
  });
  assert.deepEqual(decideNext(sent, at(600_000), opts), { kind: "dispatch", step: 1, retry: 0 });
  const read = activity({ attempts: [attempt({ status: "READ" })] });
  assert.deepEqual(decideNext(read, at(600_000), opts), { kind: "idle" });
});

test("a step without a deadline is taken only on failure", () => {
  const a = activity({ attempts: [attempt({ step: 1, status: "SENT" })] });
  assert.deepEqual(decideNext(a, at(10 * 3600_000), opts), { kind: "idle" });
});

test("an attempt left DISPATCHING by a crash is recovered; expiry ends unsent activities", () => {
  assert.deepEqual(decideNext(activity({ attempts: [attempt({ status: "DISPATCHING" })] }), t0, opts), {
    kind: "recover",
  });
  assert.deepEqual(decideNext(activity({ expiresAt: t0 }), at(1), opts), { kind: "expire" });
  assert.deepEqual(decideNext(activity({ status: "CANCELLED" }), at(1), opts), { kind: "idle" });
});

test("a window that would open only after expiry expires the activity", () => {
  const a = activity({
    expiresAt: at(3600_000),
    window: { window: { start: "09:00", end: "17:00" }, zone: "Asia/Tokyo" },
  });
  assert.deepEqual(decideNext(a, t0, opts), { kind: "expire" });
});
