/**
 * Hub-core benchmark: Dialmesh against two job queues doing the same email job: BullMQ (queue in
 * redis-server, AOF fsync every second) and Agenda 6 (queue in the same FerretDB). All three
 * record their results in FerretDB.
 *
 *   npm run bench:hub [-- --runs 3 --n 5000 --lateness-n 10000 ...]   (--help for all flags)
 *
 * Scenarios (each on a fresh database, the systems one after the other, never together):
 * - e2e:    N activities accepted (hub: POST /api/v1/activities in batches; BullMQ:
 *           queue.addBulk in batches of the same size; Agenda: agenda.schedule(now, ...)) ->
 *           received by the SMTP server -> timeline event written and conversation updated.
 *           activities/s for the whole path and for the dispatch part.
 * - spread: M items due within one window (default one minute), dueAt uniformly spread over it,
 *           starting `lead` ms after insertion begins. Lateness = dispatch time - due time.
 * - burst:  M items all due at the same instant. Lateness, and the time to drain them all.
 *
 * FerretDB and redis-server (fresh temp data dirs), the SMTP server, the hub node, the BullMQ
 * worker and the Agenda worker each run in their own process; this driver only feeds them and
 * reads the results back from the database. Results: a table on stdout (with the ratios
 * Dialmesh/BullMQ and Dialmesh/Agenda), JSON in bench/results/.
 */
import { execFileSync, fork, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import mongoose, { type Connection } from "mongoose";
import { Agenda } from "agenda";
import { MongoBackend } from "@agendajs/mongo-backend";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import {
  ferretDbBinary,
  redisServerBinary,
  freePort,
  startFerretDb,
  startRedis,
  type RunningService,
} from "../../core/infra/processes.ts";
import {
  CONTENT,
  customerFor,
  nextMessage,
  pool,
  sleep,
  summarizeLateness,
  type DriverMessage,
  type LatenessSummary,
} from "./common.ts";
import type { HubNodeSettings } from "./hub-node.ts";
import type { AgendaNodeSettings } from "./agenda-node.ts";
import type { BullmqNodeSettings } from "./bullmq-node.ts";
import type { EmailJobSettings, SendEmailJob } from "./email-job.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const JOB_NAME = "send-email";

const SYSTEMS = ["hub", "bullmq", "agenda"] as const;
type System = (typeof SYSTEMS)[number];
type Baseline = Exclude<System, "hub">;
const SYSTEM_LABEL: Record<System, string> = { hub: "Dialmesh", bullmq: "BullMQ", agenda: "Agenda" };
type Scenario = "e2e" | "spread" | "burst";

const HELP = `Usage: node bench/hub/run.ts [flags]
  --runs <k>                    repetitions of every scenario (default 1)
  --scenarios <list>            e2e,spread,burst (default all)
  --systems <list>              hub,bullmq,agenda (default all three)
  --n <N>                       activities in the e2e scenario (default 1000; the issue's size is 5000)
  --lateness-n <M>              activities in the spread and burst scenarios (default 1000; the issue's is 10000)
  --window-ms <ms>              spread window (default 60000)
  --lead-ms <ms>                due window starts this long after intake begins (default 20000)
  --mongo-url <url>             run against this MongoDB-protocol server instead of a fresh FerretDB
  --batch <k>                   activities per POST, and jobs per BullMQ addBulk (default 1000)
  --post-concurrency <k>        POSTs in flight, and addBulk calls (default 2)
  --producer-concurrency <k>    agenda.schedule() calls in flight (default 32)
  --smtp-connections <k>        pooled SMTP connections, both systems (default 5)
  --hub-poll-ms <ms>            scheduler.pollIntervalMs (default 250)
  --hub-batch-size <k>          scheduler.batchSize (default 200)
  --hub-concurrency <k>         scheduler.concurrency (default 64)
  --bullmq-concurrency <k>      the BullMQ Worker's concurrency (default 16)
  --agenda-process-every <ms>   processEvery (default 250)
  --agenda-max-concurrency <k>  maxConcurrency (default 8)
  --agenda-concurrency <k>      defaultConcurrency (default 8)
  --agenda-lock-limit <k>       lockLimit and defaultLockLimit (default 50)
  --profile <list|all>          write V8 CPU profiles of these systems' processes (directory printed at the end)
  --out <dir>                   results directory (default bench/results)`;

const { values: flags } = parseArgs({
  options: {
    runs: { type: "string", default: "1" },
    scenarios: { type: "string", default: "e2e,spread,burst" },
    systems: { type: "string", default: SYSTEMS.join(",") },
    n: { type: "string", default: "1000" },
    "lateness-n": { type: "string", default: "1000" },
    "window-ms": { type: "string", default: "60000" },
    "lead-ms": { type: "string", default: "20000" },
    "mongo-url": { type: "string" },
    batch: { type: "string", default: "1000" },
    "post-concurrency": { type: "string", default: "2" },
    "producer-concurrency": { type: "string", default: "32" },
    "smtp-connections": { type: "string", default: "5" },
    "hub-poll-ms": { type: "string", default: "250" },
    "hub-batch-size": { type: "string", default: "200" },
    "hub-concurrency": { type: "string", default: "64" },
    "bullmq-concurrency": { type: "string", default: "16" },
    "agenda-process-every": { type: "string", default: "250" },
    "agenda-max-concurrency": { type: "string", default: "8" },
    "agenda-concurrency": { type: "string", default: "8" },
    "agenda-lock-limit": { type: "string", default: "50" },
    profile: { type: "string" },
    out: { type: "string", default: path.join(ROOT, "bench/results") },
    help: { type: "boolean", default: false },
  },
});
if (flags.help) {
  console.log(HELP);
  process.exit(0);
}

function int(name: keyof typeof flags): number {
  const v = Number(flags[name]);
  if (!Number.isInteger(v) || v < 0) {
    console.error(`--${name} must be a non-negative integer, got "${String(flags[name])}"\n\n${HELP}`);
    process.exit(2);
  }
  return v;
}

function list<T extends string>(name: keyof typeof flags, allowed: readonly T[]): T[] {
  const items = String(flags[name])
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const i of items) {
    if (!allowed.includes(i as T)) {
      console.error(`--${name}: "${i}" is not one of ${allowed.join(", ")}`);
      process.exit(2);
    }
  }
  return items as T[];
}

