/**
 * Seed 000's failover row "database down while dispatching": the database goes away while the
 * dialer has calls up. A control call answers 503 and changes nothing; the calls that end during
 * the outage keep their results until the database is back; then every contact ends with its
 * result on its activity, and no number is dialled twice.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, test } from "@jest/globals";
import { startFerretDb, type RunningService } from "../../core/infra/processes.ts";
import { withDefaults } from "../../core/simulator/scenario.ts";
import { startEslSwitch, type EslSwitch } from "../support/esl-switch/switch.ts";
import { eventually, startTestHub, TEST_KEYS, type TestHub } from "../support/hub.ts";
import { afternoonZone } from "../support/zones.ts";

const PASSWORD = "outage-switch";
const CALLS = 24;

describe("a database outage under a dialling hub", () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), "dialmesh-dialer-outage-db-"));
  let db: RunningService;
  let sw: EslSwitch;
  let hub: TestHub;

  beforeAll(async () => {
    db = await startFerretDb({ dataDir });
    // Every call answered by a person after 1 s, talking 8 s: calls are up when the database goes.
    sw = await startEslSwitch({
      password: PASSWORD,
      scenario: withDefaults({
        agents: 1,
        durationMinutes: 1,
        outcomes: { human: 1, machine: 0, noAnswer: 0, busy: 0, invalid: 0 },
        timeToAnswerSeconds: { mean: 1, sd: 0 },
        talkSeconds: { mean: 8, sd: 0 },
      }),
    });
    hub = await startTestHub(
      {
        plugins: [
          {
            id: "switch",
            use: "voice-freeswitch",
            options: {
              esl: { host: "127.0.0.1", port: sw.port, password: PASSWORD },
              gateway: "carrier1",
              callerId: "+14155550100",
            },
          },
        ],
        dialer: { pulseMs: 100, leaseMs: 3_000 },
      },
      { mongoUrl: `${db.url}/dialer_outage` },
    );
  });
  afterAll(async () => {
    await hub?.stop();
    await sw?.close();
    await db?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function metricsText(): Promise<string> {
    const res = await fetch(`${hub.apiUrl}/metrics`, { headers: { Authorization: `Bearer ${TEST_KEYS.admin}` } });
    assert.equal(res.status, 200);
    return res.text();
  }

  test("503 on control calls while it is away; results of the calls that ended meanwhile are kept; none dialled twice", async () => {
    const put = await hub.api("PUT", "/api/v1/dialer/campaigns/outage", {
      mode: "agentless",
      ivr: { extension: "loopback/ivr" },
      voicePlugin: "switch",
      callsPerSecond: 4,
    });
    assert.equal(put.status, 201, put.text);
    assert.equal((await hub.api("POST", "/api/v1/dialer/campaigns/outage/start")).status, 200);
    const zone = afternoonZone();
    const posted = await hub.api("POST", "/api/v1/activities", {
      activities: Array.from({ length: CALLS }, (_, i) => ({
        customer: { id: `out-${i}`, phone: `+1415555${String(3000 + i)}`, timezone: zone },
        channel: "voice",
        campaignId: "outage",
        content: {},
      })),
    });
    assert.equal(posted.status, 202, posted.text);
    const ids = (posted.body as { activities: { id: string }[] }).activities.map((a) => a.id);

    await eventually(async () => sw.activeCount() >= 4, 20_000, "calls up");
    await db.stop(); // SIGTERM, SIGKILL after 5 s
    const answers: number[] = [];
    const refused = await eventually(
      async () => {
        const res = await fetch(`${hub.apiUrl}/api/v1/dialer/campaigns/outage/stop`, {
          method: "POST",
          headers: { Authorization: `Bearer ${TEST_KEYS.admin}` },
        });
        answers.push(res.status);
        return res.status === 503 ? res : undefined;
      },
      20_000,
      "a 503 on the control call",
    );
    assert.equal(refused.headers.get("retry-after"), "2");
    assert.deepEqual([...new Set(answers)], [503], "503 from the first control call on, never a 500");
    // The calls up now end while the database is away.
    const upDuringOutage = sw.activeCount();
    assert.ok(upDuringOutage >= 2, `calls up during the outage: ${upDuringOutage}`);
    await eventually(async () => sw.activeCount() === 0, 20_000, "the calls up during the outage ended");
    // The database would not take their ends and results (past the driver's server selection):
    // the node holds them, and its metrics (served without the database) say so.
    const held = await eventually(
      async () => {
        const metrics = await metricsText();
        const steps = Number(/^dialmesh_dialer_unrecorded_steps (\d+)/m.exec(metrics)?.[1] ?? 0);
        return steps >= upDuringOutage && /^dialmesh_store_reachable 0/m.test(metrics) && steps;
      },
      20_000,
      "the results held by the node",
    );

    db = await startFerretDb({ dataDir, port: db.port });
    const status = await eventually(
      async () => {
        const res = await hub.api("GET", "/api/v1/dialer/campaigns/outage/status");
        return res.status === 200 && (res.body as { state: string; contacts: Record<string, number> });
      },
      30_000,
      "the API back",
    );
    assert.equal(status.state, "running", "the refused stop changed nothing");

    await eventually(
      async () => {
        const all = await Promise.all(
          ids.map(async (id) => ((await hub.api("GET", `/api/v1/activities/${id}`)).body as { status: string }).status),
        );
        return all.every((s) => s === "CONNECTED");
      },
      60_000,
      "every activity CONNECTED",
    );
    assert.deepEqual(sw.numbersDialledTwice(), [], "no number dialled twice");
    assert.ok(held >= upDuringOutage);
    assert.match(await metricsText(), /^dialmesh_dialer_unrecorded_steps 0/m, "all written");
    assert.equal(sw.originateCount(), CALLS);
    const final = (await hub.api("GET", "/api/v1/dialer/campaigns/outage/status")).body as {
      contacts: Record<string, number>;
    };
    assert.equal(final.contacts.ended, CALLS, JSON.stringify(final.contacts));
  });
});
