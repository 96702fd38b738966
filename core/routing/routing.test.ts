import assert from "node:assert/strict";
import { describe, test } from "@jest/globals";
import { failover, roundRobin, weighted, type ChannelRoute } from "./strategies.ts";
import { buildRoutingTable } from "./table.ts";
import { planRoute, type InstanceStatus } from "./plan.ts";
import { canFailOver, INITIAL_HEALTH, nextHealth, type HealthState } from "./health.ts";
import type { SendFailure } from "../ccm/ports.ts";

const route = (strategy: ChannelRoute["strategy"], plugins: string[], weights?: Record<string, number>) => ({
  strategy,
  plugins,
  ...(weights ? { weights } : {}),
});

describe("strategies", () => {
  test("failover keeps the admin's order on every turn", () => {
    for (const turn of [0, 1, 7]) assert.deepEqual(failover(route("failover", ["a", "b", "c"]), turn), ["a", "b", "c"]);
  });

  test("roundrobin leads with each instance in turn and keeps the others as fallbacks", () => {
    const r = route("roundrobin", ["a", "b", "c"]);
    assert.deepEqual(
      [0, 1, 2, 3].map((t) => roundRobin(r, t)),
      [
        ["a", "b", "c"],
        ["b", "c", "a"],
        ["c", "a", "b"],
        ["a", "b", "c"],
      ],
    );
  });

  test("weighted leads with each instance as often as its weight, spread over the cycle", () => {
    const r = route("weighted", ["wa-1", "wa-2"], { "wa-1": 3, "wa-2": 1 });
    const leads = Array.from({ length: 8 }, (_, t) => weighted(r, t)[0]);
    assert.deepEqual(leads, ["wa-1", "wa-1", "wa-2", "wa-1", "wa-1", "wa-1", "wa-2", "wa-1"]);
    assert.deepEqual(weighted(r, 2), ["wa-2", "wa-1"], "the other instance stays as the fallback");
    const counts = new Map<string, number>();
    const big = route("weighted", ["a", "b", "c"], { a: 5, b: 3, c: 2 });
    for (let t = 0; t < 1000; t++) counts.set(weighted(big, t)[0]!, (counts.get(weighted(big, t)[0]!) ?? 0) + 1);
    assert.deepEqual(Object.fromEntries(counts), { a: 500, b: 300, c: 200 });
  });

  test("weighted with a zero weight never leads with that instance but keeps it as a fallback", () => {
    const r = route("weighted", ["a", "b"], { a: 0, b: 2 });
    for (let t = 0; t < 4; t++) assert.deepEqual(weighted(r, t), ["b", "a"]);
  });
});

describe("routing table", () => {
  const sms = [
    { id: "sms-a", channels: ["sms"] },
    { id: "sms-b", channels: ["sms", "whatsapp"] },
    { id: "mail", channels: ["email"] },
  ];

  test("a channel with one carrier needs no entry", () => {
    const { table, problems } = buildRoutingTable({ sms: route("failover", ["sms-a", "sms-b"]) }, sms);
    assert.deepEqual(problems, []);
    assert.deepEqual(table.get("email"), { strategy: "failover", plugins: ["mail"] });
    assert.deepEqual(table.get("whatsapp"), { strategy: "failover", plugins: ["sms-b"] });
    assert.deepEqual(table.get("sms"), { strategy: "failover", plugins: ["sms-a", "sms-b"] });
  });

  test("two carriers without an entry is an error that names both and shows the fix", () => {
    const { problems } = buildRoutingTable({}, sms);
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.path, "/routing/sms");
    assert.match(problems[0]!.message, /carried by sms-a and sms-b/);
    assert.match(
      problems[0]!.message,
      /"routing": \{ "sms": \{ "strategy": "failover", "plugins": \["sms-a", "sms-b"\] \} \}/,
    );
  });

  test("an entry naming an unknown instance or one that does not carry the channel is refused", () => {
    const { problems } = buildRoutingTable(
      { sms: route("failover", ["sms-a", "nope"]), email: route("weighted", ["mail", "sms-a"], { mail: 1, x: 2 }) },
      sms,
    );
    assert.deepEqual(
      problems.map((p) => p.path),
      ["/routing/sms/plugins/1", "/routing/email/plugins/1", "/routing/email/weights/x"],
    );
    assert.match(problems[1]!.message, /"sms-a" does not carry email .*it carries: sms/);
  });

  test("the table does not depend on the order instances were loaded in", () => {
    const a = buildRoutingTable({}, [sms[0]!, sms[2]!]).table;
    const b = buildRoutingTable({}, [sms[2]!, sms[0]!]).table;
    assert.deepEqual([...a.entries()].sort(), [...b.entries()].sort());
  });
});

