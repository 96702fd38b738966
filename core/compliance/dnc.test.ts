import assert from "node:assert/strict";
import { describe, test } from "@jest/globals";
import {
  dncVerdict,
  entryKey,
  isStale,
  parseDncEntries,
  parseDncEntry,
  requiredDncMaxAge,
  unknownListDetails,
  type DncListState,
  firstListing,
  WarningThrottle,
  listingKeys,
} from "./dnc.ts";

const DAY = 86_400_000;
const now = new Date("2026-03-01T12:00:00Z");
const daysAgo = (d: number) => new Date(now.getTime() - d * DAY);
const list = (id: string, refreshedDaysAgo: number | null, prefixes: string[] = []): DncListState => ({
  id,
  lastRefreshedAt: refreshedDaysAgo === null ? null : daysAgo(refreshedDaysAgo),
  prefixes,
});

describe("DNC entries", () => {
  test("numbers become E.164, emails are lower-cased, prefixes keep their digits", () => {
    assert.deepEqual(parseDncEntry(" +1 (415) 555-0123 "), { value: "+14155550123", prefix: false });
    assert.deepEqual(parseDncEntry("Ada@Example.COM"), { value: "ada@example.com", prefix: false });
    assert.deepEqual(parseDncEntry("+1 415 555*"), { value: "+1415555", prefix: true });
    assert.equal(entryKey("lst", { value: "+1415555", prefix: true }), "lst:+1415555*");
  });

  test("a bad entry says what it is and what was expected", () => {
    assert.match((parseDncEntry("0415550123") as { error: string }).error, /international form/);
    assert.match((parseDncEntry("a@b") as { error: string }).error, /not an email/);
    assert.match((parseDncEntry("1415*") as { error: string }).error, /"\+" and 1 to 14 digits/);
    assert.match((parseDncEntry("+*") as { error: string }).error, /prefix/);
    assert.match((parseDncEntry(42) as { error: string }).error, /phone number/);
  });

  test("a request with a bad entry names each by index and returns no entries", () => {
    const out = parseDncEntries(["+14155550123", "nope", "a@b.c", "+0*"]);
    assert.ok("details" in out);
    assert.deepEqual(
      out.details.map((d) => d.path),
      ["/entries/1", "/entries/3"],
    );
    assert.ok("details" in parseDncEntries([]));
    assert.ok("details" in parseDncEntries("+14155550123"));
    assert.deepEqual(parseDncEntries(["a@b.c"]), { entries: [{ value: "a@b.c", prefix: false }] });
  });
});

describe("matching an address against an activity's lists", () => {
  test("the first list in the activity's order that has the address blocks, naming it", () => {
    const lists = [list("fresh", 1), list("internal", 2), list("other", 3)];
    const v = dncVerdict("+14155550123", lists, new Set(["other", "internal"]), now, 31);
    assert.deepEqual(v.block, { reasonCode: "DNC", reason: "DNC:internal", list: "internal" });
  });

  test("a prefix entry blocks numbers under it, and only those", () => {
    const lists = [list("area", 1, ["+1415555"])];
    assert.equal(dncVerdict("+14155550123", lists, new Set(), now, 31).block?.reason, "DNC:area");
    assert.equal(dncVerdict("+14165550123", lists, new Set(), now, 31).block, undefined);
    assert.equal(dncVerdict("ada@example.com", lists, new Set(), now, undefined).block, undefined);
  });

  test("an address on no list passes", () => {
    assert.deepEqual(dncVerdict("+14155550123", [list("a", 0)], new Set(), now, 31), { warnings: [] });
  });
});

describe("list freshness", () => {
  test("older than the limit (or never loaded) is stale; exactly the limit is not", () => {
    assert.equal(isStale(list("a", 31), now, 31), false);
    assert.equal(isStale({ lastRefreshedAt: new Date(daysAgo(31).getTime() - 1) }, now, 31), true);
    assert.equal(isStale(list("a", null), now, 31), true);
  });

  test("a stale list blocks where the jurisdiction requires a fresh one", () => {
    const v = dncVerdict("+14155550123", [list("national", 40)], new Set(), now, 31);
    assert.equal(v.block?.list, "national");
    assert.match(v.block!.reason, /^DNC:national is stale: .*2026-01-20T12:00:00.000Z, more than 31 days ago/);
  });

  test("elsewhere a stale list is a warning and the address passes", () => {
    const v = dncVerdict("ada@example.com", [list("national", 40), list("never", null)], new Set(), now, undefined);
    assert.equal(v.block, undefined);
    assert.equal(v.warnings.length, 2);
    assert.match(v.warnings[0]!, /national was last refreshed/);
    assert.match(v.warnings[1]!, /never has never been loaded/);
  });

  test("the address being on a stale list still blocks as DNC:<list>", () => {
    const v = dncVerdict("+14155550123", [list("national", 40)], new Set(["national"]), now, 31);
    assert.equal(v.block?.reason, "DNC:national");
  });

  test("the strictest limit of the applicable jurisdictions applies", () => {
    assert.equal(requiredDncMaxAge([{ dncMaxAgeDays: 31 }, {}, { dncMaxAgeDays: 14 }]), 14);
    assert.equal(requiredDncMaxAge([{}]), undefined);
  });
});

test("an activity naming an unknown list gets one detail per unknown name", () => {
  assert.deepEqual(unknownListDetails(["a", "b", "c"], new Set(["b"]), "/activities/2"), [
    { path: "/activities/2/dncLists/0", message: '"a" is not a DNC list (PUT /api/v1/dnc-lists/a first)' },
    { path: "/activities/2/dncLists/2", message: '"c" is not a DNC list (PUT /api/v1/dnc-lists/c first)' },
  ]);
});

describe("scrubbing a customer's addresses (imports, the scrub of a filter)", () => {
  const lists = [
    { id: "internal", lastRefreshedAt: null, prefixes: [] },
    { id: "national", lastRefreshedAt: null, prefixes: ["+1415666"] },
  ];
  test("the first list in order that has an address exactly or by a prefix, whatever its age", () => {
    const addresses = ["+14156660100", "ada@example.com"];
    assert.deepEqual(listingKeys(lists, addresses), [
      "internal:+14156660100",
      "internal:ada@example.com",
      "national:+14156660100",
      "national:ada@example.com",
    ]);
    assert.deepEqual(firstListing(lists, addresses, new Set(["internal:ada@example.com"])), {
      list: "internal",
      address: "ada@example.com",
    });
    assert.deepEqual(firstListing(lists, addresses, new Set()), { list: "national", address: "+14156660100" });
    assert.equal(firstListing(lists, ["+14155550100", "ada@example.com"], new Set()), undefined);
  });
});

test("the same warning is logged once per interval; another is logged at once", () => {
  const t = new WarningThrottle(60_000);
  assert.equal(t.shouldLog("a", 0), true);
  assert.equal(t.shouldLog("a", 59_999), false);
  assert.equal(t.shouldLog("b", 59_999), true);
  assert.equal(t.shouldLog("a", 60_000), true);
  assert.equal(t.shouldLog("a", 60_001), false);
});
