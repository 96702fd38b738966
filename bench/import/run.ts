/**
 * CSV import benchmark: N rows (default 1,000,000; --rows) of 10 columns with 2 phones, 5%
 * duplicate keys and 1% bad rows, imported through the API (multipart upload, E.164
 * normalisation with zones, dedupe, batched upserts) by a hub on a fresh FerretDB, and, in the
 * same run and store, the same rows written by plain unordered insertMany (what the store takes
 * at best). The import scrubs the rows against a 100,000-entry DNC list (2% of the rows are on
 * it). Reports rows/s of both, their ratio, CPU per 1,000 rows of the hub and of FerretDB, and
 * peak RSS at 100k rows and at the end; and, for comparison, the rate of the import's own
 * documents inserted the same way into a collection with the customers' indexes.
 */
import { createWriteStream, mkdtempSync, readFileSync, rmSync, statSync, createReadStream } from "node:fs";
import http from "node:http";
import { tmpdir, cpus } from "node:os";
import path from "node:path";
import { once } from "node:events";
import { parseArgs } from "node:util";
import { MongoClient, type Document } from "mongodb";
import { startFerretDb } from "../../core/infra/processes.ts";
import { loadConfig } from "../../core/config/load.ts";
import { startHub } from "../../core/hub.ts";
import { bodyOf, type JobView as Job } from "../../core/audience/import-cli.ts";

const { values } = parseArgs({
  options: { rows: { type: "string", default: "1000000" }, "no-dnc": { type: "boolean", default: false } },
});
/** --no-dnc: the same import without the DNC scrub (the list is not even created). */
const DNC = !values["no-dnc"];
const ROWS = Number(values.rows);
if (!Number.isInteger(ROWS) || ROWS < 1000) throw new Error("--rows must be an integer of at least 1000");
const KEY = "bench-import-admin-key-0123456789";
const HEADER = [
  "Account ID",
  "First Name",
  "Last Name",
  "Phone 1",
  "Mobile",
  "Email",
  "Segment",
  "Balance",
  "City",
  "Since",
];
const MAPPING = {
  "Account ID": "id",
  "First Name": "firstName",
  "Last Name": "lastName",
  "Phone 1": "phones[0]",
  Mobile: "phones[1]",
  Email: "email",
  Segment: "attributes.segment",
  Balance: "attributes.balance",
  City: "attributes.city",
  Since: "attributes.since",
};

const AREAS = [212, 305, 415, 512, 617, 702, 808, 907];
const DNC_ENTRIES = 100_000;

/** Row i's first phone in E.164 (what its cell normalises to). */
const e164Phone1 = (i: number) => `+1${AREAS[i % 8]}555${String(i % 10000).padStart(4, "0")}`;

/** Row i (0-based): every 20th repeats an earlier key, every 100th has a bad segment. */
function cells(i: number): string[] {
  const key = i % 20 === 19 ? i - 7 : i;
  const area = AREAS[i % 8];
  return [
    `A${key}`,
    `First${i}`,
    `Last${i}`,
    `(${area}) 555-${String(i % 10000).padStart(4, "0")}`,
    `+44 7911 ${String(100000 + (i % 900000))}`,
    `user${key}@example.com`,
    i % 100 === 50 ? "bronze" : ["gold", "silver", "basic"][i % 3]!,
    (i * 1.25).toFixed(2),
    i % 4 === 3 ? `"Quebec, QC"` : ["Paris", "Austin", "Leeds"][i % 4]!,
    `2025-${String((i % 12) + 1).padStart(2, "0")}-15`,
  ];
}

async function writeCsv(file: string): Promise<void> {
  const out = createWriteStream(file);
  out.write(`${HEADER.join(",")}\n`);
  for (let i = 0; i < ROWS; i++) if (!out.write(`${cells(i).join(",")}\n`)) await once(out, "drain");
  out.end();
  await once(out, "finish");
}

