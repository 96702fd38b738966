import { test } from "@jest/globals";
import assert from "node:assert/strict";
import { checkCall } from "./index.ts";
import { checkCallTime, nextCallTime } from "./calling-time.ts";
import { loadPhoneZoneTable, loadRegulationTable } from "./load.ts";
import { locateCalledParty } from "./phone-zones.ts";

const rules = loadRegulationTable();
const zones = loadPhoneZoneTable();
const allowed = (phone: string, iso: string, customerZone?: string) =>
  checkCallTime(rules, locateCalledParty(zones, phone, customerZone), new Date(iso)).allowed;

// 2026-06-10 is a Wednesday (EDT = UTC-4, CDT = UTC-5, PDT = UTC-7, BST = UTC+1).
test("US federal hours: 08:00 to 21:00 in the called party's zone", () => {
  const newYork = "+12125550123";
  assert.equal(allowed(newYork, "2026-06-10T11:59:00Z"), false); // 07:59 EDT
  assert.equal(allowed(newYork, "2026-06-10T12:00:00Z"), true); // 08:00
  assert.equal(allowed(newYork, "2026-06-11T00:59:00Z"), true); // 20:59
  assert.equal(allowed(newYork, "2026-06-11T01:00:00Z"), false); // 21:00
});

test("Florida narrows the federal window to 20:00", () => {
  const miami = "+13055550123";
  assert.equal(allowed(miami, "2026-06-10T23:59:00Z"), true); // 19:59 EDT
  assert.equal(allowed(miami, "2026-06-11T00:00:00Z"), false); // 20:00, still inside federal hours
  const check = checkCallTime(rules, locateCalledParty(zones, miami), new Date("2026-06-11T00:30:00Z"));
  assert.deepEqual(check.jurisdictions, ["US-FL", "US"]);
  assert.match(check.reasons.join(), /US-FL calling hours closed/);
});

test("a number whose area code spans two zones is refused while one of them is outside the window", () => {
  // 850 (Florida panhandle) is Central and Eastern. 08:30 EDT is 07:30 CDT.
  const panhandle = "+18505550123";
  assert.deepEqual(locateCalledParty(zones, panhandle).zones, ["America/Chicago", "America/New_York"]);
  assert.equal(allowed(panhandle, "2026-06-10T12:30:00Z"), false);
  assert.equal(allowed(panhandle, "2026-06-10T13:00:00Z"), true); // 09:00 EDT, 08:00 CDT
  // 19:30 CDT is 20:30 EDT: Florida's 20:00 closes the Eastern side first.
  assert.equal(allowed(panhandle, "2026-06-11T00:30:00Z"), false);
});

test("a stored customer zone overrides the number's candidates", () => {
  const panhandle = "+18505550123";
  assert.equal(allowed(panhandle, "2026-06-10T12:30:00Z", "America/New_York"), true);
  assert.equal(locateCalledParty(zones, panhandle, "America/New_York").zoneSource, "customer");
});

test("Texas: Sunday calls only from noon", () => {
  const houston = "+17135550123"; // CDT = UTC-5; 2026-06-14 is a Sunday
  assert.equal(allowed(houston, "2026-06-14T15:00:00Z"), false); // 10:00 Sunday
  assert.equal(allowed(houston, "2026-06-14T17:00:00Z"), true); // 12:00 Sunday
  assert.equal(allowed(houston, "2026-06-13T15:00:00Z"), true); // 10:00 Saturday
});

test("Canada: weekdays 09:00-21:30, weekends 10:00-18:00", () => {
  const toronto = "+14165550123"; // EDT
  assert.equal(allowed(toronto, "2026-06-10T12:30:00Z"), false); // 08:30 Wednesday
  assert.equal(allowed(toronto, "2026-06-11T01:15:00Z"), true); // 21:15 Wednesday
  assert.equal(allowed(toronto, "2026-06-13T13:30:00Z"), false); // 09:30 Saturday
  assert.equal(allowed(toronto, "2026-06-13T21:59:00Z"), true); // 17:59 Saturday
  assert.equal(allowed(toronto, "2026-06-13T22:00:00Z"), false); // 18:00 Saturday
});

test("UK numbers are judged in Europe/London", () => {
  assert.equal(allowed("+447700900123", "2026-06-10T06:59:00Z"), false); // 07:59 BST
  assert.equal(allowed("+447700900123", "2026-06-10T07:00:00Z"), true);
});

test("campaign windows narrow the legal window and never widen it", () => {
  const newYork = locateCalledParty(zones, "+12125550123");
  const at = (iso: string) => new Date(iso);
  const evening = [{ start: "18:00", end: "23:00" }];
  assert.equal(checkCallTime(rules, newYork, at("2026-06-11T00:30:00Z"), evening).allowed, true); // 20:30
  assert.equal(checkCallTime(rules, newYork, at("2026-06-11T01:30:00Z"), evening).allowed, false); // 21:30
  assert.equal(checkCallTime(rules, newYork, at("2026-06-10T14:00:00Z"), evening).allowed, false); // 10:00
});

test("a number with no known zone is refused", () => {
  const verdict = checkCallTime(
    rules,
    { country: undefined, region: undefined, zones: [], zoneSource: "number" },
    new Date(),
  );
  assert.equal(verdict.allowed, false);
});

test("the next allowed time is the first instant every zone and rule is open", () => {
  const panhandle = locateCalledParty(zones, "+18505550123");
  // From 21:00 EDT Wednesday, the next opening is 08:00 CDT Thursday (09:00 EDT).
  const next = nextCallTime(rules, panhandle, new Date("2026-06-11T01:00:00Z"));
  assert.equal(next?.toISOString(), "2026-06-11T13:00:00.000Z");
});

test("checkCall refuses with reasons and a retry time", () => {
  const tables = { rules, zones };
  const refused = checkCall(tables, {
    phone: "+13055550123",
    at: new Date("2026-06-11T00:30:00Z"),
    previousAttempts: [],
    agentGuaranteed: false,
  });
  assert.equal(refused.allowed, false);
  assert.equal(refused.retryAt?.toISOString(), "2026-06-11T12:00:00.000Z"); // 08:00 EDT Thursday
});
