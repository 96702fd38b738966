import { test } from "@jest/globals";
import assert from "node:assert/strict";
import { isWithinWindow, nextWindowOpening, type CallingWindow } from "./calling-window.ts";

const weekdays9to17: CallingWindow = { days: ["mon", "tue", "wed", "thu", "fri"], start: "09:00", end: "17:00" };

test("a window is evaluated in the customer's zone", () => {
  // 2026-03-02 is a Monday; 14:00 UTC is 09:00 in New York (EST, UTC-5).
  const at = new Date("2026-03-02T14:00:00Z");
  assert.equal(isWithinWindow(weekdays9to17, at, "America/New_York"), true);
  assert.equal(isWithinWindow(weekdays9to17, new Date("2026-03-02T13:59:00Z"), "America/New_York"), false);
  assert.equal(isWithinWindow(weekdays9to17, at, "Asia/Tokyo"), false); // 23:00 in Tokyo
});

test("end is exclusive and days are honoured", () => {
  assert.equal(isWithinWindow(weekdays9to17, new Date("2026-03-02T22:00:00Z"), "America/New_York"), false); // 17:00
  assert.equal(isWithinWindow(weekdays9to17, new Date("2026-03-07T15:00:00Z"), "America/New_York"), false); // Saturday
});

test("next opening skips the weekend", () => {
  // Friday 2026-03-06 18:00 New York -> Monday 2026-03-09 09:00 EDT (DST began 2026-03-08).
  const next = nextWindowOpening(weekdays9to17, new Date("2026-03-06T23:00:00Z"), "America/New_York");
  assert.equal(next?.toISOString(), "2026-03-09T13:00:00.000Z");
});

test("DST: opening at 08:00 local follows the clock change", () => {
  const w: CallingWindow = { start: "08:00", end: "21:00" };
  // Before the change 08:00 EST = 13:00Z; after it 08:00 EDT = 12:00Z.
  assert.equal(
    nextWindowOpening(w, new Date("2026-03-07T03:00:00Z"), "America/New_York")?.toISOString(),
    "2026-03-07T13:00:00.000Z",
  );
  assert.equal(
    nextWindowOpening(w, new Date("2026-03-09T03:00:00Z"), "America/New_York")?.toISOString(),
    "2026-03-09T12:00:00.000Z",
  );
});

test("an opening skipped by DST opens at the first instant after it", () => {
  // 02:30 does not exist in New York on 2026-03-08.
  const w: CallingWindow = { start: "02:30", end: "04:00" };
  const next = nextWindowOpening(w, new Date("2026-03-08T05:00:00Z"), "America/New_York");
  assert.ok(next);
  assert.equal(isWithinWindow(w, next, "America/New_York"), true);
});

test("inside the window, the next opening is now; a window that never opens gives undefined", () => {
  const at = new Date("2026-03-02T15:00:00Z");
  assert.equal(nextWindowOpening(weekdays9to17, at, "America/New_York"), at);
  assert.equal(nextWindowOpening({ start: "10:00", end: "09:00" }, at, "UTC"), undefined);
});