/** CPU seconds (user + system) of a process so far, from /proc (Linux). */
function cpuSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The heap after a full collection when node runs with --expose-gc (`npm run bench:import` does). */
function heapMb(): { heapUsed: number; external: number; arrayBuffers: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  const mb = (n: number) => Math.round(n / 1048576);
  return { heapUsed: mb(m.heapUsed), external: mb(m.external), arrayBuffers: mb(m.arrayBuffers) };
}

function rssMb(): number {
  return Math.round(process.memoryUsage().rss / 2 ** 20);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), "dialmesh-bench-import-"));
  const file = path.join(dir, "customers.csv");
  await writeCsv(file);
  const size = statSync(file).size;
  const ferret = await startFerretDb({ dataDir: path.join(dir, "db") });
  const mongoUrl = `${ferret.url}/bench_import`;
  const config = loadConfig({
    env: {},
    overrides: {
      api: { port: 0, publicUrl: "http://bench.local", keys: [{ id: "admin", key: KEY, roles: ["admin"] }] },
      dataDir: path.join(dir, "data"),
      logLevel: "warn",
    },
  });
  const hub = await startHub(config, { mongoUrl, keys: config.api.keys! });
  const auth = { Authorization: `Bearer ${KEY}` };
  try {
    for (const [name, decl] of Object.entries({
      segment: { type: "enum", values: ["gold", "silver", "basic"] },
      balance: { type: "number" },
      city: { type: "string" },
      since: { type: "date" },
    })) {
      const res = await fetch(`${hub.apiUrl}/api/v1/attributes/${name}`, {
        method: "PUT",
        headers: { ...auth, "Content-Type": "application/json" },
        body: JSON.stringify(decl),
      });
      if (res.status !== 201) throw new Error(`declaring ${name}: ${res.status} ${await res.text()}`);
    }

    // A 100,000-entry DNC list: the first phone of every 50th row (2% of the rows), numbers no
    // row has, and a prefix.
    if (DNC) await loadDncList();
    async function loadDncList(): Promise<void> {
      const put = await fetch(`${hub.apiUrl}/api/v1/dnc-lists/national`, {
        method: "PUT",
        headers: { ...auth, "Content-Type": "application/json" },
        body: JSON.stringify({ name: "National DNC", source: "bench" }),
      });
      if (put.status !== 201) throw new Error(`DNC list: ${put.status} ${await put.text()}`);
      const entries = ["+1907556*"];
      for (let i = 7; i < 10_000; i += 50) entries.push(e164Phone1(i));
      for (let k = 0; entries.length < DNC_ENTRIES; k++)
        entries.push(
          `+1${AREAS[k % 8]}${557 + Math.floor(k / 80_000)}${String(Math.floor(k / 8) % 10_000).padStart(4, "0")}`,
        );
      for (let from = 0; from < entries.length; from += 10_000) {
        const res = await fetch(`${hub.apiUrl}/api/v1/dnc-lists/national/entries`, {
          method: "POST",
          headers: { ...auth, "Content-Type": "application/json" },
          body: JSON.stringify({ entries: entries.slice(from, from + 10_000) }),
        });
        if (res.status !== 200) throw new Error(`DNC entries: ${res.status} ${(await res.text()).slice(0, 300)}`);
      }
    }

    // The import, through the API.
    const rssBefore = rssMb();
    let peak = rssBefore;
    let peakAt100k: number | undefined;
    let heapAt100k: ReturnType<typeof heapMb> | undefined;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb())), 100);
    const boundary = "bench-boundary";
    const options = {
      mapping: MAPPING,
      dedupeKey: "id",
      defaultRegion: "US",
      mode: "upsert",
      ...(DNC ? { dncLists: ["national"] } : {}),
    };
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="options"\r\n\r\n${JSON.stringify(options)}\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="c.csv"\r\n\r\n`,
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const cpu = () => ({ hub: cpuSecondsOf(process.pid), store: cpuSecondsOf(ferret.process.pid!) });
    const cpuBefore = cpu();
    const started = performance.now();
    const req = http.request(`${hub.apiUrl}/api/v1/imports`, {
      method: "POST",
      headers: {
        ...auth,
        "Content-Type": `multipart/form-data; boundary=${boundary}`,
        "Content-Length": head.length + size + tail.length,
      },
    });
    const answered = once(req, "response") as Promise<[http.IncomingMessage]>;
    req.write(head);
    const fileStream = createReadStream(file);
    fileStream.on("end", () => req.end(tail));
    fileStream.pipe(req, { end: false });
    const [res] = await answered;
    // The 202's first line is the job; the response ends with the job.
    const body = await bodyOf(res);
    if (res.statusCode !== 202) throw new Error(`import: ${res.statusCode} ${body}`);
    const id = (JSON.parse(body) as Job).id;
    let job: Job;
    for (;;) {
      job = (await (await fetch(`${hub.apiUrl}/api/v1/imports/${id}`, { headers: auth })).json()) as Job;
      if (peakAt100k === undefined && job.rowsRead >= 100_000) {
        peakAt100k = peak;
        heapAt100k = heapMb();
      }
      if (job.state !== "running") break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const importSeconds = (performance.now() - started) / 1000;
    const cpuImport = cpu();
    clearInterval(sampler);
    const peakEnd = Math.max(peak, rssMb());
    const heapEnd = heapMb();
    if (job.state !== "completed") throw new Error(`import ${job.state}: ${job.error}`);

    // Filter previews over the imported customers: an equality on an indexed field, on an
    // attribute without an index, the same once the attribute is declared `indexed` (and how
    // long that index takes to build), both together, and a range (not answered from an index).
    const previews: Record<string, { ms: number; count: number }> = {};
    const preview = async (name: string, where: unknown) => {
      const saved = await fetch(`${hub.apiUrl}/api/v1/filters/${name}`, {
        method: "PUT",
        headers: { ...auth, "Content-Type": "application/json" },
        body: JSON.stringify({ where }),
      });
      if (saved.status !== 201) throw new Error(`filter ${name}: ${saved.status} ${await saved.text()}`);
      const t = performance.now();
      const res = await fetch(`${hub.apiUrl}/api/v1/filters/${name}/preview`, { headers: auth });
      if (res.status !== 200) throw new Error(`preview ${name}: ${res.status} ${await res.text()}`);
      const { count } = (await res.json()) as { count: number };
      previews[name] = { ms: Math.round(performance.now() - t), count };
    };
    const lastName = { attr: "lastName", op: "eq", value: `Last${Math.floor(ROWS / 2)}` };
    const gold = { attr: "attributes.segment", op: "eq", value: "gold" };
    await preview("lastNameIndexed", lastName);
    await preview("segmentNoIndex", gold);
    const tIndex = performance.now();
    const declared = await fetch(`${hub.apiUrl}/api/v1/attributes/segment`, {
      method: "PUT",
      headers: { ...auth, "Content-Type": "application/json" },
      body: JSON.stringify({ type: "enum", values: ["gold", "silver", "basic"], indexed: true }),
    });
    if (declared.status !== 200) throw new Error(`indexing segment: ${declared.status} ${await declared.text()}`);
    const segmentIndexSeconds = Math.round(performance.now() - tIndex) / 1000;
    await preview("segmentIndexed", gold);
    await preview("segmentIndexedAndLastName", { and: [gold, lastName] });
    await preview("segmentInIndexed", { attr: "attributes.segment", op: "in", value: ["gold", "silver"] });
    await preview("balanceRangeNoIndex", { attr: "attributes.balance", op: "gt", value: 500 });

    // The same rows, plain unordered insertMany into the same store.
    const client = await MongoClient.connect(mongoUrl);
    // The plain insertMany writes into the same store.
    const baseline = client.db().collection("baseline_customers");
    const cpuBeforeInsert = cpu();
    const t0 = performance.now();
    const batch = 1000;
    for (let from = 0; from < ROWS; from += batch) {
      const docs = [];
      for (let i = from; i < Math.min(ROWS, from + batch); i++) {
        const c = cells(i);
        docs.push({
          _id: `${c[0]}#${i}`,
          firstName: c[1],
          lastName: c[2],
          phones: [{ number: c[3] }, { number: c[4] }],
          email: c[5],
          attributes: { segment: c[6], balance: Number(c[7]), city: c[8], since: c[9] },
        });
      }
      await baseline.insertMany(docs as never[], { ordered: false });
    }
    const insertSeconds = (performance.now() - t0) / 1000;
    const cpuInsert = cpu();

    // The import's own documents, inserted the same way into a collection with the customers'
    // indexes: what the store takes at best for what the import has to write.
    const indexed = client.db().collection("baseline_indexed");
    for (const ix of await client.db().collection("customers").listIndexes().toArray())
      if (ix.name !== "_id_")
        await indexed.createIndex(ix.key as Record<string, 1>, {
          name: ix.name as string,
          ...(ix.unique ? { unique: true } : {}),
          ...(ix.sparse ? { sparse: true } : {}),
        });
    let indexedSeconds = 0;
    let indexedDocs = 0;
    const cursor = client.db().collection("customers").find({}).batchSize(1000);
    let docs: Document[] = [];
    const insertIndexed = async () => {
      const t = performance.now();
      await indexed.insertMany(docs, { ordered: false });
      indexedSeconds += (performance.now() - t) / 1000;
      indexedDocs += docs.length;
      docs = [];
    };
    for await (const d of cursor) if (docs.push(d) === 1000) await insertIndexed();
    if (docs.length) await insertIndexed();
    const dncMatches = (
      (await client
        .db()
        .collection("import_jobs")
        .findOne({ _id: job.id as never })) as { dncMatches?: number } | null
    )?.dncMatches;
    await client.close();

    const perThousand = (a: { hub: number; store: number }, b: { hub: number; store: number }) => ({
      hub: Math.round(((b.hub - a.hub) * 1e6) / ROWS),
      store: Math.round(((b.store - a.store) * 1e6) / ROWS),
    });
    const importRate = Math.round(ROWS / importSeconds);
    const insertRate = Math.round(ROWS / insertSeconds);
    const report = {
      rows: ROWS,
      columns: HEADER.length,
      fileMb: Math.round(size / 2 ** 20),
      cpus: cpus().length,
      import: {
        seconds: Math.round(importSeconds * 10) / 10,
        rowsPerSecond: importRate,
        inserted: job.inserted,
        updated: job.updated,
        duplicates: job.duplicates,
        rejected: job.rejected,
        warnings: job.warnings,
        dncMatches,
      },
      plainInsertMany: { seconds: Math.round(insertSeconds * 10) / 10, rowsPerSecond: insertRate },
      // CPU milliseconds per 1,000 rows, of this process (hub and benchmark client) and of
      // FerretDB: what the rates are made of when other work shares the cores.
      cpuMsPer1000Rows: {
        import: perThousand(cpuBefore, cpuImport),
        plainInsertMany: perThousand(cpuBeforeInsert, cpuInsert),
      },
      ratio: Math.round((importRate / insertRate) * 100) / 100,
      importedDocsIntoIndexedCollection: {
        seconds: Math.round(indexedSeconds * 10) / 10,
        rowsPerSecond: Math.round(indexedDocs / indexedSeconds),
        docs: indexedDocs,
      },
      ratioToIndexed: Math.round((importRate / (indexedDocs / indexedSeconds)) * 100) / 100,
      filterPreviews: previews,
      segmentIndexSeconds,
      peakRssMb: { beforeImport: rssBefore, at100k: peakAt100k ?? null, atEnd: peakEnd },
      // What of it is JavaScript (this thread's heap; the mapping worker's is apart) and buffers.
      memoryMb: { at100k: heapAt100k ?? null, atEnd: heapEnd },
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } finally {
    await hub.stop();
    await ferret.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
