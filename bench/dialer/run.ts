/**
 * Dialer benchmark: `npm run bench:dialer [-- --cps 60 --seconds 60 --talk 25]`.
 *
 * An agentless campaign (every answer bridged to the IVR at once) against the local switch
 * (test/support/esl-switch), each in its own process, on a fresh FerretDB: voice activities
 * enough for `--cps` calls a second for `--seconds`, with calls that talk `--talk` seconds, so
 * that about cps x (talk + 2) calls are up at once. Reports the dial rate the switch saw over
 * the steady part, the most calls up at once, answer-to-bridge latency (switch side: from the
 * CHANNEL_ANSWER it sent to the bridge command it got) and the CPU of hub and switch.
 * Writes bench/results/dialer-<time>.json.
 */
import { fork } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startFerretDb } from "../../core/infra/processes.ts";
import { startNodeProcess } from "../../test/support/node-process.ts";
import { afternoonZone } from "../../test/support/zones.ts";
import type { SwitchStats } from "./switch-node.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const { values } = parseArgs({
  options: {
    cps: { type: "string", default: "60" },
    seconds: { type: "string", default: "60" },
    talk: { type: "string", default: "25" },
  },
});
const CPS = Number(values.cps);
const SECONDS = Number(values.seconds);
const TALK = Number(values.talk);
const PASSWORD = "bench-switch";

