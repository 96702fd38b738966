/**
 * The cisco-cce plugin without the hub, in this process with the local AW (as its provider
 * tests drive it, but on real timers):
 *
 * - delivery: the rows of `total` sends, built by the plugin's own contactRow, imported by
 *   BatchDelivery (the plugin's append path: CSV, HTTP, the AW's parse and apply) in batches
 *   of `batchSize`, one after another as the flusher sends them: rows a second at the Cisco
 *   side, with nothing of the outbox;
 * - plugin: the same number of sends through createCiscoCce with the hub's kind of storage
 *   (the durable outbox in FerretDB), sent in waves of the hub's `concurrency`, as the
 *   scheduler holds them: sends a second (each answered once its row is in the outbox) and
 *   rows a second from the first send to the last import applied.
 */
import { tmpdir } from "node:os";
import { MongoClient } from "mongodb";
import { realTimers, type Logger, type PluginContext, type PluginStorage, type SendRequest } from "@dialmesh/sdk";
import { pluginStorage } from "../../core/plugins/storage.ts";
import { newId } from "../../core/domain/ids.ts";
import { BatchDelivery } from "../../plugins/cisco-common/batcher.ts";
import { CiscoAwClient } from "../../plugins/cisco-cce/cisco-cce.api.ts";
import { contactRow, contactsCsv, type ContactRow } from "../../plugins/cisco-cce/cisco-cce.contacts.ts";
import { createCiscoCce, type CiscoCceOptions } from "../../plugins/cisco-cce/cisco-cce.provider.ts";
import { timedStorage, type CallTimes } from "./timed-storage.ts";
import { startTimedAwServer, type TimedImport } from "./timed-aw.ts";
import { accountCheck, until } from "./report.ts";

const CAMPAIGN = 5001;
const NAMES = { plugin: "cisco-cce", server: "Cisco AW", operation: "import" };
const PLUGIN_WINDOW_MS = 10_000;
const quiet: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

export interface PluginAloneResult {
  delivery: { rows: number; seconds: number; rowsPerSecond: number; imports: TimedImport[]; rowBuildMs: number };
  plugin: {
    sends: number;
    concurrency: number;
    sendSeconds: number;
    sendsPerSecond: number;
    batchWindowMs: number;
    /** From the first send to the last import applied, the last (partial) batch's window included. */
    toLastImportSeconds: number;
    fullBatchRows: number;
    /** Rows of the full batches a second, from the first send to the end of the last full import. */
    rowsPerSecond: number;
    /** Time in FerretDB by `<collection>.<method>` (from the send's first to the last import). */
    storageMs: Record<string, CallTimes>;
    /** Status events (refused rows): 0 expected. */
    eventsEmitted: number;
    importSizes: number[];
    accounts: { missing: number; unexpected: number; twice: number };
  };
}

/**
 * What a plugin reads of its context, as the hub gives it (the contract kit's test context
 * imports jest): no rate limit, no conversations, events counted.
 */
export function benchContext<Options>(
  instanceId: string,
  options: Options,
  storage: PluginStorage,
  onEvents: (count: number) => void = () => {},
): PluginContext<Options> {
  return {
    instanceId,
    options,
    logger: quiet,
    webhookUrl: `https://hub.test/webhooks/${instanceId}`,
    dataDir: tmpdir(),
    rateLimiter: { acquire: async () => {} },
    conversations: { lastInboundAt: async () => undefined },
    emit: async (events) => onEvents(events.length),
    storage,
  };
}

/** A send as the hub makes it for the benchmark's activities (customer id and phone, no zone). */
export function benchRequest(i: number): SendRequest {
  return {
    attemptId: newId("att"),
    activityId: newId("act"),
    conversationId: newId("conv"),
    channel: "voice",
    campaignId: "bulk",
    customer: { id: `bulk-${i}`, phone: benchPhone(i) },
    content: {},
  };
}

export function benchPhone(i: number): string {
  return `+1415${String(5_000_000 + i).padStart(7, "0")}`;
}

