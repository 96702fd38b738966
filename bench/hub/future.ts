/**
 * The cost of the future: what a hub and its database spend while a large backlog is scheduled
 * ahead and nothing is due, and how soon an activity posted meanwhile, due now, is sent.
 *
 *   npm run bench:hub:future [-- --scheduled 100000 --probes 10 --idle-ms 10000]
 *
 * FerretDB (fresh temp data dir), the SMTP server and one hub node each in their own process, as
 * in bench/hub/run.ts. Scheduled: N activities due in `--ahead-ms` (default one hour). Idle CPU:
 * the hub's and FerretDB's CPU time (from /proc) over `--idle-ms`, as % of one core. Probes:
 * one activity due now posted every second; time from its POST to its SMTP receipt.
 */
import { fork, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startFerretDb } from "../../core/infra/processes.ts";
import { startSmtpServer } from "../../test/vendors/smtp-server.ts";
import { CONTENT, customerFor, nextMessage, percentile, pool, sleep } from "./common.ts";
import type { HubNodeSettings } from "./hub-node.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));

const { values: flags } = parseArgs({
  options: {
    scheduled: { type: "string", default: "100000" },
    "ahead-ms": { type: "string", default: "3600000" },
    "idle-ms": { type: "string", default: "10000" },
    probes: { type: "string", default: "10" },
    batch: { type: "string", default: "1000" },
  },
});
const N = Number(flags.scheduled);
const AHEAD_MS = Number(flags["ahead-ms"]);
const IDLE_MS = Number(flags["idle-ms"]);
const PROBES = Number(flags.probes);
const BATCH = Number(flags.batch);

/** utime + stime of a process, in ms (Linux clock ticks are 1/100 s). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "dialmesh-bench-future-"));
  const db = await startFerretDb({ dataDir });
  const smtp = await startSmtpServer({ closeTimeoutMs: 100 });
  const apiKey = `bench-${randomBytes(12).toString("hex")}`;
  const settings: HubNodeSettings = {
    mongoUrl: db.url,
    database: "bench_future",
    smtpPort: smtp.port,
    apiKey,
    scheduler: {},
    smtpMaxConnections: 5,
  };
  const hub: ChildProcess = fork(path.join(HERE, "hub-node.ts"), [], {
    env: { ...process.env, BENCH_HUB: JSON.stringify(settings) },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  try {
    const ready = await nextMessage(hub, "ready");
    const apiUrl = (ready as { apiUrl: string }).apiUrl;
    const post = async (activities: unknown[]) => {
      const res = await fetch(`${apiUrl}/api/v1/activities`, {
        method: "POST",
        headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
        body: JSON.stringify({ activities }),
      });
      if (res.status !== 202) throw new Error(`POST: ${res.status} ${(await res.text()).slice(0, 300)}`);
      await res.arrayBuffer();
    };

    const dueAt = new Date(Date.now() + AHEAD_MS).toISOString();
    const t0 = Date.now();
    const batches = Array.from({ length: Math.ceil(N / BATCH) }, (_, b) => b);
    await pool(batches, 2, async (b) => {
      const size = Math.min(BATCH, N - b * BATCH);
      await post(
        Array.from({ length: size }, (_, i) => ({
          customer: customerFor("future", b * BATCH + i),
          channel: "email",
          content: CONTENT,
          dueAt,
        })),
      );
    });
    process.stdout.write(
      `scheduled ${N} activities due in ${AHEAD_MS / 1000} s (intake ${((Date.now() - t0) / 1000).toFixed(1)} s)\n`,
    );
    await sleep(2_000); // intake's own work (conversations, the due index's group commits) settles

    const hubPid = hub.pid!;
    const dbPid = db.process.pid!;
    const [h0, d0, w0] = [cpuMs(hubPid), cpuMs(dbPid), Date.now()];
    await sleep(IDLE_MS);
    const wall = Date.now() - w0;
    const hubIdle = (100 * (cpuMs(hubPid) - h0)) / wall;
    const dbIdle = (100 * (cpuMs(dbPid) - d0)) / wall;

    const delays: number[] = [];
    for (let p = 0; p < PROBES; p++) {
      const before = smtp.messages.length;
      const sentAt = Date.now();
      await post([{ customer: customerFor("probe", p), channel: "email", content: CONTENT }]);
      await smtp.waitForMessages(before + 1, 30_000);
      delays.push(smtp.messages[before]!.receivedAt - sentAt);
      await sleep(1_000);
    }
    delays.sort((a, b) => a - b);
    const rows: [string, string][] = [
      ["activities scheduled ahead", String(N)],
      ["idle CPU, hub (% of a core)", hubIdle.toFixed(1)],
      ["idle CPU, FerretDB (% of a core)", dbIdle.toFixed(1)],
      ["new activity due now -> SMTP, p50 (ms)", String(percentile(delays, 50))],
      ["new activity due now -> SMTP, max (ms)", String(delays.at(-1))],
    ];
    for (const [k, v] of rows) process.stdout.write(`${k.padEnd(42)} ${v}\n`);
  } finally {
    hub.send({ type: "stop" });
    await new Promise((r) => hub.once("exit", r));
    await smtp.stop();
    await db.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
