/**
 * Cisco bridge benchmark (issue 10): `npm run bench:cisco [-- --activities 25000]`.
 *
 * On a fresh FerretDB:
 * 1. The cisco-cce plugin alone with the local AW (bench/cisco/plugin-alone.ts): rows a second
 *    at the Cisco side (BatchDelivery), and the plugin's sends and rows a second with its
 *    durable outbox.
 * 2. Through the hub: a hub node in its own process (test/support/node-process.ts) with
 *    `cisco-cce` (batchSize 10,000) pointed at the local AW in this process, a burst of 503s
 *    injected, `--activities` voice activities POSTed through the REST API in requests of
 *    1,000. Reports the imports the AW received and their sizes, each account number's count,
 *    the 503s answered; intake-to-QUEUED wall time per activity; hub and FerretDB CPU per
 *    contact.
 * Writes bench/results/cisco-<time>.json.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { MongoClient } from "mongodb";
import { startFerretDb } from "../../core/infra/processes.ts";
import { startNodeProcess, type HubNodeProcess } from "../../test/support/node-process.ts";
import { benchPhone, measurePluginAlone, type PluginAloneResult } from "./plugin-alone.ts";
import { accountCheck, cpuMsOf, expectedImportSizes, spread, until } from "./report.ts";
import { startTimedAwServer } from "./timed-aw.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const { values } = parseArgs({
  options: {
    activities: { type: "string", default: "25000" },
    "batch-size": { type: "string", default: "10000" },
    "window-ms": { type: "string", default: "120000" },
    unavailable: { type: "string", default: "4" },
    parts: { type: "string", default: "plugin,hub" },
  },
});
const TOTAL = Number(values.activities);
const BATCH_SIZE = Number(values["batch-size"]);
/**
 * A batch window opens at the oldest waiting row: at the first activity, and again at the
 * first row after each full batch. It must last longer than the hub takes to fill a batch
 * (200-300 activities a second measured on the 2 shared cores, so 10,000 in 35-50 s, plus the
 * 503 burst's 7.5 s of backoff), or an import closes on part of a batch and the number of
 * imports says how fast the machine was, not what the plugin does. 120 s leaves more than
 * twice that; only the last, partial import waits for it (and no send waits: each is answered
 * once its row is in the outbox).
 */
