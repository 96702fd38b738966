import { test } from "@jest/globals";
import assert from "node:assert/strict";
import { checkAttemptLimits, checkRepeatAfterAbandon } from "./attempts.ts";
import { checkCall, locateCalledParty, minimumRingSeconds } from "./index.ts";
import { loadPhoneZoneTable, loadRegulationTable } from "./load.ts";

const rules = loadRegulationTable();
const zones = loadPhoneZoneTable();
const hoursAfter = (base: Date, h: number) => new Date(base.getTime() + h * 3_600_000);
const base = new Date("2026-06-10T14:00:00Z"); // 10:00 EDT

test("Florida allows at most 3 calls in 24 hours to one number", () => {
  const attempt = (previous: Date[], at: Date) =>
    checkCall({ rules, zones }, { phone: "+13055550123", at, previousAttempts: previous, agentGuaranteed: false });
  const three = [base, hoursAfter(base, 1), hoursAfter(base, 2)];
  assert.equal(attempt(three.slice(0, 2), hoursAfter(base, 3)).allowed, true);
  const fourth = attempt(three, hoursAfter(base, 3));
  assert.equal(fourth.allowed, false);
  assert.match(fourth.reasons.join(), /US-FL: at most 3 calls per 24 h/);
  // The first attempt ages out 24 h after it was made.
  assert.equal(fourth.retryAt?.toISOString(), hoursAfter(base, 24).toISOString());
  assert.equal(attempt(three, hoursAfter(base, 24)).allowed, true);
});

test("New York has no per-day attempt limit", () => {
  const many = Array.from({ length: 6 }, (_, i) => hoursAfter(base, i * 0.5));
  const verdict = checkCall(
    { rules, zones },
    { phone: "+12125550123", at: hoursAfter(base, 4), previousAttempts: many, agentGuaranteed: false },
  );
  assert.equal(verdict.allowed, true);
});

test("campaign attempt limits apply on top of the law", () => {
  const verdict = checkAttemptLimits(
    [{ source: "campaign", limit: { maxAttempts: 2, perHours: 168 } }],
    [base, hoursAfter(base, 30)],
    hoursAfter(base, 60),
  );
  assert.equal(verdict.allowed, false);
  if (!verdict.allowed) assert.equal(verdict.retryAt.toISOString(), hoursAfter(base, 168).toISOString());
});

test("UK: no repeat call within 72 hours of an abandoned call unless an agent is guaranteed", () => {
  const uk = rules.jurisdictions.GB?.abandonment;
  assert.ok(uk);
  assert.equal(checkRepeatAfterAbandon(uk, base, hoursAfter(base, 71), false).allowed, false);
  assert.equal(checkRepeatAfterAbandon(uk, base, hoursAfter(base, 71), true).allowed, true);
  assert.equal(checkRepeatAfterAbandon(uk, base, hoursAfter(base, 72), false).allowed, true);
  const call = checkCall(
    { rules, zones },
    {
      phone: "+447700900123",
      at: hoursAfter(base, 24),
      previousAttempts: [base],
      lastAbandonedAt: base,
      agentGuaranteed: false,
    },
  );
  assert.equal(call.allowed, false);
  assert.equal(call.retryAt?.toISOString(), hoursAfter(base, 72).toISOString());
});

test("the 72-hour rule is the UK's: a US number may be called back the next day", () => {
  const verdict = checkCall(
    { rules, zones },
    {
      phone: "+12125550123",
      at: hoursAfter(base, 24),
      previousAttempts: [base],
      lastAbandonedAt: base,
      agentGuaranteed: false,
    },
  );
  assert.equal(verdict.allowed, true);
});

test("a US number must ring at least 15 seconds; the UK sets no minimum here", () => {
  assert.equal(minimumRingSeconds(rules, locateCalledParty(zones, "+13055550123")), 15);
  assert.equal(minimumRingSeconds(rules, locateCalledParty(zones, "+447700900123")), 0);
});
