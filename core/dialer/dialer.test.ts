/** The dialer's pure decisions: campaign rules, the dial budget, agents and live calls. */
import assert from "node:assert/strict";
import { describe, test } from "@jest/globals";
import { agentStatus, campaignForAgent, isReadyFor, pacingActivity, seizeLimit, type AgentRecord } from "./agents.ts";
import { CONNECT_WITHIN_S, LiveCalls } from "./calls.ts";
import { parseCampaign, policyFor, retryRule } from "./campaign.ts";
import { agentlessWanted, dialBudget } from "./pulse.ts";
import { autoDialAt, maySkip, previewStep } from "./preview.ts";

const known = (code: string) => ["US", "GB", "CA"].includes(code);

describe("dialer campaigns", () => {
  test("defaults are applied and the mode names its pacing policy", () => {
    const parsed = parseCampaign({ mode: "power", ratio: 2.5, voicePlugin: "dialer", queue: "sales" }, known);
    assert.ok(parsed.ok);
    assert.equal(parsed.spec.maxConcurrentCalls, 30);
    assert.equal(parsed.spec.abandonTarget, 0.03);
    assert.deepEqual(parsed.spec.preview, { timeoutS: 30, maxSkips: 3 });
    assert.equal(policyFor("power"), "power");
    assert.equal(policyFor("agentless"), undefined);
  });

  test("bad input is refused with JSON pointers: agentless needs ivr, others a queue, a known jurisdiction", () => {
    const noIvr = parseCampaign({ mode: "agentless", voicePlugin: "dialer" }, known);
    assert.ok(!noIvr.ok);
    assert.deepEqual(
      noIvr.details.map((d) => d.path),
      ["/ivr"],
    );
    const noQueue = parseCampaign({ mode: "predictive", voicePlugin: "dialer", retry: { BUSY: "soon" } }, known);
    assert.ok(!noQueue.ok);
    assert.deepEqual(noQueue.details.map((d) => d.path).sort(), ["/queue", "/retry/BUSY"]);
    const unknown = parseCampaign({ mode: "progressive", voicePlugin: "d", queue: "q", jurisdiction: "ZZ" }, known);
    assert.ok(!unknown.ok);
    assert.equal(unknown.details[0]!.path, "/jurisdiction");
  });

  test("an outcome is retried after the campaign's delay while attempts remain", () => {
    const parsed = parseCampaign(
      {
        mode: "progressive",
        voicePlugin: "d",
        queue: "q",
        maxAttempts: 2,
        retry: { NO_ANSWER: "PT30M", BUSY: "PT5M" },
      },
      known,
    );
    assert.ok(parsed.ok);
    assert.deepEqual(retryRule(parsed.spec, "NO_ANSWER", 1), { retryable: true, retryAfterMs: 30 * 60_000 });
    assert.deepEqual(retryRule(parsed.spec, "BUSY", 2), { retryable: false }, "no attempts left");
    assert.deepEqual(retryRule(parsed.spec, "ANSWERING_MACHINE", 1), { retryable: false }, "no delay, no retry");
  });
});

describe("dial budget", () => {
  const base = { active: 0, maxConcurrentCalls: 10, callsPerSecond: 5, elapsedSeconds: 1, tokens: 0, pending: 100 };

  test("the smallest of pacing, free lines, calls per second and contacts, and which one it was", () => {
    assert.deepEqual(dialBudget({ ...base, wanted: 3 }), { dials: 3, tokens: 2, limitedBy: "pacing" });
    assert.equal(dialBudget({ ...base, wanted: 8, active: 7 }).limitedBy, "maxConcurrentCalls");
    assert.deepEqual(dialBudget({ ...base, wanted: 8 }), { dials: 5, tokens: 0, limitedBy: "callsPerSecond" });
    assert.equal(dialBudget({ ...base, wanted: 8, pending: 1 }).dials, 1);
  });

  test("calls per second: unused tokens carry over up to a second's worth (two after a slow pulse), never a burst after a pause", () => {
    const quarter = { ...base, callsPerSecond: 4, elapsedSeconds: 0.25, wanted: 10 };
    let tokens = 0;
    let dials = 0;
    for (let i = 0; i < 8; i++) {
      const b = dialBudget({ ...quarter, tokens });
      tokens = b.tokens;
      dials += b.dials;
    }
    assert.equal(dials, 8, "4 per second over 2 seconds");
    assert.equal(
      dialBudget({ ...base, callsPerSecond: 4, elapsedSeconds: 60, wanted: 100 }).dials,
      8,
      "two seconds' worth at most",
    );
    assert.equal(
      dialBudget({ ...base, callsPerSecond: 4, elapsedSeconds: 1.5, wanted: 100 }).dials,
      6,
      "a slow pulse keeps the rate",
    );
  });

  test("agentless fills its free lines", () => {
    assert.equal(agentlessWanted(3, 10), 7);
    assert.equal(agentlessWanted(12, 10), 0);
  });
});

