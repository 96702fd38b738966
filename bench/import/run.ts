/**
 * CSV import benchmark: N rows (default 1,000,000; --rows) of 10 columns with 2 phones, 5%
 * duplicate keys and 1% bad rows, imported through the API (multipart upload, E.164
 * normalisation with zones, dedupe, batched upserts) by a hub on a fresh FerretDB, and, in the
 * same run and store, the same rows written by plain unordered insertMany (what the store takes
 * at best). Reports rows/s of both, their ratio, and peak RSS at 100k rows and at the end.
 * (No DNC scrub yet: DNC lists are item 4 of issue 12.)
 */
import { createWriteStream, mkdtempSync, readFileSync, rmSync, statSync, createReadStream } from "node:fs";
import http from "node:http";
import { tmpdir, cpus } from "node:os";
import path from "node:path";
import { once } from "node:events";
import { parseArgs } from "node:util";
import { MongoClient } from "mongodb";
import { startFerretDb } from "../../core/infra/processes.ts";
import { loadConfig } from "../../core/config/load.ts";
import { startHub } from "../../core/hub.ts";
import { bodyOf, type JobView as Job } from "../../core/audience/import-cli.ts";

const { values } = parseArgs({ options: { rows: { type: "string", default: "1000000" } } });
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

/** Row i (0-based): every 20th repeats an earlier key, every 100th has a bad segment. */
function cells(i: number): string[] {
  const key = i % 20 === 19 ? i - 7 : i;
  const area = [212, 305, 415, 512, 617, 702, 808, 907][i % 8];
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

    // The import, through the API.
    let peak = rssMb();
    let peakAt100k: number | undefined;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb())), 100);
    const boundary = "bench-boundary";
    const options = { mapping: MAPPING, dedupeKey: "id", defaultRegion: "US", mode: "upsert" };
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
      if (peakAt100k === undefined && job.rowsRead >= 100_000) peakAt100k = peak;
      if (job.state !== "running") break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const importSeconds = (performance.now() - started) / 1000;
    const cpuImport = cpu();
    clearInterval(sampler);
    const peakEnd = Math.max(peak, rssMb());
    if (job.state !== "completed") throw new Error(`import ${job.state}: ${job.error}`);

    // The same rows, plain unordered insertMany into the same store.
    const client = await MongoClient.connect(mongoUrl);
    const baseline = client.db().collection("baseline_customers");
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
      },
      plainInsertMany: { seconds: Math.round(insertSeconds * 10) / 10, rowsPerSecond: insertRate },
      // CPU milliseconds per 1,000 rows, of this process (hub and benchmark client) and of
      // FerretDB: what the rates are made of when other work shares the cores.
      cpuMsPer1000Rows: {
        import: perThousand(cpuBefore, cpuImport),
        plainInsertMany: perThousand(cpuImport, cpuInsert),
      },
      ratio: Math.round((importRate / insertRate) * 100) / 100,
      peakRssMb: { at100k: peakAt100k ?? null, atEnd: peakEnd },
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } finally {
    await hub.stop();
    await ferret.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