const S = {
  runs: Math.max(1, int("runs")),
  scenarios: list("scenarios", ["e2e", "spread", "burst"] as const),
  systems: list("systems", SYSTEMS),
  n: int("n"),
  latenessN: int("lateness-n"),
  windowMs: int("window-ms"),
  leadMs: int("lead-ms"),
  batch: Math.max(1, int("batch")),
  postConcurrency: Math.max(1, int("post-concurrency")),
  producerConcurrency: Math.max(1, int("producer-concurrency")),
  smtpConnections: Math.max(1, int("smtp-connections")),
  hub: {
    pollIntervalMs: int("hub-poll-ms"),
    batchSize: int("hub-batch-size"),
    concurrency: int("hub-concurrency"),
  },
  bullmq: { concurrency: Math.max(1, int("bullmq-concurrency")) },
  agenda: {
    processEveryMs: int("agenda-process-every"),
    maxConcurrency: int("agenda-max-concurrency"),
    defaultConcurrency: int("agenda-concurrency"),
    lockLimit: int("agenda-lock-limit"),
    defaultLockLimit: int("agenda-lock-limit"),
  },
  profile: flags.profile === "all" ? [...SYSTEMS] : flags.profile ? list("profile", SYSTEMS) : [],
  out: path.resolve(String(flags.out)),
};

// ---------------------------------------------------------------------------------------------

interface ScenarioResult {
  system: System;
  scenario: Scenario;
  run: number;
  n: number;
  /** Time to hand all items to the system (POSTs, addBulk or agenda.schedule calls). */
  intakeMs: number;
  /** First item due (spread, burst). */
  windowStart?: number;
  startedAt: number;
  firstDispatchAt: number;
  lastDoneAt: number;
  /** e2e: n / (last done - start of intake). */
  e2ePerSec?: number;
  /** n / (last done - first dispatch). */
  dispatchPerSec: number;
  /** spread, burst: last done - first due. */
  drainMs?: number;
  lateness: LatenessSummary;
  smtpReceived: number;
  /** Items whose record shows them sent (hub: status SENT; BullMQ, Agenda: a timeline event). */
  completed: number;
  /** Intake still running when the first item fell due (its lateness then includes intake). */
  intakeOverlapsWindow?: boolean;
  /**
   * Commands FerretDB answered from the start of intake to the last item done, per item (every
   * client's: the system's, and the harness's polls for the end, a few a second). Redis's are
   * not counted. Absent with --mongo-url.
   */
  storeCommandsPerItem?: number;
}