async function measureDelivery(total: number, batchSize: number): Promise<PluginAloneResult["delivery"]> {
  const aw = await startTimedAwServer({ campaigns: [CAMPAIGN] });
  try {
    const client = new CiscoAwClient({
      baseUrl: aw.baseUrl,
      username: aw.username,
      password: aw.password,
      timeoutMs: 30_000,
    });
    const delivery = new BatchDelivery<ContactRow>({
      sink: {
        append: (campaignId, rows, timeoutMs) => client.importContacts(campaignId, contactsCsv(rows), timeoutMs),
        listed: () => Promise.reject(new Error("no answer is lost here: the list is never read")),
      },
      names: NAMES,
      logger: quiet,
      timers: realTimers,
      stopping: () => false,
    });
    const now = new Date();
    const built = performance.now();
    const rows = Array.from({ length: total }, (_, i) => contactRow(benchRequest(i), "US", now));
    const rowBuildMs = performance.now() - built;
    const t0 = performance.now();
    for (let from = 0; from < total; from += batchSize) {
      const outcome = await delivery.deliver(CAMPAIGN, rows.slice(from, from + batchSize), false);
      if (outcome.failed.length > 0) throw new Error(`delivery failed: ${outcome.failed[0]!.error.message}`);
    }
    const seconds = (performance.now() - t0) / 1000;
    return { rows: total, seconds, rowsPerSecond: Math.round(total / seconds), imports: aw.timings, rowBuildMs };
  } finally {
    await aw.stop();
  }
}

async function measurePlugin(
  mongoUrl: string,
  total: number,
  batchSize: number,
  concurrency: number,
): Promise<PluginAloneResult["plugin"]> {
  const aw = await startTimedAwServer({ campaigns: [CAMPAIGN] });
  const mongo = await MongoClient.connect(mongoUrl);
  const emitted: number[] = [];
  const storageTimes = new Map<string, CallTimes>();
  const context = benchContext<CiscoCceOptions>(
    "cce",
    {
      baseUrl: aw.baseUrl,
      username: aw.username,
      password: aw.password,
      campaignMap: { bulk: CAMPAIGN },
      batchSize,
      // Longer than the sends of a batch take (10,000 in about a second), so that only full
      // batches go before it and the last, partial one goes when it ends: rowsPerSecond
      // counts the full batches only, toLastImportSeconds includes this wait.
      batchWindowMs: PLUGIN_WINDOW_MS,
      // No result reads: only appends are measured.
      pollIntervalMs: 3_600_000,
    },
    timedStorage(pluginStorage(mongo.db(), "cce"), storageTimes),
    // Status events are rows Cisco refused: none are expected, their count is reported.
    (count) => emitted.push(count),
  );
  const plugin = createCiscoCce(context);
  try {
    await plugin.start?.();
    const requests = Array.from({ length: total }, (_, i) => benchRequest(i));
    const t0 = performance.now();
    for (let from = 0; from < total; from += concurrency) {
      await Promise.all(requests.slice(from, from + concurrency).map((r) => plugin.send(r)));
    }
    const sendSeconds = (performance.now() - t0) / 1000;
    const applied = (): number => aw.appliedImports().reduce((n, i) => n + i.accountNumbers.length, 0);
    await until(() => applied() >= total, 300_000, `${total} rows imported by the plugin`, 50);
    const toLastImportSeconds = (performance.now() - t0) / 1000;
    const full = aw.timings.filter((t) => t.status === 200 && t.rows === batchSize);
    const fullEnd = Math.max(...full.map((t) => t.startedMs + t.durationMs));
    return {
      sends: total,
      concurrency,
      sendSeconds,
      sendsPerSecond: Math.round(total / sendSeconds),
      batchWindowMs: PLUGIN_WINDOW_MS,
      toLastImportSeconds,
      fullBatchRows: full.length * batchSize,
      rowsPerSecond: full.length > 0 ? Math.round((full.length * batchSize * 1000) / (fullEnd - t0)) : NaN,
      storageMs: Object.fromEntries(
        [...storageTimes].map(([name, t]) => [
          name,
          { calls: t.calls, totalMs: Math.round(t.totalMs), maxMs: Math.round(t.maxMs) },
        ]),
      ),
      eventsEmitted: emitted.reduce((a, b) => a + b, 0),
      importSizes: aw.appliedImports().map((i) => i.accountNumbers.length),
      accounts: accountCheck(
        requests.map((r) => r.attemptId),
        aw.campaignContacts(CAMPAIGN).map((c) => c.accountNumber),
      ),
    };
  } finally {
    await plugin.stop?.();
    await mongo.db().dropDatabase();
    await mongo.close();
    await aw.stop();
  }
}

export async function measurePluginAlone(opts: {
  mongoUrl: string;
  total: number;
  batchSize: number;
  concurrency: number;
}): Promise<PluginAloneResult> {
  const delivery = await measureDelivery(opts.total, opts.batchSize);
  const plugin = await measurePlugin(opts.mongoUrl, opts.total, opts.batchSize, opts.concurrency);
  return { delivery, plugin };
}
