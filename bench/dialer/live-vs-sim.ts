/**
 * Live against simulated: `npm run bench:dialer:compare [-- --agents 10 --minutes 20 --scale 0.1]`.
 *
 * One scenario (the simulator's format), run twice:
 * - simulated: `runScenario` with the progressive and predictive policies (the simulator, 5 seeds);
 * - live: the hub's dialer pacing a campaign of that policy against the local switch, whose calls
 *   follow the same scenario (test/support/esl-switch), with the same number of agents, time
 *   compressed by `--scale` (0.1: a model second is 100 ms; the dialer's pulse is one model second).
 * Prints talk minutes per agent-hour and abandonment for both, and their ratio. Agents' wrap-up is
 * zero in both (the hub's wrap-up is in wall seconds, which would not scale).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { startFerretDb } from "../../core/infra/processes.ts";
import { runScenario } from "../../core/simulator/index.ts";
import { withDefaults } from "../../core/simulator/scenario.ts";
import { startEslSwitch } from "../../test/support/esl-switch/switch.ts";
import { startNodeProcess, type HubNodeProcess } from "../../test/support/node-process.ts";
import { afternoonZone } from "../../test/support/zones.ts";

const { values } = parseArgs({
  options: {
    agents: { type: "string", default: "10" },
    minutes: { type: "string", default: "20" },
    scale: { type: "string", default: "0.1" },
  },
});
const AGENTS = Number(values.agents);
const MINUTES = Number(values.minutes);
const SCALE = Number(values.scale);
const PASSWORD = "compare";
const log = (line: string) => process.stdout.write(`[bench:dialer:compare] ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const scenario = withDefaults({
  agents: AGENTS,
  durationMinutes: MINUTES,
  seed: 11,
  outcomes: { human: 0.55, machine: 0, noAnswer: 0.3, busy: 0.1, invalid: 0.05 },
  timeToAnswerSeconds: { mean: 8, sd: 4 },
  ringTimeoutSeconds: 20,
  talkSeconds: { mean: 90, sd: 45 },
  wrapSeconds: { mean: 0.05, sd: 0.01 },
  amd: { enabled: false, sensitivity: 0.9, specificity: 0.95, latencySeconds: 2 },
});

async function live(policy: "progressive" | "predictive"): Promise<{ talk: number; abandon: number; dials: number }> {
  const dbDir = mkdtempSync(path.join(tmpdir(), "dialmesh-compare-db-"));
  const db = await startFerretDb({ dataDir: dbDir });
  const sw = await startEslSwitch({ password: PASSWORD, scenario, timeScale: SCALE, parkedPatienceS: 30 });
  let hub: HubNodeProcess | undefined;
  try {
    hub = await startNodeProcess({
      nodeId: `compare-${policy}`,
      mongoUrl: `${db.url}/compare`,
      smtpPort: 1,
      config: {
        dialer: { pulseMs: Math.round(1000 * SCALE), leaseMs: 10_000 },
        scheduler: { pollIntervalMs: 100 },
        plugins: [
          {
            id: "switch",
            use: "voice-freeswitch",
            options: {
              esl: { host: "127.0.0.1", port: sw.port, password: PASSWORD },
              gateway: "carrier1",
              callerId: "+14155550100",
              ringTimeoutS: 20,
            },
          },
        ],
      },
    });
    for (let i = 0; i < AGENTS; i++) {
      await hub.api("PUT", `/api/v1/agents/a${i}`, { endpoint: `user/${1000 + i}`, queues: ["q"] });
      await hub.api("POST", `/api/v1/agents/a${i}/state`, { state: "AVAILABLE" });
    }
    await hub.api("PUT", "/api/v1/dialer/campaigns/cmp", {
      mode: policy,
      queue: "q",
      voicePlugin: "switch",
      wrapUpS: 0,
      maxConcurrentCalls: AGENTS * 4,
      callsPerSecond: 50,
    });
    const zone = afternoonZone();
    const contacts = Math.ceil(AGENTS * MINUTES * 2.5);
    await hub.api("POST", "/api/v1/activities", {
      activities: Array.from({ length: contacts }, (_, i) => ({
        customer: { id: `c${i}`, phone: `+1415${String(3000000 + i)}`, timezone: zone },
        channel: "voice",
        campaignId: "cmp",
        content: {},
        idempotencyKey: `cmp-${i}`,
      })),
    });
    // Wait until the contacts are with the dialer, then run the shift.
    for (;;) {
      const s = (await hub.api("POST", "/api/v1/dialer/campaigns/cmp/start")).body as { contactsResumed: number };
      const status = (await hub.api("GET", "/api/v1/dialer/campaigns/cmp/status")).body as {
        contacts: { pending: number };
      };
      if (status.contacts.pending + s.contactsResumed >= contacts * 0.9) break;
      await sleep(500);
    }
    const from = Date.now();
    const dials0 = sw.originateCount();
    await sleep(MINUTES * 60 * 1000 * SCALE);
    const to = Date.now();
    const dials = sw.originateCount() - dials0;
    await hub.api("POST", "/api/v1/dialer/campaigns/cmp/stop");
    const status = (await hub.api("GET", "/api/v1/dialer/campaigns/cmp/status")).body as {
      abandonment: { sinceStart: number };
    };
    const talkMinutes = sw.bridgedSecondsBetween(from, to) / 60;
    return { talk: talkMinutes / ((AGENTS * MINUTES) / 60), abandon: status.abandonment.sinceStart, dials };
  } finally {
    await hub?.stop();
    await sw.close();
    await db.stop();
    rmSync(dbDir, { recursive: true, force: true });
  }
}

const sim = runScenario(scenario, { policies: ["progressive", "predictive"], seeds: 5 });
log(`scenario: ${AGENTS} agents, ${MINUTES} model minutes, time x${1 / SCALE}; simulator 5 seeds`);
for (const policy of ["progressive", "predictive"] as const) {
  const s = sim.policies.find((p) => p.policy === policy)!;
  const l = await live(policy);
  log(
    `${policy}: talk min/agent-hour live ${l.talk.toFixed(1)} vs simulated ${s.talkMinutesPerAgentHour.toFixed(1)} ` +
      `(ratio ${(l.talk / s.talkMinutesPerAgentHour).toFixed(2)}); abandonment live ${(l.abandon * 100).toFixed(1)}% ` +
      `vs simulated ${(s.abandonRate.us30d * 100).toFixed(1)}%; live dials ${l.dials}`,
  );
}
