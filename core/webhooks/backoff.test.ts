import { test } from "@jest/globals";
import assert from "node:assert/strict";
import { afterFailure, backoffPolicyProblems, DEFAULT_BACKOFF, retryDelayMs, type BackoffPolicy } from "./backoff.ts";

const noJitter: BackoffPolicy = { ...DEFAULT_BACKOFF, jitter: 0 };

test("delays grow exponentially up to the cap", () => {
  const delays = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => retryDelayMs(n, noJitter));
  assert.deepEqual(delays, [30_000, 60_000, 120_000, 240_000, 480_000, 960_000, 1_800_000, 1_800_000]);
});

test("the default schedule spans about an hour over 8 attempts", () => {
  let total = 0;
  for (let n = 1; n < DEFAULT_BACKOFF.maxAttempts; n++) total += retryDelayMs(n, noJitter);
  assert.ok(total > 50 * 60_000 && total < 70 * 60_000, `total ${total} ms`);
});

test("jitter stays within its spread and under the cap", () => {
  const p: BackoffPolicy = { maxAttempts: 5, baseDelayMs: 1000, factor: 2, maxDelayMs: 3000, jitter: 0.2 };
  assert.equal(
    retryDelayMs(1, p, () => 0),
    800,
  );
  assert.equal(
    retryDelayMs(1, p, () => 0.999999),
    1200,
  );
  assert.equal(
    retryDelayMs(3, p, () => 0.999999),
    3000,
  ); // capped, jitter included
  assert.equal(
    retryDelayMs(3, p, () => 0),
    2400,
  );
});

test("after the last attempt the delivery is dead", () => {
  const p: BackoffPolicy = { maxAttempts: 3, baseDelayMs: 10, factor: 2, maxDelayMs: 100, jitter: 0 };
  const now = new Date("2026-01-01T00:00:00Z");
  assert.deepEqual(afterFailure(1, now, p), { kind: "retry", at: new Date(now.getTime() + 10), delayMs: 10 });
  assert.deepEqual(afterFailure(2, now, p), { kind: "retry", at: new Date(now.getTime() + 20), delayMs: 20 });
  assert.deepEqual(afterFailure(3, now, p), { kind: "dead" });
});

test("bad policies are reported", () => {
  assert.deepEqual(backoffPolicyProblems(DEFAULT_BACKOFF), []);
  const problems = backoffPolicyProblems({
    maxAttempts: 0,
    baseDelayMs: -1,
    factor: 0.5,
    maxDelayMs: Number.NaN,
    jitter: 2,
  });
  assert.equal(problems.length, 5);
});