/** CPU profiles (--profile) go outside the tree: bench/results only ignores *.json. */
const PROFILE_DIR = path.join(tmpdir(), "dialmesh-bench-profiles");
const children = new Set<ChildProcess>();
let ferret: RunningService | undefined;
/** The store every system writes to: a fresh FerretDB, or --mongo-url. */
let storeUrl = "";
let redis: RunningService | undefined;
const dataDirs: string[] = [];

function spawnChild(file: string, env: Record<string, string>, profile: boolean): ChildProcess {
  const execArgv = profile ? ["--cpu-prof", `--cpu-prof-dir=${PROFILE_DIR}`] : [];
  const child = fork(path.join(HERE, file), [], {
    env: { ...process.env, ...env },
    execArgv,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.send({ type: "stop" } satisfies DriverMessage);
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  await exited;
  clearTimeout(timer);
}

let smtp: ChildProcess;
async function smtpStats(): Promise<{ count: number; first?: number; last?: number }> {
  const reply = nextMessage(smtp, "stats", 30_000);
  smtp.send({ type: "stats" } satisfies DriverMessage);
  return reply;
}
async function smtpReset(): Promise<void> {
  const reply = nextMessage(smtp, "stats", 30_000);
  smtp.send({ type: "reset" } satisfies DriverMessage);
  await reply;
}

function dueTimes(scenario: Scenario, n: number, windowStart: number): (Date | undefined)[] {
  if (scenario === "e2e") return Array.from({ length: n }, () => undefined);
  if (scenario === "burst") return Array.from({ length: n }, () => new Date(windowStart));
  return Array.from({ length: n }, (_, i) => new Date(windowStart + Math.floor((i * S.windowMs) / n)));
}

/** Polls until `done()` holds; returns false on timeout. */
/** FerretDB's /debug/metrics, when the benchmark started FerretDB. */
let storeMetricsUrl: string | undefined;

/** Commands FerretDB has answered so far (all clients, all commands), or NaN without metrics. */
async function storeCommands(): Promise<number> {
  if (!storeMetricsUrl) return NaN;
  const text = await (await fetch(storeMetricsUrl)).text();
  let total = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("ferretdb_client_requests_total{")) total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}

async function until(done: () => Promise<boolean>, timeoutMs: number, label: () => string): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let lastLog = Date.now();
  while (Date.now() < deadline) {
    if (await done()) return true;
    if (Date.now() - lastLog > 15_000) {
      lastLog = Date.now();
      process.stdout.write(`\n    ... waiting: ${label()}`);
    }
    await sleep(250);
  }
  return false;
}

function timeoutFor(scenario: Scenario): number {
  return scenario === "e2e" ? 15 * 60_000 : S.leadMs + S.windowMs + 15 * 60_000;
}

