/**
 * The internal voice dialer end to end, through the REST API, against a local switch that speaks
 * FreeSWITCH's Event Socket (test/support/esl-switch): agents and campaigns by API, voice
 * activities paced into calls, answers bridged to seized agents, results on the activity and its
 * conversation, a campaign's DNC lists (a listed number never dialled), and the failover rows
 * of seed 000.
 */
import assert from "node:assert/strict";
import { afterAll, beforeAll, describe, test } from "@jest/globals";
import { startEslSwitch, type EslSwitch } from "../support/esl-switch/switch.ts";
import { withDefaults } from "../../core/simulator/scenario.ts";
import { eventually, startTestHub, type TestHub } from "../support/hub.ts";
import { afternoonZone } from "../support/zones.ts";

const PASSWORD = "dialer-test-secret";
/** 1 model second = 5 ms: a 30 s call takes 150 ms. */
const TIME_SCALE = 0.005;

interface AttemptView {
  id: string;
  status: string;
  channel: string;
  reasonCode?: string;
  reason?: string;
  retryable?: boolean;
  agentId?: string;
  talkSeconds?: number;
  raw?: string;
}
interface ActivityView {
  id: string;
  status: string;
  conversationId: string;
  attempts: AttemptView[];
}

describe("the voice dialer", () => {
  let sw: EslSwitch;
  /** A second switch whose AMD is never wrong, for the instance with AMD on. */
  let swAmd: EslSwitch;
  let hub: TestHub;
  const zone = afternoonZone();
  let n = 0;

  beforeAll(async () => {
    // An answered customer waits 1,000 model seconds (5 s) for an agent, as a person would wait
    // several seconds: the dialer's own 2-second rule decides, not a scaled-down patience.
    sw = await startEslSwitch({
      password: PASSWORD,
      timeScale: TIME_SCALE,
      gateways: { carrier1: "UP" },
      parkedPatienceS: 1_000,
    });
    swAmd = await startEslSwitch({
      password: PASSWORD,
      timeScale: TIME_SCALE,
      parkedPatienceS: 1_000,
      scenario: withDefaults({
        agents: 1,
        durationMinutes: 1,
        outcomes: { human: 1, machine: 0, noAnswer: 0, busy: 0, invalid: 0 },
        timeToAnswerSeconds: { mean: 2, sd: 0 },
        talkSeconds: { mean: 30, sd: 0 },
        amd: { enabled: true, sensitivity: 1, specificity: 1, latencySeconds: 1 },
      }),
    });
    hub = await startTestHub({
      routing: { voice: { strategy: "failover", plugins: ["dialer", "dialer-amd"] } },
      plugins: [
        {
          id: "dialer-amd",
          use: "voice-freeswitch",
          options: {
            esl: { host: "127.0.0.1", port: swAmd.port, password: PASSWORD },
            gateway: "carrier1",
            callerId: "+14155550100",
            amd: true,
          },
        },
        {
          id: "dialer",
          use: "voice-freeswitch",
          options: {
            esl: { host: "127.0.0.1", port: sw.port, password: PASSWORD },
            gateway: "carrier1",
            callerId: "+14155550100",
            ringTimeoutS: 20,
          },
        },
      ],
      dialer: { pulseMs: 50, leaseMs: 3_000 },
      scheduler: { maxRetries: 3, retryBaseMs: 50 },
    });
  });
  afterAll(async () => {
    await hub?.stop();
    await sw?.close();
    await swAmd?.close();
  });

  async function agents(queue: string, count: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const id = `${queue}-agent-${i}`;
      const put = await hub.api("PUT", `/api/v1/agents/${id}`, { endpoint: `user/${1000 + i}`, queues: [queue] });
      assert.equal(put.status, 201, put.text);
      const state = await hub.api("POST", `/api/v1/agents/${id}/state`, { state: "AVAILABLE" });
      assert.equal(state.status, 200, state.text);
      ids.push(id);
    }
    return ids;
  }

  async function campaign(id: string, spec: Record<string, unknown>): Promise<void> {
    const put = await hub.api("PUT", `/api/v1/dialer/campaigns/${id}`, { voicePlugin: "dialer", ...spec });
    assert.equal(put.status, 201, put.text);
    const start = await hub.api("POST", `/api/v1/dialer/campaigns/${id}/start`);
    assert.equal(start.status, 200, start.text);
  }

  async function call(campaignId: string, count: number, pluginId?: string): Promise<string[]> {
    const res = await hub.api("POST", "/api/v1/activities", {
      activities: Array.from({ length: count }, () => {
        const i = ++n;
        return {
          customer: { id: `vc-${i}`, phone: `+1415555${String(1000 + i).padStart(4, "0")}`, timezone: zone },
          channel: "voice",
          campaignId,
          ...(pluginId ? { pluginId } : {}),
          content: {},
          idempotencyKey: `voice-${campaignId}-${i}`,
        };
      }),
    });
    assert.equal(res.status, 202, res.text);
    return (res.body as { activities: { id: string }[] }).activities.map((a) => a.id);
  }

  async function settled(ids: string[], done: (a: ActivityView) => boolean, what: string): Promise<ActivityView[]> {
    let last: ActivityView[] = [];
    try {
      return await eventually(
        async () => {
          last = await Promise.all(
            ids.map(async (id) => (await hub.api("GET", `/api/v1/activities/${id}`)).body as ActivityView),
          );
          return last.every(done) && last;
        },
        60_000,
        what,
      );
    } catch (err) {
      const seen = last.map(
        (a) => `${a.id}: ${a.status} ${a.attempts.map((t) => `${t.status}/${t.reasonCode ?? ""}`).join(",")}`,
      );
      throw new Error(`${(err as Error).message}\n${seen.join("\n")}`, { cause: err });
    }
  }

  test("progressive with 10 agents: every call bridged to a seized agent, never more calls than agents, results on the conversation", async () => {
    const team = await agents("sales", 10);
    // The line cap is above the team: what holds the calls to 10 is progressive pacing.
    await campaign("prog", { mode: "progressive", queue: "sales", wrapUpS: 0, maxConcurrentCalls: 30 });
    const peakBefore = sw.placedCount();
    const ids = await call("prog", 30);
    const done = await settled(ids, (a) => a.status === "CONNECTED", "30 calls CONNECTED");
    for (const a of done) {
      assert.equal(a.attempts.length, 1, JSON.stringify(a));
      const attempt = a.attempts[0]!;
      assert.ok(attempt.agentId && team.includes(attempt.agentId), JSON.stringify(attempt));
      assert.ok((attempt.talkSeconds ?? 0) > 0, JSON.stringify(attempt));
      assert.equal(attempt.raw, "NORMAL_CLEARING");
    }
    assert.equal(sw.placedCount() - peakBefore, 30);
    assert.ok(sw.peakActiveCount() <= 10, `${sw.peakActiveCount()} calls up at once with 10 agents`);
    // The conversation shows the call placed and its result.
    const conv = await hub.api("GET", `/api/v1/conversations/${done[0]!.conversationId}`);
    const timeline = (
      conv.body as { timeline: { type: string; status?: string; agentId?: string; talkSeconds?: number }[] }
    ).timeline;
    const types = timeline.map((e) => `${e.type}:${e.status ?? ""}`);
    assert.ok(types.includes("STATUS:SENT"), `call placed: ${types.join(", ")}`);
    const result = timeline.find((e) => e.type === "CALL_RESULT");
    assert.equal(result?.status, "CONNECTED", types.join(", "));
    assert.ok(result?.agentId && (result.talkSeconds ?? 0) > 0, JSON.stringify(result));
    // Every agent did calls, and each is free again.
    const used = new Set(done.map((a) => a.attempts[0]!.agentId));
    assert.ok(used.size > 1, `one agent took every call: ${[...used].join(",")}`);
    const status = await hub.api("GET", "/api/v1/dialer/campaigns/prog/status");
    assert.equal(status.status, 200, status.text);
    const body = status.body as { contacts: Record<string, number>; agentsSeized: number; activeCalls: number };
    assert.equal(body.contacts.ended, 30);
    assert.equal(body.activeCalls, 0);
    assert.equal(body.agentsSeized, 10);
    // Dialling commands went out as FreeSWITCH expects them.
    const originate = sw.commands.find((c) => c.includes("originate"))!;
    assert.match(
      originate,
      /^bgapi originate \{origination_uuid=[^,]+,origination_caller_id_number=\+14155550100,originate_timeout=20,ignore_early_media=true/,
    );
    assert.match(originate, /\}sofia\/gateway\/carrier1\/\+1415555\d{4} &park\(\)$/);
  });

  test("power and predictive campaigns pace through their policies; every call ends with a result and the abandonment is reported", async () => {
    for (const [id, spec] of [
      ["power", { mode: "power", ratio: 2 }],
      ["pred", { mode: "predictive" }],
    ] as const) {
      await agents(`${id}q`, 2);
      await campaign(id, { ...spec, queue: `${id}q`, wrapUpS: 0, maxConcurrentCalls: 6 });
      const ids = await call(id, 6);
      const done = await settled(
        ids,
        (a) => ["CONNECTED", "ABANDONED"].includes(a.attempts[0]?.status ?? ""),
        `${id}: every call ended`,
      );
      assert.ok(
        done.some((a) => a.attempts[0]!.status === "CONNECTED"),
        `${id}: ${done.map((a) => a.attempts[0]!.status).join(",")}`,
      );
      const status = (await hub.api("GET", `/api/v1/dialer/campaigns/${id}/status`)).body as {
        contacts: { ended: number };
        abandonment: { sinceStart: number; target: number };
      };
      assert.equal(status.contacts.ended, 6);
      const abandoned = done.filter((a) => a.attempts[0]!.status === "ABANDONED").length;
      // Every call was answered by a person: the rate is abandoned / 6, by the US definition.
      assert.equal(status.abandonment.sinceStart, abandoned / 6, JSON.stringify(status));
    }
  });

  test("agentless: answered calls go to the IVR extension", async () => {
    await campaign("ivr", { mode: "agentless", ivr: { extension: "loopback/9000" }, maxConcurrentCalls: 4 });
    const ids = await call("ivr", 4);
    const done = await settled(ids, (a) => a.status === "CONNECTED", "4 IVR calls CONNECTED");
    assert.equal(done.length, 4);
    const bridges = sw.commands.filter((c) => c.includes("bridge:loopback/9000"));
    assert.equal(bridges.length, 4, sw.commands.slice(-20).join("\n"));
  });

  test("AMD on: a machine is hung up before any agent hears it; a person is connected after the verdict", async () => {
    const [agent] = await agents("amdq", 1);
    const put = await hub.api("PUT", "/api/v1/dialer/campaigns/amd", {
      mode: "progressive",
      queue: "amdq",
      voicePlugin: "dialer-amd",
      wrapUpS: 0,
    });
    assert.equal(put.status, 201, put.text);
    assert.equal((await hub.api("POST", "/api/v1/dialer/campaigns/amd/start")).status, 200);
    swAmd.forceNext("machine");
    const [machine] = await call("amd", 1, "dialer-amd");
    const [m] = await settled([machine!], (a) => a.attempts[0]?.status === "ANSWERING_MACHINE", "the machine");
    assert.equal(m!.attempts[0]!.agentId, undefined, "no agent took the machine");
    assert.equal(swAmd.commands.filter((c) => c.includes("bridge:")).length, 0, "nothing bridged");
    const [person] = await call("amd", 1, "dialer-amd");
    const [p] = await settled([person!], (a) => a.status === "CONNECTED", "the person");
    assert.equal(p!.attempts[0]!.agentId, agent);
    const originate = swAmd.commands.find((c) => c.includes("originate"))!;
    assert.match(originate, /execute_on_answer=amd/);
    // Routed to another voice instance than the one the campaign dials through: refused, clearly.
    const [unpinned] = await call("amd", 1);
    const [refused] = await settled([unpinned!], (a) => a.status === "FAILED", "the mismatch refused");
    assert.equal(refused!.attempts[0]!.reasonCode, "PLUGIN_MISMATCH");
  });

  test("busy, then retried after the campaign's delay: the second attempt connects", async () => {
    await agents("retry", 1);
    await campaign("busy", {
      mode: "progressive",
      queue: "retry",
      wrapUpS: 0,
      maxAttempts: 2,
      retry: { BUSY: "PT0S" },
    });
    sw.forceNext("busy");
    const [id] = await call("busy", 1);
    const [a] = await settled([id!], (x) => x.status === "CONNECTED", "the retry connected");
    assert.deepEqual(
      a!.attempts.map((t) => t.status),
      ["BUSY", "CONNECTED"],
    );
  });

  test("failover rows: a gateway down keeps the contact pending (no attempt spent); an unknown gateway fails it", async () => {
    await agents("fo", 1);
    await campaign("fo", { mode: "progressive", queue: "fo", wrapUpS: 0 });
    sw.refuseNext("GATEWAY_DOWN");
    const [first] = await call("fo", 1);
    const [a] = await settled([first!], (x) => x.status === "CONNECTED", "connected once the gateway is back");
    assert.equal(a!.attempts.length, 1, "the refused dial was not an attempt");

    sw.refuseNext("INVALID_GATEWAY");
    const [second] = await call("fo", 1);
    // The voice attempt fails and is not dialled again; the chain's next step (the default
    // policy's email, which this customer has no address for) may already have run after it.
    const [b] = await settled([second!], (x) => x.attempts[0]?.status === "FAILED", "failed on the unknown gateway");
    assert.equal(b!.attempts[0]!.reasonCode, "INVALID_GATEWAY");
    assert.equal(b!.attempts.filter((t) => t.channel === "voice").length, 1, "not dialled again");
  });

  test("preview: the agent sees the contact first, skips (limited) or dials; an undecided offer dials itself after timeoutS", async () => {
    const [agent] = await agents("pv", 1);
    await campaign("pv", { mode: "preview", queue: "pv", wrapUpS: 0, preview: { timeoutS: 5, maxSkips: 1 } });
    const ids = await call("pv", 3);
    const offer = async (not?: string) =>
      eventually(
        async () => {
          const res = await hub.api("GET", `/api/v1/agents/${agent}/preview`);
          const body = res.body as { contactId: string; activityId: string; skipsLeft: number; autoDialAt: string };
          return res.status === 200 && body.contactId !== not && body;
        },
        20_000,
        "an offer",
      );
    const first = await offer();
    assert.equal(first.skipsLeft, 1);
    assert.equal((await hub.api("POST", `/api/v1/agents/${agent}/preview/skip`)).status, 202);
    const second = await offer(first.contactId);
    assert.equal(second.skipsLeft, 0);
    const refused = await hub.api("POST", `/api/v1/agents/${agent}/preview/skip`);
    assert.equal(refused.status, 409, refused.text);
    assert.equal((await hub.api("POST", `/api/v1/agents/${agent}/preview/dial`)).status, 202);
    const [dialled] = await settled([second.activityId], (a) => a.status === "CONNECTED", "the previewed call");
    assert.equal(dialled!.attempts[0]!.agentId, agent);
    // The next offer is left alone: it is dialled by itself after 5 s.
    const third = await offer(second.contactId);
    const offeredAt = Date.now();
    await settled([third.activityId], (a) => a.status === "CONNECTED", "the auto-dialled call");
    assert.ok(Date.now() - offeredAt >= 4_000, "dialled before its timeout");
    // Everything, the skipped contact too, is called in the end.
    await settled(ids, (a) => a.status === "CONNECTED", "all three");
    assert.equal((await hub.api("GET", "/api/v1/agents/nobody/preview")).status, 404);
  });

  test("call blending: inbound work waiting takes seized agents back; they are seized again when it is served", async () => {
    await agents("blend", 3);
    await campaign("blend", { mode: "progressive", queue: "blend" });
    const seized = async () =>
      ((await hub.api("GET", "/api/v1/dialer/campaigns/blend/status")).body as { agentsSeized: number }).agentsSeized;
    await eventually(async () => (await seized()) === 3, 20_000, "3 agents seized");
    const report = await hub.api("POST", "/api/v1/queues/blend/inbound", { waiting: 2, seizeThreshold: 1 });
    assert.equal(report.status, 200, report.text);
    await eventually(async () => (await seized()) === 1, 20_000, "2 agents given back to inbound");
    const free = ((await hub.api("GET", "/api/v1/agents")).body as { agents: { id: string; state: string }[] }).agents
      .filter((a) => a.id.startsWith("blend-"))
      .map((a) => a.state)
      .sort();
    assert.deepEqual(Array.from(free), ["AVAILABLE", "AVAILABLE", "SEIZED"]);
    await hub.api("POST", "/api/v1/queues/blend/inbound", { waiting: 0 });
    await eventually(async () => (await seized()) === 3, 20_000, "all 3 seized again");
    assert.equal((await hub.api("POST", "/api/v1/queues/blend/inbound", { waiting: -1 })).status, 400);
  });

  /** Voice activities for these numbers, in order (each its own customer). */
  async function callNumbers(campaignId: string, phones: string[]): Promise<string[]> {
    const res = await hub.api("POST", "/api/v1/activities", {
      activities: phones.map((phone) => ({
        customer: { id: `dnc-${phone}`, phone, timezone: zone },
        channel: "voice",
        campaignId,
        content: {},
        idempotencyKey: `voice-${campaignId}-${phone}`,
      })),
    });
    assert.equal(res.status, 202, res.text);
    return (res.body as { activities: { id: string }[] }).activities.map((a) => a.id);
  }

  async function dncList(id: string, entries: string[]): Promise<void> {
    const put = await hub.api("PUT", `/api/v1/dnc-lists/${id}`, { name: id });
    assert.equal(put.status, 201, put.text);
    if (entries.length === 0) return;
    const load = await hub.api("POST", `/api/v1/dnc-lists/${id}/entries`, { entries });
    assert.equal(load.status, 200, load.text);
  }

  const voiceAttempt = (a: ActivityView) => a.attempts.find((t) => t.channel === "voice");
  const blocked = (a: ActivityView) => voiceAttempt(a)?.status === "BLOCKED";

  test("DNC lists on a campaign: a listed number (exactly or under a prefix) is never dialled and ends BLOCKED DNC:<list>; others are dialled", async () => {
    await dncList("dial-other", ["+14155559999"]);
    await dncList("dial-internal", ["+14155559901", "+1415777*"]);
    await agents("dncq", 1);
    await campaign("dnc", {
      mode: "progressive",
      queue: "dncq",
      wrapUpS: 0,
      dncLists: ["dial-other", "dial-internal"],
    });
    const view = (await hub.api("GET", "/api/v1/dialer/campaigns/dnc")).body as {
      dncLists: string[];
      warnings: string[];
    };
    assert.deepEqual(view.dncLists, ["dial-other", "dial-internal"]);
    assert.deepEqual(view.warnings, []);

    const [exact, prefixed, free] = ["+14155559901", "+14157770001", "+14155559902"];
    const ids = await callNumbers("dnc", [exact!, prefixed!, free!]);
    const [a, b, c] = await settled(
      ids,
      (x) => blocked(x) || x.status === "CONNECTED",
      "the listed numbers blocked, the other connected",
    );
    for (const listed of [a!, b!]) {
      const attempt = voiceAttempt(listed)!;
      assert.equal(attempt.status, "BLOCKED", JSON.stringify(listed));
      assert.equal(attempt.reasonCode, "DNC");
      assert.equal(attempt.reason, "DNC:dial-internal");
    }
    assert.equal(c!.status, "CONNECTED", JSON.stringify(c));
    assert.equal(sw.originateCount(exact), 0, "the listed number was never dialled");
    assert.equal(sw.originateCount(prefixed), 0, "the number under the prefix was never dialled");
    assert.equal(sw.originateCount(free), 1);
    const status = (await hub.api("GET", "/api/v1/dialer/campaigns/dnc/status")).body as {
      contacts: { failed: number; ended: number };
    };
    assert.deepEqual({ failed: status.contacts.failed, ended: status.contacts.ended }, { failed: 2, ended: 1 });
    const metrics = (await hub.api("GET", "/metrics")).text;
    assert.match(metrics, /ob_call_results_total\{campaign="dnc",status="BLOCKED",reasonCode="DNC"\} 2/);
  });

  test("DNC lists on a campaign: an unknown list is a 400 at its index and nothing is stored; a stale list is a warning on the campaign and blocks US numbers", async () => {
    const bad = { mode: "progressive", queue: "dncq", voicePlugin: "dialer", dncLists: ["dial-internal", "nope"] };
    for (const id of ["dnc-new", "dnc"]) {
      const res = await hub.api("PUT", `/api/v1/dialer/campaigns/${id}`, bad);
      assert.equal(res.status, 400, res.text);
      const details = (res.body as { details: { path: string; message: string }[] }).details;
      assert.deepEqual(
        details.map((d) => d.path),
        ["/dncLists/1"],
      );
      assert.match(details[0]!.message, /"nope" is not a DNC list/);
    }
    assert.equal((await hub.api("GET", "/api/v1/dialer/campaigns/dnc-new")).status, 404, "not created");
    const kept = (await hub.api("GET", "/api/v1/dialer/campaigns/dnc")).body as { dncLists: string[] };
    assert.deepEqual(kept.dncLists, ["dial-other", "dial-internal"], "not replaced");

    // Never loaded, so stale: the US requires a list refreshed within 31 days, so the call is blocked.
    await dncList("dial-never", []);
    await agents("dncs", 1);
    await campaign("dnc-stale", { mode: "progressive", queue: "dncs", wrapUpS: 0, dncLists: ["dial-never"] });
    for (const url of ["/api/v1/dialer/campaigns/dnc-stale", "/api/v1/dialer/campaigns/dnc-stale/status"]) {
      const { warnings } = (await hub.api("GET", url)).body as { warnings: string[] };
      assert.equal(warnings.length, 1, url);
      assert.match(warnings[0]!, /^DNC list dial-never has never been loaded/, url);
    }
    const listed = (await hub.api("GET", "/api/v1/dialer/campaigns")).body as {
      campaigns: { id: string; warnings: string[] }[];
    };
    assert.equal(listed.campaigns.find((x) => x.id === "dnc-stale")!.warnings.length, 1);
    const phone = "+14155559903";
    const [id] = await callNumbers("dnc-stale", [phone]);
    const [a] = await settled([id!], blocked, "blocked by the stale list");
    assert.match(voiceAttempt(a!)?.reason ?? "", /^DNC:dial-never is stale: /, JSON.stringify(a));
    assert.equal(sw.originateCount(phone), 0);
  });

  test("DNC lists on a preview campaign: the agent is never offered a listed number", async () => {
    const [agent] = await agents("dncpv", 1);
    await campaign("dncpv", {
      mode: "preview",
      queue: "dncpv",
      wrapUpS: 0,
      preview: { timeoutS: 60, maxSkips: 0 },
      dncLists: ["dial-internal"],
    });
    const [listedId, freeId] = await callNumbers("dncpv", ["+14157770002", "+14155559904"]);
    const offer = await eventually(
      async () => {
        const res = await hub.api("GET", `/api/v1/agents/${agent}/preview`);
        return res.status === 200 && (res.body as { activityId: string; phone: string });
      },
      20_000,
      "an offer",
    );
    assert.equal(offer.activityId, freeId, `offered ${offer.phone}`);
    assert.equal((await hub.api("POST", `/api/v1/agents/${agent}/preview/dial`)).status, 202);
    await settled([freeId!], (a) => a.status === "CONNECTED", "the previewed call");
    const [listed] = await settled([listedId!], blocked, "the listed number blocked");
    assert.equal(voiceAttempt(listed!)!.reasonCode, "DNC");
    assert.equal(sw.originateCount("+14157770002"), 0);
  });

  test("campaign and agent API: clear 400s, 404 for an unknown campaign, stop and purge", async () => {
    const bad = await hub.api("PUT", "/api/v1/dialer/campaigns/bad", { mode: "power", voicePlugin: "nope", ratio: 9 });
    assert.equal(bad.status, 400, bad.text);
    const paths = (bad.body as { details: { path: string }[] }).details.map((d) => d.path).sort();
    assert.deepEqual(Array.from(paths), ["/queue", "/ratio"]);
    const noPlugin = await hub.api("PUT", "/api/v1/dialer/campaigns/bad", {
      mode: "progressive",
      queue: "q",
      voicePlugin: "nope",
    });
    assert.equal(noPlugin.status, 400);
    assert.match(noPlugin.text, /voicePlugin/);
    assert.equal((await hub.api("GET", "/api/v1/dialer/campaigns/missing/status")).status, 404);
    assert.equal((await hub.api("POST", "/api/v1/dialer/campaigns/missing/start")).status, 404);
    const state = await hub.api("POST", "/api/v1/agents/sales-agent-0/state", { state: "SLEEPING" });
    assert.equal(state.status, 400);

    // A stopped campaign holds its contacts; purge removes them and cancels their attempts.
    const put = await hub.api("PUT", "/api/v1/dialer/campaigns/held", {
      mode: "progressive",
      queue: "nobody",
      voicePlugin: "dialer",
    });
    assert.equal(put.status, 201, put.text);
    const ids = await call("held", 3);
    await eventually(
      async () =>
        ((await hub.api("GET", "/api/v1/dialer/campaigns/held/status")).body as { contacts: { stopped: number } })
          .contacts.stopped === 3,
      20_000,
      "3 contacts held",
    );
    const purge = await hub.api("POST", "/api/v1/dialer/campaigns/held/purge");
    assert.deepEqual(purge.body, { id: "held", purged: 3 });
    await settled(ids, (a) => a.status === "CANCELLED", "purged contacts cancelled");
  });
});
