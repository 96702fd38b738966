import assert from "node:assert/strict";
import { describe, it } from "@jest/globals";
import { dialerNumber, zoneBias } from "./contacts.ts";
import { parseApiErrors } from "./http.ts";
import { parseXml } from "./xml.ts";
import { backoffMs } from "./batcher.ts";
import { batchOf, flushPlan } from "./flusher.ts";
import type { OutboxEntry } from "./outbox.ts";

describe("cisco-common contacts", () => {
  it("dials national digits for the default region, international digits otherwise", () => {
    assert.equal(dialerNumber("+14155552671", "US"), "4155552671");
    assert.equal(dialerNumber("+447911123456", "US"), "447911123456");
    assert.equal(dialerNumber("12", "US"), undefined);
  });

  it("takes the standard offset and DST use from the customer's zone", () => {
    assert.deepEqual(zoneBias("America/New_York", 2026), { timeZoneBias: "-300", dstObserved: "true" });
    assert.deepEqual(zoneBias("Asia/Kolkata", 2026), { timeZoneBias: "330", dstObserved: "false" });
    assert.deepEqual(zoneBias("Australia/Sydney", 2026), { timeZoneBias: "600", dstObserved: "true" });
    assert.equal(zoneBias("Not/AZone", 2026), undefined);
  });
});

describe("cisco-common XML and errors", () => {
  it("reads the rows an apiErrors document names", () => {
    const errors = parseApiErrors(
      `<apiErrors><apiError><errorData>Phone01</errorData><errorDetail><row>3</row><accountNumber>att-3</accountNumber>` +
        `</errorDetail><errorMessage>Row 3: bad</errorMessage><errorType>invalidInput</errorType></apiError>` +
        `<apiError><errorMessage>Row 5: worse</errorMessage></apiError></apiErrors>`,
    );
    assert.deepEqual(errors, [
      { row: 3, accountNumber: "att-3", message: "Row 3: bad" },
      { row: 5, message: "Row 5: worse" },
    ]);
  });

  it("refuses malformed XML", () => {
    assert.throws(() => parseXml("<a><b></a>"));
    assert.throws(() => parseXml("<a>"));
  });

  it("backs off exponentially up to 10 s, or as Retry-After says (at most a minute)", () => {
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5].map((n) => backoffMs(n)),
      [500, 1000, 2000, 4000, 8000, 10_000],
    );
    assert.equal(backoffMs(0, 3000), 3000);
    assert.equal(backoffMs(0, 120_000), 60_000);
  });
});

describe("cisco-common flusher decisions", () => {
  const T = Date.parse("2026-03-02T10:00:00Z");

  it("a full batch goes at once; fewer rows wait for the window from the oldest of them", () => {
    assert.deepEqual(flushPlan({ waiting: 0, oldestAt: undefined }, T, 10, 2000), { kind: "idle" });
    assert.deepEqual(flushPlan({ waiting: 25, oldestAt: T }, T, 10, 2000), { kind: "now", take: 10 });
    assert.deepEqual(flushPlan({ waiting: 10, oldestAt: T }, T, 10, 2000), { kind: "now", take: 10 });
    assert.deepEqual(flushPlan({ waiting: 9, oldestAt: T - 500 }, T, 10, 2000), { kind: "later", inMs: 1500 });
    assert.deepEqual(flushPlan({ waiting: 9, oldestAt: T - 2000 }, T, 10, 2000), { kind: "now", take: 9 });
    assert.deepEqual(flushPlan({ waiting: 1, oldestAt: T }, T, 10, 0), { kind: "now", take: 1 }, "window 0");
  });

  const entry = (accountNumber: string, takenAt?: Date): OutboxEntry<{ accountNumber: string }> => ({
    campaignId: 5001,
    row: { accountNumber },
    activityId: `act-${accountNumber}`,
    enqueuedAt: new Date(T),
    ...(takenAt ? { takenAt } : {}),
  });

  it("a batch holds the rows in order, leaves out those Cisco holds, and is uncertain when one was taken before", () => {
    const fresh = batchOf([entry("a"), entry("b")], new Set());
    assert.deepEqual(fresh, {
      rows: [{ accountNumber: "a" }, { accountNumber: "b" }],
      uncertain: false,
      alreadyOpen: [],
    });
    const handedOver = batchOf([entry("a"), entry("b", new Date(T)), entry("c")], new Set(["c"]));
    assert.deepEqual(handedOver, {
      rows: [{ accountNumber: "a" }, { accountNumber: "b" }],
      uncertain: true,
      alreadyOpen: ["c"],
    });
    assert.equal(batchOf([entry("c", new Date(T))], new Set(["c"])).uncertain, false, "nothing left to look up");
  });
});