const WINDOW_MS = Number(values["window-ms"]);
const UNAVAILABLE = Number(values.unavailable);
const KNOWN_PARTS = ["plugin", "hub"];
const PARTS = new Set(values.parts.split(",").map((p) => p.trim()));
for (const part of PARTS) {
  if (!KNOWN_PARTS.includes(part))
    throw new Error(`--parts: unknown part "${part}", expected some of ${KNOWN_PARTS.join(",")}`);
}
for (const [name, v] of Object.entries({ activities: TOTAL, "batch-size": BATCH_SIZE, "window-ms": WINDOW_MS })) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer, got ${String(v)}`);
}
if (BATCH_SIZE > 10_000) throw new Error(`--batch-size is at most 10000 (Cisco's limit per import), got ${BATCH_SIZE}`);
/** Activities a POST: the dialer bench's size, well under the API's maxBatch. */
const PER_REQUEST = 1000;
/** The hub's sends in flight (scheduler.concurrency); the plugin-alone waves use the same. */
const CONCURRENCY = 64;
const CAMPAIGN = 5001;

const log = (line: string) => process.stdout.write(`[bench:cisco] ${line}\n`);
const load = () => loadavg().map((l) => Math.round(l * 100) / 100);

interface Sample {
  t: number;
  hubCpuMs: number;
  dbCpuMs: number;
  benchCpuMs: number;
}

interface ActivityPage {
  activities: {
    id: string;
    status: string;
    createdAt: string;
    attempts: { id: string; status: string; vendorId?: string; dispatchedAt: string; updatedAt: string }[];
  }[];
  next: string | null;
}

async function allActivities(hub: HubNodeProcess): Promise<ActivityPage["activities"]> {
  const out: ActivityPage["activities"] = [];
  let after: string | null = null;
  do {
    const res = await hub.api("GET", `/api/v1/activities?campaignId=bulk&limit=500${after ? `&after=${after}` : ""}`);
    if (res.status !== 200) throw new Error(`listing activities: ${res.status} ${res.text.slice(0, 300)}`);
    const page = res.body as ActivityPage;
    out.push(...page.activities);
    after = page.next;
  } while (after);
  return out;
}

async function throughHub(dbUrl: string, dbPid: number) {
  const aw = await startTimedAwServer({ campaigns: [CAMPAIGN] });
  const mongo = await MongoClient.connect(`${dbUrl}/bench_cisco`);
  const hub = await startNodeProcess({
    nodeId: "bench-cisco",
    mongoUrl: `${dbUrl}/bench_cisco`,
    smtpPort: 1,
    config: {
      // The dialer bench's scheduler: a lease long enough for claim rounds on a busy FerretDB.
      scheduler: { pollIntervalMs: 100, batchSize: 500, concurrency: CONCURRENCY, leaseMs: 30_000 },
      plugins: [
        {
          id: "cce",
          use: "cisco-cce",
          options: {
            baseUrl: aw.baseUrl,
            username: aw.username,
            password: aw.password,
            campaignMap: { bulk: CAMPAIGN },
            batchSize: BATCH_SIZE,
            batchWindowMs: WINDOW_MS,
            // No result reads during the run: the AW's dialer is not run, and reading 25,000
            // contacts 100 a page would be counted as intake overhead.
            pollIntervalMs: 3_600_000,
          },
        },
      ],
      routing: {},
    },
  });
  try {
    const cpu = (): Omit<Sample, "t"> => ({
      hubCpuMs: cpuMsOf(hub.pid),
      dbCpuMs: cpuMsOf(dbPid),
      benchCpuMs: process.cpuUsage().user / 1000 + process.cpuUsage().system / 1000,
    });
    // What the idle hub and FerretDB spend (scheduler polls, flusher ticks), to tell from the run's.
    const idle0 = { ...cpu(), t: Date.now() };
    await new Promise((r) => setTimeout(r, 10_000));
    const idle1 = { ...cpu(), t: Date.now() };
    const idleShare = {
      hub: (idle1.hubCpuMs - idle0.hubCpuMs) / (idle1.t - idle0.t),
      db: (idle1.dbCpuMs - idle0.dbCpuMs) / (idle1.t - idle0.t),
    };

    aw.injectUnavailable(UNAVAILABLE);
    const samples: Sample[] = [];
    const sample = () => samples.push({ t: Date.now(), ...cpu() });
    sample();
    const sampler = setInterval(sample, 500);
    const t0 = Date.now();
    log(`posting ${TOTAL} voice activities in requests of ${PER_REQUEST}`);
    const postMs: number[] = [];
    for (let from = 0; from < TOTAL; from += PER_REQUEST) {
      const started = performance.now();
      const res = await hub.api("POST", "/api/v1/activities", {
        activities: Array.from({ length: Math.min(PER_REQUEST, TOTAL - from) }, (_, k) => ({
          customer: { id: `bulk-${from + k}`, phone: benchPhone(from + k) },
          channel: "voice",
          campaignId: "bulk",
          content: {},
          idempotencyKey: `bc-${from + k}`,
        })),
      });
      if (res.status !== 202) throw new Error(`POST activities: ${res.status} ${res.text.slice(0, 500)}`);
      postMs.push(performance.now() - started);
    }
    const postedAt = Date.now();
    log(`posted in ${((postedAt - t0) / 1000).toFixed(1)} s; waiting for the imports`);
    const imported = () => aw.appliedImports().reduce((n, i) => n + i.accountNumbers.length, 0);
    await until(() => imported() >= TOTAL, WINDOW_MS * 2 + 600_000, `${TOTAL} contacts imported`, 500);
    const importedAt = Date.now();
    // The flusher records an import after its answer: the outbox is empty once it has.
    const outbox = mongo.db().collection("plugin_cce_outbox");
    await until(async () => (await outbox.countDocuments()) === 0, 120_000, "the outbox emptied", 500);
    const flushedAt = Date.now();
    clearInterval(sampler);
    sample();

    const activities = await allActivities(hub);
    const queued = activities.filter((a) => a.status === "QUEUED" && a.attempts[0]?.status === "QUEUED");
    const queuedSet = new Set(queued);
    const ms = (iso: string) => new Date(iso).getTime();
    const intakeToQueued = queued.map((a) => ms(a.attempts[0]!.updatedAt) - ms(a.createdAt));
    const createdToDispatched = queued.map((a) => ms(a.attempts[0]!.dispatchedAt) - ms(a.createdAt));
    const dispatchedToQueued = queued.map((a) => ms(a.attempts[0]!.updatedAt) - ms(a.attempts[0]!.dispatchedAt));
    const lastQueuedAt = Math.max(...queued.map((a) => ms(a.attempts[0]!.updatedAt)));
    // CPU at a moment: the first sample at or after it (samples every 0.5 s).
    const at = (t: number): Sample => samples.find((s) => s.t >= t) ?? samples.at(-1)!;
    const base = samples[0]!;
    const per = (end: Sample) => ({
      seconds: (end.t - base.t) / 1000,
      hubCpuMsPerContact: (end.hubCpuMs - base.hubCpuMs) / TOTAL,
      dbCpuMsPerContact: (end.dbCpuMs - base.dbCpuMs) / TOTAL,
      benchCpuMsPerContact: (end.benchCpuMs - base.benchCpuMs) / TOTAL,
      hubCoreShare: (end.hubCpuMs - base.hubCpuMs) / (end.t - base.t),
      dbCoreShare: (end.dbCpuMs - base.dbCpuMs) / (end.t - base.t),
    });

    const contacts = aw.campaignContacts(CAMPAIGN).map((c) => c.accountNumber);
    return {
      activities: activities.length,
      queued: queued.length,
      notQueued: activities
        .filter((a) => !queuedSet.has(a))
        .slice(0, 5)
        .map((a) => ({ id: a.id, status: a.status, attempts: a.attempts })),
      imports: {
        expectedSizes: expectedImportSizes(TOTAL, BATCH_SIZE),
        appliedSizes: aw.appliedImports().map((i) => i.accountNumbers.length),
        statuses: aw.imports.map((i) => i.status),
        unavailableAnswered: aw.imports.filter((i) => i.status === 503).length,
        timings: aw.timings.map((t) => ({
          sinceFirstPostS: (t.atMs - t0) / 1000,
          durationMs: Math.round(t.durationMs * 10) / 10,
          rows: t.rows,
          status: t.status,
        })),
        accounts: accountCheck(
          queued.map((a) => a.attempts[0]!.vendorId ?? a.attempts[0]!.id),
          contacts,
        ),
        contacts: contacts.length,
      },
      postMs: spread(postMs),
      intake: {
        postSeconds: (postedAt - t0) / 1000,
        toLastQueuedSeconds: (lastQueuedAt - t0) / 1000,
        activitiesPerSecond: Math.round(TOTAL / ((lastQueuedAt - t0) / 1000)),
        toLastImportSeconds: (importedAt - t0) / 1000,
        toOutboxEmptySeconds: (flushedAt - t0) / 1000,
      },
      intakeToQueuedMs: spread(intakeToQueued),
      createdToDispatchedMs: spread(createdToDispatched),
      dispatchedToQueuedMs: spread(dispatchedToQueued),
      cpu: {
        untilLastQueued: per(at(lastQueuedAt)),
        untilOutboxEmpty: per(at(flushedAt)),
        idleCoreShare: idleShare,
      },
    };
  } finally {
    await hub.stop();
    await mongo.close();
    await aw.stop();
  }
}

async function main(): Promise<void> {
  const loadAtStart = load();
  log(`load average ${loadAtStart.join(" ")} on ${cpus().length} cores; parts ${[...PARTS].join(",")}`);
  const dbDir = mkdtempSync(path.join(tmpdir(), "dialmesh-bench-cisco-db-"));
  const db = await startFerretDb({ dataDir: dbDir });
  try {
    let pluginAlone: PluginAloneResult | undefined;
    if (PARTS.has("plugin")) {
      log(`the plugin alone: ${TOTAL} rows`);
      pluginAlone = await measurePluginAlone({
        mongoUrl: `${db.url}/bench_cisco_plugin`,
        total: TOTAL,
        batchSize: BATCH_SIZE,
        concurrency: CONCURRENCY,
      });
      log(
        `delivery ${pluginAlone.delivery.rowsPerSecond} rows/s; plugin ${pluginAlone.plugin.sendsPerSecond} sends/s, ` +
          `${pluginAlone.plugin.rowsPerSecond} rows/s in full batches (imports ${pluginAlone.plugin.importSizes.join("/")})`,
      );
    }
    let hub: Awaited<ReturnType<typeof throughHub>> | undefined;
    if (PARTS.has("hub")) {
      log(`through the hub: ${TOTAL} activities, window ${WINDOW_MS} ms, ${UNAVAILABLE} 503s`);
      hub = await throughHub(db.url, db.process.pid!);
      const c = hub.cpu.untilLastQueued;
      log(
        `imports ${hub.imports.appliedSizes.join("/")} (expected ${hub.imports.expectedSizes.join("/")}), ` +
          `503s answered ${hub.imports.unavailableAnswered}, accounts ${JSON.stringify(hub.imports.accounts)}; ` +
          `${hub.queued}/${TOTAL} QUEUED at ${hub.intake.activitiesPerSecond}/s; intake->QUEUED p50 ${hub.intakeToQueuedMs.p50} ms ` +
          `p99 ${hub.intakeToQueuedMs.p99} ms; CPU per contact hub ${c.hubCpuMsPerContact.toFixed(2)} ms, ` +
          `FerretDB ${c.dbCpuMsPerContact.toFixed(2)} ms`,
      );
    }
    const result = {
      date: new Date().toISOString(),
      commit: readGitHead(),
      cpus: cpus().length,
      loadAverage: { atStart: loadAtStart, atEnd: load() },
      settings: {
        activities: TOTAL,
        batchSize: BATCH_SIZE,
        batchWindowMs: WINDOW_MS,
        unavailable: UNAVAILABLE,
        perRequest: PER_REQUEST,
        concurrency: CONCURRENCY,
      },
      pluginAlone,
      hub,
    };
    const dir = path.join(ROOT, "bench/results");
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `cisco-${result.date.replace(/[:.]/g, "-")}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    log(`load ${result.loadAverage.atEnd.join(" ")}; wrote ${path.relative(ROOT, file)}`);
  } finally {
    await db.stop();
    rmSync(dbDir, { recursive: true, force: true });
  }
}

function readGitHead(): string {
  try {
    return execFileSync("git", ["rev-parse", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

await main();
