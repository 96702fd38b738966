import assert from "node:assert/strict";
import { test } from "@jest/globals";
import { isOpenActivity, purgePlan, purgeSlot, retentionPolicy, type RetentionConfig } from "./retention.ts";

const base: RetentionConfig = { purgeIntervalMs: 3_600_000, batchSize: 500 };
const DAY = 86_400_000;

function policy(c: Partial<RetentionConfig>) {
  const out = retentionPolicy({ ...base, ...c });
  if ("details" in out) throw new Error(JSON.stringify(out.details));
  return out.policy;
}

test("a plan has one cutoff per configured kind, `now` minus its period; unset kinds are kept", () => {
  const now = new Date("2026-06-30T12:00:00Z");
  const plan = purgePlan(policy({ activities: "P365D", callResults: "P90D", conversations: null }), now);
  assert.deepEqual(plan, [
    { kind: "activities", before: new Date(now.getTime() - 365 * DAY) },
    { kind: "callResults", before: new Date(now.getTime() - 90 * DAY) },
    { kind: "dialHistory", before: new Date(now.getTime() - 31 * DAY) },
  ]);
  assert.deepEqual(
    purgePlan(policy({}), now),
    [{ kind: "dialHistory", before: new Date(now.getTime() - 31 * DAY) }],
    "the dial history is kept as long as the rules read it back, whatever is configured",
  );
});

test("bad periods and limits are named by their JSON pointer", () => {
  const out = retentionPolicy({
    ...base,
    activities: "PT1H",
    conversations: "one year",
    purgeIntervalMs: 10,
    batchSize: 0,
  });
  assert.ok("details" in out);
  assert.deepEqual(
    out.details.map((d) => d.path),
    ["/retention/activities", "/retention/conversations", "/retention/purgeIntervalMs", "/retention/batchSize"],
  );
  assert.match(out.details[0]!.message, /"PT1H" must be an ISO-8601 duration of at least one day/);
});

test("nodes ticking within one interval compete for one slot; the next interval is another", () => {
  const p = policy({ activities: "P30D" });
  const t = Date.UTC(2026, 0, 1, 10, 0, 0);
  assert.equal(purgeSlot(p, new Date(t + 1)), purgeSlot(p, new Date(t + 3_599_000)));
  assert.notEqual(purgeSlot(p, new Date(t + 1)), purgeSlot(p, new Date(t + 3_600_000)));
});

test("open activities: waiting, being sent, with a next run or a live lease", () => {
  const now = new Date("2026-01-01T00:00:00Z");
  const later = new Date(now.getTime() + 1000);
  assert.equal(isOpenActivity({ status: "SCHEDULED", nextRunAt: null }, now), true);
  assert.equal(isOpenActivity({ status: "DISPATCHING", nextRunAt: null }, now), true);
  assert.equal(isOpenActivity({ status: "SENT", nextRunAt: later }, now), true);
  assert.equal(isOpenActivity({ status: "DELIVERED", nextRunAt: null, leaseUntil: later }, now), true);
  assert.equal(isOpenActivity({ status: "DELIVERED", nextRunAt: null, leaseUntil: new Date(0) }, now), false);
  assert.equal(isOpenActivity({ status: "FAILED", nextRunAt: null }, now), false);
});