async function runHub(conn: Connection, scenario: Scenario, run: number): Promise<ScenarioResult> {
  const n = scenario === "e2e" ? S.n : S.latenessN;
  const database = `bench_hub_${scenario}_${run}_${randomBytes(3).toString("hex")}`;
  const apiKey = `bench-${randomBytes(12).toString("hex")}`;
  const settings: HubNodeSettings = {
    mongoUrl: storeUrl,
    database,
    smtpPort: smtpPort,
    apiKey,
    scheduler: S.hub,
    smtpMaxConnections: S.smtpConnections,
  };
  const child = spawnChild("hub-node.ts", { BENCH_HUB: JSON.stringify(settings) }, S.profile.includes("hub"));
  try {
    const { apiUrl } = await nextMessage(child, "ready");
    await smtpReset();
    const db = conn.useDb(database, { useCache: false });
    const tag = `h${run}${scenario[0]}`;
    const commandsBefore = await storeCommands();
    const startedAt = Date.now();
    const windowStart = startedAt + S.leadMs;
    const dues = dueTimes(scenario, n, windowStart);
    const items = dues.map((dueAt, i) => ({
      customer: customerFor(tag, i),
      channel: "email",
      content: CONTENT,
      ...(dueAt ? { dueAt: dueAt.toISOString() } : {}),
    }));
    const batches: (typeof items)[] = [];
    for (let i = 0; i < items.length; i += S.batch) batches.push(items.slice(i, i + S.batch));
    await pool(batches, S.postConcurrency, async (batch) => {
      const res = await fetch(`${apiUrl}/api/v1/activities`, {
        method: "POST",
        headers: { Authorization: `Bearer ${apiKey}`, "Content-Type": "application/json" },
        body: JSON.stringify({ activities: batch }),
      });
      if (res.status !== 202)
        throw new Error(`POST /api/v1/activities: ${res.status} ${(await res.text()).slice(0, 500)}`);
      await res.arrayBuffer();
    });
    const intakeMs = Date.now() - startedAt;

    const timeline = db.collection("timeline");
    const activities = db.collection("activities");
    let smtpCount = 0;
    const finished = await until(
      async () => {
        smtpCount = (await smtpStats()).count;
        if (smtpCount < n) return false;
        return (await timeline.countDocuments({ type: "OUTBOUND", status: "SENT" })) >= n;
      },
      timeoutFor(scenario),
      () => `hub ${scenario}: SMTP received ${smtpCount} of ${n}`,
    );
    const storeCommandsUsed = (await storeCommands()) - commandsBefore;
    if (!finished) process.stdout.write(`    hub ${scenario}: timed out; reporting what was done\n`);
    await sleep(500);
    smtpCount = (await smtpStats()).count;

    const acts = await activities.find({}, { projection: { dueAt: 1, status: 1, attempts: 1 } }).toArray();
    const lateness: number[] = [];
    let firstDispatchAt = Infinity;
    let completed = 0;
    for (const a of acts) {
      const first = (a.attempts as { dispatchedAt?: Date }[] | undefined)?.[0];
      if (first?.dispatchedAt) {
        const at = new Date(first.dispatchedAt).getTime();
        firstDispatchAt = Math.min(firstDispatchAt, at);
        lateness.push(at - new Date(a.dueAt as Date).getTime());
      }
      if (a.status === "SENT") completed++;
    }
    let lastDoneAt = 0;
    for await (const e of timeline.find({ type: "OUTBOUND" }, { projection: { recordedAt: 1 } })) {
      lastDoneAt = Math.max(lastDoneAt, new Date(e.recordedAt as Date).getTime());
    }
    return result("hub", scenario, run, n, {
      intakeMs,
      startedAt,
      windowStart,
      firstDispatchAt,
      lastDoneAt,
      lateness,
      smtpCount,
      completed,
      storeCommandsUsed,
    });
  } finally {
    await stopChild(child);
  }
}

/** How the driver hands jobs to a baseline queue. */
interface Producer {
  /** `due` undefined: due now. */
  add(jobs: { data: SendEmailJob; due: Date | undefined }[]): Promise<void>;
  /** After the worker has stopped. */
  close(): Promise<void>;
}

/** An Agenda instance that only schedules (it is never started), one call per job. */
async function agendaProducer(db: Connection): Promise<Producer> {
  const producer = new Agenda({ backend: new MongoBackend({ mongo: db.db! }) });
  await producer.ready;
  return {
    add: (jobs) =>
      pool(jobs, S.producerConcurrency, async (j) => {
        await producer.schedule(j.due ?? new Date(), JOB_NAME, j.data);
      }),
    close: async () => {},
  };
}

/** A BullMQ Queue: `addBulk` in batches as the hub's POSTs, a `delay` for jobs due later. */
function bullmqProducer(queueName: string): Producer {
  const connection = new Redis({ host: "127.0.0.1", port: redis!.port, maxRetriesPerRequest: null });
  const queue = new Queue<SendEmailJob>(queueName, { connection });
  return {
    add: async (jobs) => {
      const batches: (typeof jobs)[] = [];
      for (let i = 0; i < jobs.length; i += S.batch) batches.push(jobs.slice(i, i + S.batch));
      await pool(batches, S.postConcurrency, async (batch) => {
        const now = Date.now();
        await queue.addBulk(
          batch.map((j) => ({
            name: JOB_NAME,
            data: j.data,
            ...(j.due ? { opts: { delay: Math.max(0, j.due.getTime() - now) } } : {}),
          })),
        );
      });
    },
    close: async () => {
      // Each scenario on an empty Redis, as each gets a fresh database.
      await queue.obliterate({ force: true });
      await queue.close();
      connection.disconnect();
    },
  };
}

