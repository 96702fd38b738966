import { test } from "@jest/globals";
import assert from "node:assert/strict";
import { canAdvance, hasReached } from "./status.ts";

test("progress only rises: a late SENT never overwrites DELIVERED or READ", () => {
  assert.equal(canAdvance("DELIVERED", "SENT"), false);
  assert.equal(canAdvance("READ", "DELIVERED"), false);
  assert.equal(canAdvance("SENT", "READ"), true);
  assert.equal(canAdvance(undefined, "QUEUED"), true);
});

test("a repeated status changes nothing", () => {
  assert.equal(canAdvance("SENT", "SENT"), false);
});

test("a failure ends an undelivered attempt but never undoes a delivery", () => {
  assert.equal(canAdvance("SENT", "FAILED"), true);
  assert.equal(canAdvance("DELIVERED", "FAILED"), false);
  assert.equal(canAdvance("FAILED", "DELIVERED"), false);
});

test("hasReached treats higher progress as reaching a lower target", () => {
  assert.equal(hasReached("READ", "DELIVERED"), true);
  assert.equal(hasReached("SENT", "READ"), false);
  assert.equal(hasReached("FAILED", "SENT"), false);
});