describe("planRoute", () => {
  const { table } = buildRoutingTable({ sms: route("failover", ["sms-a", "sms-b"]) }, [
    { id: "sms-a", channels: ["sms"] },
    { id: "sms-b", channels: ["sms"] },
  ]);
  const ready: InstanceStatus = { loaded: true, idempotentSend: false };
  const statuses = (s: Record<string, InstanceStatus>) => (id: string) => s[id];

  test("healthy instances in strategy order", () => {
    assert.deepEqual(planRoute(table, "sms", statuses({ "sms-a": ready, "sms-b": ready }), 0), {
      kind: "route",
      candidates: ["sms-a", "sms-b"],
      passedOver: [],
    });
  });

  test("an unhealthy instance is passed over, with the reason", () => {
    const plan = planRoute(table, "sms", statuses({ "sms-a": { ...ready, unhealthy: "HTTP 503" }, "sms-b": ready }), 0);
    assert.deepEqual(plan, {
      kind: "route",
      candidates: ["sms-b"],
      passedOver: [{ pluginId: "sms-a", reason: "unhealthy: HTTP 503" }],
    });
  });

  test("when every instance is unhealthy they are still tried, in order", () => {
    const sick = { ...ready, unhealthy: "down" };
    const plan = planRoute(table, "sms", statuses({ "sms-a": sick, "sms-b": sick }), 0);
    assert.deepEqual(plan, { kind: "route", candidates: ["sms-a", "sms-b"], passedOver: [] });
  });

  test("instances still loading on this node mean wait, not fail", () => {
    const loading = { ...ready, loaded: false };
    assert.equal(planRoute(table, "sms", statuses({ "sms-a": loading, "sms-b": loading }), 0).kind, "wait");
    const plan = planRoute(table, "sms", statuses({ "sms-a": { ...ready, loaded: false }, "sms-b": ready }), 0);
    assert.deepEqual(plan.kind === "route" && plan.candidates, ["sms-b"]);
  });

  test("a channel nobody carries, or a pinned instance since removed, is none", () => {
    assert.equal(planRoute(table, "voice", statuses({}), 0).kind, "none");
    const plan = planRoute(table, "sms", statuses({}), 0, "gone");
    assert.equal(plan.kind, "none");
    assert.match(plan.kind === "none" ? plan.reason : "", /gone: not an enabled plugin instance/);
  });

  test("a failed instance is passed over while another works, and tried (to say why) when none does", () => {
    const failed = { ...ready, unusable: "failed to load: bad token" };
    assert.deepEqual(planRoute(table, "sms", statuses({ "sms-a": failed, "sms-b": ready }), 0), {
      kind: "route",
      candidates: ["sms-b"],
      passedOver: [{ pluginId: "sms-a", reason: "failed to load: bad token" }],
    });
    const plan = planRoute(table, "sms", statuses({ "sms-a": failed, "sms-b": failed }), 0);
    assert.deepEqual(plan, { kind: "route", candidates: ["sms-a", "sms-b"], passedOver: [] });
  });

  test("a pinned instance is the only candidate", () => {
    const plan = planRoute(table, "sms", statuses({ "sms-a": ready, "sms-b": ready }), 0, "sms-b");
    assert.deepEqual(plan, { kind: "route", candidates: ["sms-b"], passedOver: [] });
  });
});

describe("health", () => {
  const fail = (code: string, retryable = true): SendFailure => ({
    code,
    message: `${code} happened`,
    retryable,
    status: "FAILED",
    optOut: false,
  });
  const at = new Date("2026-01-01T00:00:00Z");

  test("only failures that prove nothing was sent fail over", () => {
    assert.equal(canFailOver(fail("TWILIO_HTTP_503")), true);
    assert.equal(canFailOver(fail("PLUGIN_UNAVAILABLE")), true);
    assert.equal(canFailOver(fail("PLUGIN_TIMEOUT")), false, "the vendor may have taken it");
    assert.equal(canFailOver(fail("PLUGIN_ERROR")), false);
    assert.equal(canFailOver(fail("INVALID_NUMBER", false)), false, "the next vendor would refuse it too");
  });

  test("consecutive failover failures make an instance unhealthy; a send or a good check heals it", () => {
    let h: HealthState = INITIAL_HEALTH;
    h = nextHealth(h, { kind: "send-failed", error: fail("TWILIO_HTTP_503"), at }, 3);
    h = nextHealth(h, { kind: "send-failed", error: fail("TWILIO_HTTP_503"), at }, 3);
    assert.equal(h.ok, true);
    h = nextHealth(h, { kind: "send-failed", error: fail("INVALID_NUMBER", false), at }, 3);
    assert.equal(h.consecutiveFailures, 2, "a per-message refusal says nothing about the instance");
    h = nextHealth(h, { kind: "send-failed", error: fail("TWILIO_HTTP_503"), at }, 3);
    assert.equal(h.ok, false);
    assert.match(h.detail ?? "", /3 sends in a row failed \(last: TWILIO_HTTP_503/);
    assert.deepEqual(nextHealth(h, { kind: "sent", at }, 3), { ok: true, consecutiveFailures: 0 });
    assert.equal(nextHealth(h, { kind: "check", ok: true, at }, 3).ok, true);
    assert.equal(nextHealth(INITIAL_HEALTH, { kind: "check", ok: false, detail: "401", at }, 3).detail, "401");
  });
});