describe("agents", () => {
  const now = new Date("2026-12-02T12:00:00Z");
  const agent = (over: Partial<AgentRecord> = {}): AgentRecord => ({
    _id: "a1",
    endpoint: "user/1001",
    queues: ["sales"],
    presence: "AVAILABLE",
    updatedAt: now,
    ...over,
  });

  test("status: on a call TALKING, wrapping WRAP_UP until its end, seized SEIZED, else the presence", () => {
    assert.equal(agentStatus(agent({ callId: "c1", seizedBy: "x" }), now), "TALKING");
    assert.equal(agentStatus(agent({ wrapUntil: new Date(now.getTime() + 1000), seizedBy: "x" }), now), "WRAP_UP");
    assert.equal(agentStatus(agent({ wrapUntil: new Date(now.getTime() - 1), seizedBy: "x" }), now), "SEIZED");
    assert.equal(agentStatus(agent({ presence: "BREAK", seizedBy: "x" }), now), "BREAK");
    assert.equal(agentStatus(agent(), now), "AVAILABLE");
    assert.equal(pacingActivity(agent({ seizedBy: "x" }), now), "ready");
    assert.equal(pacingActivity(agent(), now), "paused", "not seized: not this campaign's");
    assert.ok(isReadyFor(agent({ seizedBy: "x" }), "x", now));
    assert.ok(!isReadyFor(agent({ seizedBy: "y" }), "x", now));
  });

  test("seizure: the highest-priority campaign of the agent's queues; equal priorities shared at random", () => {
    const campaigns = [
      { id: "low", queue: "sales", priority: 3 },
      { id: "a", queue: "sales", priority: 8 },
      { id: "b", queue: "sales", priority: 8 },
      { id: "other", queue: "support", priority: 10 },
    ];
    assert.equal(
      campaignForAgent({ queues: ["sales"] }, campaigns, () => 0),
      "a",
    );
    assert.equal(
      campaignForAgent({ queues: ["sales"] }, campaigns, () => 0.99),
      "b",
    );
    assert.equal(
      campaignForAgent({ queues: ["billing"] }, campaigns, () => 0),
      undefined,
    );
  });

  test("the SEIZE threshold leaves agents to inbound work once it waits", () => {
    assert.equal(seizeLimit(10, 1, 3), 10);
    assert.equal(seizeLimit(10, 4, 3), 6);
    assert.equal(seizeLimit(2, 5, 3), 0);
  });
});

describe("live calls", () => {
  test("ringing, waiting and bridged counts for pacing; an answer unbridged past 2 s is overdue", () => {
    const calls = new LiveCalls();
    calls.add({
      callId: "c1",
      contactId: "k1",
      activityId: "a1",
      campaignId: "x",
      phone: "+14155550100",
      attemptNumber: 1,
      dialedAt: 0,
    });
    calls.add({
      callId: "c2",
      contactId: "k2",
      activityId: "a2",
      campaignId: "x",
      phone: "+14155550100",
      attemptNumber: 1,
      dialedAt: 500,
    });
    calls.add({
      callId: "c3",
      contactId: "k3",
      activityId: "a3",
      campaignId: "y",
      phone: "+14155550100",
      attemptNumber: 1,
      dialedAt: 0,
    });
    assert.ok(calls.answered("c1", 1_000));
    assert.equal(calls.answered("c1", 1_100), undefined, "answered once");
    const snap = calls.snapshot("x", 2_000);
    assert.deepEqual(snap.callsInFlight, [{ secondsSinceDial: 1.5 }]);
    assert.equal(snap.callsWaitingForAgent, 1);
    assert.equal(snap.active, 2);
    assert.deepEqual(calls.overdue("x", 1_000 + CONNECT_WITHIN_S * 1000 - 1), []);
    assert.deepEqual(
      calls.overdue("x", 1_000 + CONNECT_WITHIN_S * 1000).map((c) => c.callId),
      ["c1"],
    );
    calls.bridged("c1", "a1");
    assert.equal(calls.snapshot("x", 3_000).callsWithAgents, 1);
    assert.equal(calls.remove("c1")?.agentId, "a1");
    assert.equal(calls.snapshot("x", 3_000).active, 1);
  });
});

describe("preview", () => {
  const offeredAt = new Date("2026-12-02T12:00:00Z");
  const at = (s: number) => new Date(offeredAt.getTime() + s * 1000);

  test("the agent's choice is acted on at once; undecided, the contact is dialled after the timeout", () => {
    assert.equal(previewStep({ offeredAt, choice: "dial" }, at(1), 30), "dial");
    assert.equal(previewStep({ offeredAt, choice: "skip" }, at(1), 30), "skip");
    assert.equal(previewStep({ offeredAt }, at(29.9), 30), "wait");
    assert.equal(previewStep({ offeredAt }, at(30), 30), "dial");
    assert.deepEqual(autoDialAt({ offeredAt }, 30), at(30));
  });

  test("skips are limited in a row", () => {
    assert.ok(maySkip(0, 1));
    assert.ok(!maySkip(1, 1));
    assert.ok(!maySkip(0, 0));
  });
});
