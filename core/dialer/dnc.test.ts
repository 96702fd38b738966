/** A dialer campaign's DNC lists: the campaign's warnings, the field's validation. */
import assert from "node:assert/strict";
import { describe, test } from "@jest/globals";
import { parseCampaign } from "./campaign.ts";
import { campaignDncWarnings } from "./dnc.ts";

const DAY = 86_400_000;
const now = new Date("2026-03-01T12:00:00Z");
const daysAgo = (d: number) => new Date(now.getTime() - d * DAY);

describe("a dialer campaign's DNC lists", () => {
  test("warnings: a list refreshed more than 31 days ago, one never loaded, one deleted since; in the campaign's order", () => {
    const warnings = campaignDncWarnings(
      ["fresh", "old", "gone", "never", "edge"],
      [
        { id: "never", lastRefreshedAt: null },
        { id: "old", lastRefreshedAt: daysAgo(32) },
        { id: "fresh", lastRefreshedAt: daysAgo(3) },
        { id: "edge", lastRefreshedAt: daysAgo(31) },
      ],
      now,
    );
    assert.equal(warnings.length, 3, warnings.join("\n"));
    assert.match(warnings[0]!, /^DNC list old was last refreshed 2026-01-28T12:00:00.000Z, more than 31 days ago: /);
    assert.match(warnings[0]!, /BLOCKED/);
    assert.equal(warnings[1], "DNC list gone no longer exists: it is not checked");
    assert.match(warnings[2]!, /^DNC list never has never been loaded: /);
    assert.deepEqual(campaignDncWarnings([], [], now), []);
  });

  test("dncLists is kept in order; duplicates, empty ids and more than 20 are refused at /dncLists", () => {
    const base = { mode: "progressive", voicePlugin: "dialer", queue: "sales" };
    const ok = parseCampaign({ ...base, dncLists: ["national", "internal"] }, () => true);
    assert.ok(ok.ok);
    assert.deepEqual(ok.spec.dncLists, ["national", "internal"]);
    for (const dncLists of [["a", "a"], [""], Array.from({ length: 21 }, (_, i) => `l${i}`), "national"]) {
      const bad = parseCampaign({ ...base, dncLists }, () => true);
      assert.ok(!bad.ok, JSON.stringify(dncLists));
      assert.ok(
        bad.details.every((d) => d.path.startsWith("/dncLists")),
        JSON.stringify(bad.details),
      );
    }
  });
});
