/**
 * The same measurements for the five9 plugin against the local Five9 Configuration Web Services
 * (test/vendors/five9-soap-server.ts). Unlike cisco-cce, a five9 send is answered once Five9
 * confirmed its record (asyncAddRecordsToList of at most 100, then getListImportResult), so
 * the sends in flight bound the batch size and Five9's per-minute limits bound the rate.
 *
 * - alone: `total` sends through createFive9 (the hub's kind of storage), `concurrency` of them
 *   in flight as the hub's scheduler holds them, Five9's limits raised out of the way: what
 *   the plugin and the SOAP round trips allow;
 * - through the hub: the plugin's and Five9's default limits (20 asynchronous imports a
 *   minute), a burst of ServiceUnavailable faults injected.
 */
import { MongoClient } from "mongodb";
import { realTimers } from "@dialmesh/sdk";
import { pluginStorage } from "../../core/plugins/storage.ts";
import { createFive9, type Five9Options } from "../../plugins/five9/five9.provider.ts";
import { startFive9Server, type Five9SoapServer } from "../../test/vendors/five9-soap-server.ts";
import { runThroughHub } from "./hub-run.ts";
import { benchContext, benchRequest } from "./plugin-alone.ts";
import { accountCheck, spread, until } from "./report.ts";

const LIST = "Bulk";
const SECRET = "bench-five9-web-connector";
const UNLIMITED = { SingleRecordImport: 1_000_000, AsyncMultiRecordImport: 1_000_000, Query: 1_000_000 };

/** The plugin's options at the local server, its limits the plugin's defaults. */
function five9Options(server: Five9SoapServer): Five9Options {
  return {
    endpoint: server.endpoint,
    username: server.username,
    password: server.password,
    webhookSecret: SECRET,
    listMap: { bulk: LIST },
  };
}

/** What the server saw: import calls and their sizes, faults, each key and number once. */
function vendorSide(server: Five9SoapServer, expectedKeys: readonly string[]) {
  const imports = server.calls.filter(
    (c) => c.operation === "asyncAddRecordsToList" || c.operation === "addRecordToListSimple",
  );
  const records = server.records(LIST);
  const numbers = new Map<string, number>();
  for (const r of records) numbers.set(r.fields.number1 ?? "", (numbers.get(r.fields.number1 ?? "") ?? 0) + 1);
  return {
    asyncImports: server.succeeded("asyncAddRecordsToList").length,
    asyncSizes: spread(server.succeeded("asyncAddRecordsToList").map((c) => c.records ?? 0)),
    singleImports: server.succeeded("addRecordToListSimple").length,
    faults: Object.fromEntries(
      [...new Set(imports.filter((c) => c.fault).map((c) => c.fault!))].map((f) => [
        f,
        imports.filter((c) => c.fault === f).length,
      ]),
    ),
    records: records.length,
    keys: accountCheck(
      expectedKeys,
      records.map((r) => r.key),
    ),
    numbersTwice: [...numbers.values()].filter((n) => n > 1).length,
  };
}

export async function measureFive9Alone(mongoUrl: string, total: number, concurrency: number) {
  const server = await startFive9Server({ lists: [LIST], limitsPerMinute: UNLIMITED });
  const mongo = await MongoClient.connect(mongoUrl);
  const context = benchContext<Five9Options>(
    "f9",
    { ...five9Options(server), asyncPerMinute: 1_000_000, singlePerSecond: 1_000_000 },
    pluginStorage(mongo.db(), "f9"),
  );
  const plugin = createFive9(context, { timers: realTimers });
  try {
    await plugin.start?.();
    const requests = Array.from({ length: total }, (_, i) => benchRequest(i));
    const sendMs: number[] = [];
    let failed = 0;
    let next = 0;
    const t0 = performance.now();
    // `concurrency` sends in flight, a new one as soon as one is answered (the scheduler's shape).
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total) {
          const request = requests[next++]!;
          const started = performance.now();
          try {
            await plugin.send(request);
          } catch {
            failed += 1;
          }
          sendMs.push(performance.now() - started);
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    return {
      sends: total,
      concurrency,
      failed,
      seconds,
      recordsPerSecond: Math.round(total / seconds),
      sendMs: spread(sendMs),
      vendor: vendorSide(
        server,
        requests.map((r) => r.attemptId),
      ),
    };
  } finally {
    await plugin.stop?.();
    await mongo.db().dropDatabase();
    await mongo.close();
    await server.stop();
  }
}

export async function five9ThroughHub(opts: {
  dbUrl: string;
  dbPid: number;
  total: number;
  perRequest: number;
  concurrency: number;
  faults: number;
  log(line: string): void;
}) {
  const server = await startFive9Server({ lists: [LIST] });
  try {
    const run = await runThroughHub({
      dbUrl: opts.dbUrl,
      dbPid: opts.dbPid,
      name: "bench_five9",
      plugin: {
        id: "f9",
        use: "five9",
        options: five9Options(server),
      },
      total: opts.total,
      perRequest: opts.perRequest,
      concurrency: opts.concurrency,
      beforePosting: () => server.injectFault("ServiceUnavailable", opts.faults),
      async settle() {
        // 20 imports a minute of at most `concurrency` records: total / concurrency * 3 s, and room.
        const bound = (Math.ceil(opts.total / Math.min(opts.concurrency, 100)) * 3 + 300) * 1000;
        await until(() => server.records(LIST).length >= opts.total, bound, `${opts.total} records in Five9`, 500);
        return { lastRecord: Date.now() };
      },
      log: opts.log,
    });
    const { vendorIds, ...figures } = run;
    return { vendor: vendorSide(server, vendorIds), ...figures };
  } finally {
    await server.stop();
  }
}
