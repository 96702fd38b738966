/**
 * Cisco and Five9 bridge benchmark (issue 10):
 * `npm run bench:cisco [-- --activities 25000 --parts plugin,hub,five9 --five9-activities 2000]`.
 *
 * On a fresh FerretDB (each part in its own database):
 * - plugin: cisco-cce alone with the local AW in this process (plugin-alone.ts): rows a second
 *   at the Cisco side (BatchDelivery), and the plugin's sends and rows a second with its
 *   durable outbox, its FerretDB calls timed;
 * - hub: a hub node in its own process (hub-run.ts) with `cisco-cce` (batchSize 10,000) pointed
 *   at the local AW here, a burst of 503s injected, `--activities` voice activities POSTed
 *   through the REST API in requests of 1,000: the imports the AW received and their sizes,
 *   each account number's count, the 503s answered; intake-to-QUEUED wall time per activity;
 *   hub and FerretDB CPU per contact;
 * - five9: the same for the five9 plugin (five9.ts), alone and through the hub.
 * Writes bench/results/cisco-<time>.json.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startFerretDb } from "../../core/infra/processes.ts";
import { five9ThroughHub, measureFive9Alone } from "./five9.ts";
import { runThroughHub } from "./hub-run.ts";
import { measurePluginAlone, type PluginAloneResult } from "./plugin-alone.ts";
import { accountCheck, expectedImportSizes, until } from "./report.ts";
import { startTimedAwServer } from "./timed-aw.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const { values } = parseArgs({
  options: {
    activities: { type: "string", default: "25000" },
    "batch-size": { type: "string", default: "10000" },
    "window-ms": { type: "string", default: "120000" },
    unavailable: { type: "string", default: "4" },
    parts: { type: "string", default: "plugin,hub,five9" },
    "five9-activities": { type: "string", default: "2000" },
    "five9-faults": { type: "string", default: "3" },
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
/**
 * Five9 alone sends about as many a second as are in flight (each waits for its batch's
 * window and import); through the hub it runs at Five9's default limits (20 asynchronous imports a minute, of
 * at most the sends in flight): 2,000 take about 1.5 minutes, 25,000 would take 20.
 */
const FIVE9_TOTAL = Number(values["five9-activities"]);
const FIVE9_FAULTS = Number(values["five9-faults"]);
const KNOWN_PARTS = ["plugin", "hub", "five9"];
const PARTS = new Set(values.parts.split(",").map((p) => p.trim()));
for (const part of PARTS) {
  if (!KNOWN_PARTS.includes(part))
    throw new Error(`--parts: unknown part "${part}", expected some of ${KNOWN_PARTS.join(",")}`);
}
for (const [name, v] of Object.entries({
  activities: TOTAL,
  "batch-size": BATCH_SIZE,
  "window-ms": WINDOW_MS,
  "five9-activities": FIVE9_TOTAL,
})) {
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

async function ciscoThroughHub(dbUrl: string, dbPid: number) {
  const aw = await startTimedAwServer({ campaigns: [CAMPAIGN] });
  try {
    const run = await runThroughHub({
      dbUrl,
      dbPid,
      name: "bench_cisco",
      plugin: {
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
      total: TOTAL,
      perRequest: PER_REQUEST,
      concurrency: CONCURRENCY,
      beforePosting: () => aw.injectUnavailable(UNAVAILABLE),
      async settle(db) {
        const imported = () => aw.appliedImports().reduce((n, i) => n + i.accountNumbers.length, 0);
        await until(() => imported() >= TOTAL, WINDOW_MS * 2 + 600_000, `${TOTAL} contacts imported`, 500);
        const lastImport = Date.now();
        // The flusher records an import after its answer: the outbox is empty once it has.
        const outbox = db.collection("plugin_cce_outbox");
        await until(async () => (await outbox.countDocuments()) === 0, 120_000, "the outbox emptied", 500);
        return { lastImport, outboxEmpty: Date.now() };
      },
      log,
    });
    const { vendorIds, t0, ...figures } = run;
    return {
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
          vendorIds,
          aw.campaignContacts(CAMPAIGN).map((c) => c.accountNumber),
        ),
      },
      ...figures,
    };
  } finally {
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
    let hub: Awaited<ReturnType<typeof ciscoThroughHub>> | undefined;
    if (PARTS.has("hub")) {
      log(`through the hub: ${TOTAL} activities, window ${WINDOW_MS} ms, ${UNAVAILABLE} 503s`);
      hub = await ciscoThroughHub(db.url, db.process.pid!);
      const c = hub.cpu.untilLastQueued;
      log(
        `imports ${hub.imports.appliedSizes.join("/")} (expected ${hub.imports.expectedSizes.join("/")}), ` +
          `503s answered ${hub.imports.unavailableAnswered}, accounts ${JSON.stringify(hub.imports.accounts)}; ` +
          `${hub.queued}/${TOTAL} QUEUED at ${hub.intake.activitiesPerSecond}/s; intake->QUEUED p50 ${hub.intakeToQueuedMs.p50} ms ` +
          `p99 ${hub.intakeToQueuedMs.p99} ms; CPU per contact hub ${c.hubCpuMsPerContact.toFixed(2)} ms, ` +
          `FerretDB ${c.dbCpuMsPerContact.toFixed(2)} ms`,
      );
    }
    let five9:
      | { alone: Awaited<ReturnType<typeof measureFive9Alone>>; hub: Awaited<ReturnType<typeof five9ThroughHub>> }
      | undefined;
    if (PARTS.has("five9")) {
      log(`five9 alone: ${FIVE9_TOTAL} sends, ${CONCURRENCY} in flight, Five9's limits raised`);
      const alone = await measureFive9Alone(`${db.url}/bench_five9_plugin`, FIVE9_TOTAL, CONCURRENCY);
      log(
        `five9 alone: ${alone.recordsPerSecond} records/s, ${alone.vendor.asyncImports} asyncAddRecordsToList ` +
          `(p50 ${alone.vendor.asyncSizes.p50} records), ${alone.failed} failed, keys ${JSON.stringify(alone.vendor.keys)}`,
      );
      log(
        `five9 through the hub: ${FIVE9_TOTAL} activities, Five9's default limits, ${FIVE9_FAULTS} ServiceUnavailable`,
      );
      const viaHub = await five9ThroughHub({
        dbUrl: db.url,
        dbPid: db.process.pid!,
        total: FIVE9_TOTAL,
        perRequest: PER_REQUEST,
        concurrency: CONCURRENCY,
        faults: FIVE9_FAULTS,
        log,
      });
      log(
        `five9 through the hub: ${viaHub.queued}/${FIVE9_TOTAL} QUEUED at ${viaHub.intake.activitiesPerSecond}/s, ` +
          `${viaHub.vendor.asyncImports} asyncAddRecordsToList (p50 ${viaHub.vendor.asyncSizes.p50} records), faults ` +
          `${JSON.stringify(viaHub.vendor.faults)}, keys ${JSON.stringify(viaHub.vendor.keys)}; CPU per contact hub ` +
          `${viaHub.cpu.untilLastQueued.hubCpuMsPerContact.toFixed(2)} ms, FerretDB ${viaHub.cpu.untilLastQueued.dbCpuMsPerContact.toFixed(2)} ms`,
      );
      five9 = { alone, hub: viaHub };
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
        five9Activities: FIVE9_TOTAL,
        five9Faults: FIVE9_FAULTS,
      },
      pluginAlone,
      hub,
      five9,
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