/** A job-queue baseline: its worker process, fed by its producer, results read from its database. */
async function runBaseline(
  system: Baseline,
  conn: Connection,
  scenario: Scenario,
  run: number,
): Promise<ScenarioResult> {
  const n = scenario === "e2e" ? S.n : S.latenessN;
  const database = `bench_${system}_${scenario}_${run}_${randomBytes(3).toString("hex")}`;
  const emailJob: EmailJobSettings = {
    mongoUrl: storeUrl,
    database,
    smtpPort,
    smtpMaxConnections: S.smtpConnections,
  };
  const child =
    system === "agenda"
      ? spawnChild(
          "agenda-node.ts",
          { BENCH_AGENDA: JSON.stringify({ ...emailJob, ...S.agenda } satisfies AgendaNodeSettings) },
          S.profile.includes("agenda"),
        )
      : spawnChild(
          "bullmq-node.ts",
          {
            BENCH_BULLMQ: JSON.stringify({
              ...emailJob,
              redisPort: redis!.port,
              queueName: database,
              ...S.bullmq,
            } satisfies BullmqNodeSettings),
          },
          S.profile.includes("bullmq"),
        );
  const db = conn.useDb(database, { useCache: false });
  let producer: Producer | undefined;
  try {
    await nextMessage(child, "ready");
    producer = system === "agenda" ? await agendaProducer(db) : bullmqProducer(database);
    await smtpReset();
    const tag = `${system[0]}${run}${scenario[0]}`;
    const commandsBefore = await storeCommands();
    const startedAt = Date.now();
    const windowStart = startedAt + S.leadMs;
    const dues = dueTimes(scenario, n, windowStart);
    await producer.add(
      dues.map((due, i) => ({
        due,
        data: {
          activityId: `act_${tag}_${i}`,
          conversationId: `cv_${tag}_${i}`,
          customer: customerFor(tag, i),
          content: CONTENT,
          dueAt: (due ?? new Date()).toISOString(),
        },
      })),
    );
    const intakeMs = Date.now() - startedAt;

    const timeline = db.collection("timeline");
    let smtpCount = 0;
    const finished = await until(
      async () => {
        smtpCount = (await smtpStats()).count;
        if (smtpCount < n) return false;
        return (await timeline.distinct("activityId", { type: "OUTBOUND", status: "SENT" })).length >= n;
      },
      timeoutFor(scenario),
      () => `${system} ${scenario}: SMTP received ${smtpCount} of ${n}`,
    );
    const storeCommandsUsed = (await storeCommands()) - commandsBefore;
    if (!finished) process.stdout.write(`    ${system} ${scenario}: timed out; reporting what was done\n`);
    await sleep(500);
    smtpCount = (await smtpStats()).count;

    const lateness: number[] = [];
    let firstDispatchAt = Infinity;
    let lastDoneAt = 0;
    // A job run twice (see docs/benchmarks.md) leaves two events: count each activity once,
    // at its first dispatch.
    const firstByActivity = new Map<string, { dispatchedAt: number; dueAt: number; recordedAt: number }>();
    for await (const e of timeline.find(
      { type: "OUTBOUND" },
      { projection: { activityId: 1, recordedAt: 1, dueAt: 1, dispatchedAt: 1 } },
    )) {
      const at = new Date(e.dispatchedAt as Date).getTime();
      const seen = firstByActivity.get(e.activityId as string);
      if (!seen || at < seen.dispatchedAt) {
        firstByActivity.set(e.activityId as string, {
          dispatchedAt: at,
          dueAt: new Date(e.dueAt as Date).getTime(),
          recordedAt: new Date(e.recordedAt as Date).getTime(),
        });
      }
    }
    for (const e of firstByActivity.values()) {
      firstDispatchAt = Math.min(firstDispatchAt, e.dispatchedAt);
      lastDoneAt = Math.max(lastDoneAt, e.recordedAt);
      lateness.push(e.dispatchedAt - e.dueAt);
    }
    const completed = firstByActivity.size;
    return result(system, scenario, run, n, {
      intakeMs,
      startedAt,
      windowStart,
      firstDispatchAt,
      lastDoneAt,
      lateness,
      smtpCount,
      completed,
      storeCommandsUsed,
    });
  } finally {
    await stopChild(child);
    await producer?.close();
  }
}