const log = (line: string) => process.stdout.write(`[bench:dialer] ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** CPU milliseconds a process has used (Linux /proc). */
function cpuMsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / 100;
}

async function main(): Promise<void> {
  const dbDir = mkdtempSync(path.join(tmpdir(), "dialmesh-bench-dialer-db-"));
  const db = await startFerretDb({ dataDir: dbDir });
  const sw = fork(path.join(HERE, "switch-node.ts"), {
    env: { ...process.env, BENCH_SWITCH: JSON.stringify({ password: PASSWORD, talkSeconds: TALK }) },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const port = await new Promise<number>((resolve) =>
    sw.on("message", (m: { type: string; port?: number }) => m.type === "ready" && resolve(m.port!)),
  );
  const stats = () =>
    new Promise<SwitchStats>((resolve) => {
      const onMessage = (m: { type: string; stats?: SwitchStats }) => {
        if (m.type !== "stats") return;
        sw.off("message", onMessage);
        resolve(m.stats!);
      };
      sw.on("message", onMessage);
      sw.send({ type: "stats" });
    });
  const hub = await startNodeProcess({
    nodeId: "bench-dialer",
    mongoUrl: `${db.url}/bench_dialer`,
    smtpPort: 1,
    config: {
      dialer: { pulseMs: 100, leaseMs: 10_000 },
      scheduler: { pollIntervalMs: 100, batchSize: 500, concurrency: 64, leaseMs: 30_000 },
      plugins: [
        {
          id: "switch",
          use: "voice-freeswitch",
          options: {
            esl: { host: "127.0.0.1", port, password: PASSWORD },
            gateway: "carrier1",
            callerId: "+14155550100",
          },
        },
      ],
      routing: {},
    },
  });
  try {
    const total = CPS * SECONDS;
    const put = await hub.api("PUT", "/api/v1/dialer/campaigns/bench", {
      mode: "agentless",
      ivr: { extension: "loopback/ivr" },
      voicePlugin: "switch",
      maxConcurrentCalls: 10_000,
      callsPerSecond: CPS,
    });
    if (put.status !== 201) throw new Error(put.text);
    await hub.api("POST", "/api/v1/dialer/campaigns/bench/start");
    // A zone where calling hours are open now: the calls are real dial decisions.
    const zone = afternoonZone();
    // Counted from before the first activity is posted: dialling starts while the rest is posted.
    const hubCpu0 = cpuMsOf(hub.pid);
    const dbCpu0 = cpuMsOf(db.process.pid!);
    const sw0 = await stats();
    const t0 = Date.now();
    log(`posting ${total} voice activities (${CPS}/s for ${SECONDS} s, talk ${TALK} s)`);
    for (let i = 0; i < total; i += 1000) {
      const res = await hub.api("POST", "/api/v1/activities", {
        activities: Array.from({ length: Math.min(1000, total - i) }, (_, k) => ({
          customer: { id: `b-${i + k}`, phone: `+1415${String(2000000 + i + k)}`, timezone: zone },
          channel: "voice",
          campaignId: "bench",
          content: {},
          idempotencyKey: `bd-${i + k}`,
        })),
      });
      if (res.status !== 202) throw new Error(res.text.slice(0, 500));
    }
    const samples: { t: number; originates: number; active: number }[] = [];
    for (;;) {
      await sleep(1000);
      const s = await stats();
      samples.push({ t: (Date.now() - t0) / 1000, originates: s.originates - sw0.originates, active: s.active });
      if (s.originates - sw0.originates >= total || Date.now() - t0 > (SECONDS * 3 + 60) * 1000) break;
    }
    const elapsed = (Date.now() - t0) / 1000;
    const end = await stats();
    const hubCpuMs = cpuMsOf(hub.pid) - hubCpu0;
    const dbCpuMs = cpuMsOf(db.process.pid!) - dbCpu0;
    const switchCpuMs = end.cpuMs - sw0.cpuMs;
    // The steady part: after the first 10 s, up to the first sample with every call placed.
    const done = samples.findIndex((s) => s.originates >= total);
    const steady = samples.slice(0, done === -1 ? samples.length : done + 1).filter((s) => s.t >= 10);
    const rate =
      steady.length >= 2
        ? (steady.at(-1)!.originates - steady[0]!.originates) / (steady.at(-1)!.t - steady[0]!.t)
        : NaN;
    const lat = [...end.answerToBridgeMs].sort((a, b) => a - b);
    const result = {
      date: new Date().toISOString(),
      cpus: cpus().length,
      cps: CPS,
      seconds: SECONDS,
      talkSeconds: TALK,
      dialled: end.originates - sw0.originates,
      elapsedS: elapsed,
      steadyDialsPerSecond: rate,
      peakCallsUp: end.peakActive,
      numbersDialledTwice: end.numbersDialledTwice.length,
      samples,
      answerToBridgeMs: { p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), max: lat.at(-1) ?? NaN, n: lat.length },
      cpu: {
        hubCoreShare: hubCpuMs / 1000 / elapsed,
        switchCoreShare: switchCpuMs / 1000 / elapsed,
        databaseCoreShare: dbCpuMs / 1000 / elapsed,
      },
    };
    // Why a number was dialled twice: its activity's attempts (a retry after an outcome is one).
    for (const number of end.numbersDialledTwice.slice(0, 5)) {
      const customerId = `b-${Number(number.slice(5)) - 2000000}`;
      const res = await hub.api("GET", `/api/v1/activities?customerId=${customerId}`);
      const list = (
        res.body as { activities?: { attempts: { status: string; reasonCode?: string; raw?: string }[] }[] }
      ).activities;
      log(`${number} dialled twice: ${JSON.stringify(list?.map((a) => a.attempts))}`);
    }
    const dir = path.join(ROOT, "bench/results");
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      path.join(dir, `dialer-${result.date.replace(/[:.]/g, "-")}.json`),
      `${JSON.stringify(result, null, 2)}\n`,
    );
    log(
      `dialled ${result.dialled} in ${elapsed.toFixed(1)} s; steady ${rate.toFixed(1)} dials/s (target ${CPS}); ` +
        `peak ${result.peakCallsUp} calls up; numbers dialled twice ${result.numbersDialledTwice}; answer->bridge p50 ${result.answerToBridgeMs.p50} ms, p99 ${result.answerToBridgeMs.p99} ms ` +
        `(n=${lat.length}); CPU hub ${(result.cpu.hubCoreShare * 100).toFixed(0)}% of a core, switch ${(result.cpu.switchCoreShare * 100).toFixed(0)}%, FerretDB ${(result.cpu.databaseCoreShare * 100).toFixed(0)}%`,
    );
  } finally {
    await hub.stop();
    sw.send({ type: "stop" });
    await db.stop();
    rmSync(dbDir, { recursive: true, force: true });
  }
}

await main();