function result(
  system: System,
  scenario: Scenario,
  run: number,
  n: number,
  m: {
    intakeMs: number;
    startedAt: number;
    windowStart: number;
    firstDispatchAt: number;
    lastDoneAt: number;
    lateness: number[];
    smtpCount: number;
    completed: number;
    storeCommandsUsed: number;
  },
): ScenarioResult {
  const r: ScenarioResult = {
    system,
    scenario,
    run,
    n,
    intakeMs: m.intakeMs,
    startedAt: m.startedAt,
    firstDispatchAt: m.firstDispatchAt,
    lastDoneAt: m.lastDoneAt,
    dispatchPerSec: m.completed / Math.max(0.001, (m.lastDoneAt - m.firstDispatchAt) / 1000),
    lateness: summarizeLateness(m.lateness),
    smtpReceived: m.smtpCount,
    completed: m.completed,
    ...(Number.isFinite(m.storeCommandsUsed) ? { storeCommandsPerItem: m.storeCommandsUsed / n } : {}),
  };
  if (scenario === "e2e") {
    r.e2ePerSec = m.completed / Math.max(0.001, (m.lastDoneAt - m.startedAt) / 1000);
  } else {
    r.windowStart = m.windowStart;
    r.drainMs = m.lastDoneAt - m.windowStart;
    r.intakeOverlapsWindow = m.startedAt + m.intakeMs > m.windowStart;
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Report

interface Row {
  label: string;
  pick: (r: ScenarioResult) => number | undefined;
  scenario: Scenario;
  unit: string;
  higherIsBetter: boolean;
  /** No ratio column (counts). */
  noRatio?: boolean;
}

const ROWS: Row[] = [
  {
    scenario: "e2e",
    label: "e2e: API -> SMTP -> conversation",
    unit: "act/s",
    higherIsBetter: true,
    pick: (r) => r.e2ePerSec,
  },
  { scenario: "e2e", label: "e2e: dispatch part", unit: "act/s", higherIsBetter: true, pick: (r) => r.dispatchPerSec },
  {
    scenario: "e2e",
    label: "e2e: intake",
    unit: "act/s",
    higherIsBetter: true,
    pick: (r) => r.n / (r.intakeMs / 1000),
  },
  {
    scenario: "spread",
    label: "spread: lateness p50",
    unit: "ms",
    higherIsBetter: false,
    pick: (r) => r.lateness.p50Ms,
  },
  {
    scenario: "spread",
    label: "spread: lateness p99",
    unit: "ms",
    higherIsBetter: false,
    pick: (r) => r.lateness.p99Ms,
  },
  {
    scenario: "spread",
    label: "spread: lateness max",
    unit: "ms",
    higherIsBetter: false,
    pick: (r) => r.lateness.maxMs,
  },
  {
    scenario: "spread",
    label: "spread: drain (first due -> last done)",
    unit: "s",
    higherIsBetter: false,
    pick: (r) => (r.drainMs ?? NaN) / 1000,
  },
  { scenario: "burst", label: "burst: lateness p50", unit: "ms", higherIsBetter: false, pick: (r) => r.lateness.p50Ms },
  { scenario: "burst", label: "burst: lateness p99", unit: "ms", higherIsBetter: false, pick: (r) => r.lateness.p99Ms },
  { scenario: "burst", label: "burst: lateness max", unit: "ms", higherIsBetter: false, pick: (r) => r.lateness.maxMs },
  {
    scenario: "burst",
    label: "burst: drain (due -> last done)",
    unit: "s",
    higherIsBetter: false,
    pick: (r) => (r.drainMs ?? NaN) / 1000,
  },
  {
    scenario: "burst",
    label: "burst: throughput",
    unit: "act/s",
    higherIsBetter: true,
    pick: (r) => r.n / ((r.drainMs ?? NaN) / 1000),
  },
  ...(["e2e", "burst"] as const).map((scenario): Row => ({
    scenario,
    label: `${scenario}: FerretDB commands per item`,
    unit: "count",
    higherIsBetter: false,
    pick: (r) => r.storeCommandsPerItem,
  })),
  ...(["e2e", "spread", "burst"] as const).map((scenario): Row => ({
    scenario,
    label: `${scenario}: emails sent more than once`,
    unit: "count",
    higherIsBetter: false,
    noRatio: true,
    pick: (r) => Math.max(0, r.smtpReceived - r.completed),
  })),
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return "-";
  if (Math.abs(x) >= 100) return Math.round(x).toString();
  if (Math.abs(x) >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

function cell(values: number[]): string {
  if (values.length === 0) return "-";
  const m = fmt(median(values));
  if (values.length === 1) return m;
  return `${m} [${fmt(Math.min(...values))}-${fmt(Math.max(...values))}]`;
}

export interface ReportRow {
  metric: string;
  unit: string;
  hub: number[];
  bullmq: number[];
  agenda: number[];
  /** Ratios of the medians (NaN for counts, or when a system did not run). */
  hubOverBullmq: number;
  hubOverAgenda: number;
}

function report(results: ScenarioResult[]): ReportRow[] {
  const rows: ReportRow[] = [];
  for (const row of ROWS) {
    const of = (s: System) =>
      results
        .filter((r) => r.system === s && r.scenario === row.scenario)
        .map(row.pick)
        .filter((x): x is number => x !== undefined && Number.isFinite(x));
    const [hub, bullmq, agenda] = [of("hub"), of("bullmq"), of("agenda")];
    if (hub.length + bullmq.length + agenda.length === 0) continue;
    const ratio = (other: number[]) => (row.noRatio ? NaN : median(hub) / median(other));
    rows.push({
      metric: row.label,
      unit: row.unit,
      hub,
      bullmq,
      agenda,
      hubOverBullmq: ratio(bullmq),
      hubOverAgenda: ratio(agenda),
    });
  }
  const shown = SYSTEMS.filter((s) => S.systems.includes(s));
  const ratios = S.systems.includes("hub") ? (["bullmq", "agenda"] as const).filter((s) => S.systems.includes(s)) : [];
  const header = [
    "metric",
    "unit",
    ...shown.map((s) => SYSTEM_LABEL[s]),
    ...ratios.map((s) => `${SYSTEM_LABEL.hub}/${SYSTEM_LABEL[s]}`),
  ];
  const lines = rows.map((r) => [
    r.metric,
    r.unit,
    ...shown.map((s) => cell(r[s])),
    ...ratios.map((s) => {
      const x = s === "bullmq" ? r.hubOverBullmq : r.hubOverAgenda;
      return Number.isFinite(x) ? `${x.toFixed(2)}x` : "-";
    }),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const line = (cols: string[]) =>
    cols.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  console.log(`\n${line(header)}\n${widths.map((w) => "-".repeat(w)).join("  ")}`);
  for (const l of lines) console.log(line(l));
  if (S.runs > 1) console.log(`(median of ${S.runs} runs [min-max])`);
  for (const r of results) {
    const flagsOut = [
      r.completed < r.n ? `only ${r.completed}/${r.n} completed` : "",
      r.smtpReceived !== r.n ? `SMTP received ${r.smtpReceived} for ${r.n}` : "",
      r.intakeOverlapsWindow ? "intake ran into the due window" : "",
    ].filter(Boolean);
    if (flagsOut.length) console.log(`  note: ${r.system} ${r.scenario} run ${r.run}: ${flagsOut.join("; ")}`);
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------

let smtpPort = 0;

let shuttingDown = false;
async function cleanup(): Promise<void> {
  shuttingDown = true;
  for (const c of children) c.kill("SIGKILL");
  await Promise.all([ferret?.stop(), redis?.stop()]);
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
}

function packageVersion(name: string): string {
  return (
    JSON.parse(readFileSync(path.join(ROOT, "node_modules", name, "package.json"), "utf8")) as { version: string }
  ).version;
}

process.on("SIGINT", () => void cleanup().then(() => process.exit(130)));

async function main(): Promise<void> {
  mkdirSync(S.out, { recursive: true });
  const dataDir = mkdtempSync(path.join(tmpdir(), "dialmesh-bench-ferretdb-"));
  dataDirs.push(dataDir);
  if (flags["mongo-url"]) storeUrl = flags["mongo-url"];
  else {
    const debugAddr = process.env.DIALMESH_FERRETDB_DEBUG_ADDR ?? `127.0.0.1:${await freePort()}`;
    ferret = await startFerretDb({ dataDir, debugAddr });
    storeUrl = ferret.url;
    storeMetricsUrl = `http://${debugAddr}/debug/metrics`;
    ferret.process.once("exit", (code, signal) => {
      if (shuttingDown) return;
      let tail = "";
      try {
        const lines = readFileSync(path.join(dataDir, "ferretdb.log"), "utf8").split("\n");
        const at = lines.findIndex((l) => /^(panic|fatal error|unexpected fault|SIG)/.test(l));
        tail = (at >= 0 ? lines.slice(at, at + 30) : lines.slice(-30)).join("\n");
      } catch {
        /* no log */
      }
      console.error(`\nFerretDB exited unexpectedly (code ${code}, signal ${signal}); its log ends:\n${tail}`);
    });
  }
  if (S.systems.includes("bullmq")) {
    const redisDir = mkdtempSync(path.join(tmpdir(), "dialmesh-bench-redis-"));
    dataDirs.push(redisDir);
    redis = await startRedis({ dataDir: redisDir });
    redis.process.once("exit", (code, signal) => {
      if (!shuttingDown) console.error(`\nredis-server exited unexpectedly (code ${code}, signal ${signal})`);
    });
  }
  smtp = spawnChild("smtp-sink.ts", {}, false);
  smtpPort = (await nextMessage(smtp, "ready")).port!;
  const conn = mongoose.createConnection(storeUrl, { autoIndex: false, maxPoolSize: 8 });
  await conn.asPromise();

  const versions = {
    node: process.version,
    store: flags["mongo-url"]
      ? "--mongo-url (credentials not shown)"
      : `${path.basename(path.dirname(ferretDbBinary()))} (FerretDB, SQLite backend)`,
    agenda: packageVersion("agenda"),
    agendaMongoBackend: packageVersion("@agendajs/mongo-backend"),
    mongoose: mongoose.version,
    ...(redis
      ? {
          bullmq: packageVersion("bullmq"),
          ioredis: packageVersion("ioredis"),
          redis: `${/v=(\S+)/.exec(execFileSync(redisServerBinary(), ["--version"], { encoding: "utf8" }))?.[1] ?? "unknown"} (AOF, appendfsync everysec)`,
        }
      : {}),
  };
  const git = (args: string[]) => {
    try {
      return execFileSync("git", args, { cwd: ROOT, encoding: "utf8" }).trim();
    } catch {
      return "unknown";
    }
  };
  const code = {
    commit: git(["rev-parse", "--short", "HEAD"]),
    hubFilesChanged: git(["status", "--short", "--", "core", "plugins"]).split("\n").filter(Boolean).length,
  };
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGb: Math.round(totalmem() / 2 ** 30) };
  console.log(`hub-core benchmark: ${JSON.stringify(versions)}`);
  console.log(`machine: ${JSON.stringify(machine)}; code: ${JSON.stringify(code)}`);
  console.log(
    `settings: hub scheduler ${JSON.stringify(S.hub)}; bullmq ${JSON.stringify(S.bullmq)}; agenda ${JSON.stringify(S.agenda)}; SMTP pool ${S.smtpConnections}`,
  );

  const results: ScenarioResult[] = [];
  for (let run = 1; run <= S.runs; run++) {
    for (const scenario of S.scenarios) {
      // Alternate who goes first, so that neither always runs on a warmer (or more tired) server.
      const order = run % 2 === 1 ? S.systems : [...S.systems].reverse();
      for (const system of order) {
        const n = scenario === "e2e" ? S.n : S.latenessN;
        process.stdout.write(`run ${run}/${S.runs} ${scenario.padEnd(6)} ${system.padEnd(6)} n=${n} ... `);
        const r = system === "hub" ? await runHub(conn, scenario, run) : await runBaseline(system, conn, scenario, run);
        results.push(r);
        console.log(
          `done: ${r.completed}/${r.n}, ${fmt(r.e2ePerSec ?? r.dispatchPerSec)} act/s, lateness p50 ${fmt(r.lateness.p50Ms)} ms p99 ${fmt(r.lateness.p99Ms)} ms, intake ${fmt(r.intakeMs / 1000)} s`,
        );
        await sleep(2000);
      }
    }
  }
  const rows = report(results);
  const file = path.join(S.out, `hub-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, JSON.stringify({ versions, machine, code, settings: S, rows, results }, null, 2));
  console.log(`\nresults: ${path.relative(process.cwd(), file)}`);
  if (S.profile.length) console.log(`CPU profiles: ${PROFILE_DIR}`);
  await conn.close();
}

try {
  await main();
} finally {
  await cleanup();
}
