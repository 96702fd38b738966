/**
 * CSV imports against real hubs on FerretDB, with files generated here: a BOM, CRLF, quotes,
 * 50 columns, bad rows and duplicates at known lines; Latin-1 vs UTF-8; bad syntax; two nodes
 * importing one file at once; an interrupted job found by the sweep and resumed; cancel.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, test } from "@jest/globals";
import { MongoClient } from "mongodb";
import { eventually, startTestHub, TEST_KEYS, type TestHub } from "../support/hub.ts";
import { freshDatabaseUrl } from "../support/mongo.ts";
import { ZERO_COUNTERS } from "../../core/store/imports.ts";

interface Job {
  id: string;
  state: string;
  rowsRead: number;
  inserted: number;
  updated: number;
  duplicates: number;
  rejected: number;
  skipped: number;
  warnings: number;
  landedBefore: number;
  committedThroughLine: number;
  landedAfterCommit?: number[];
  error?: string;
}

const MAPPING = {
  "Account ID": "id",
  "First Name": "firstName",
  "Last Name": "lastName",
  "Phone 1": "phones[0]",
  Mobile: "phones[1]",
  Email: "email",
  Segment: "attributes.segment",
  Balance: "attributes.balance",
};
const FILLER = Array.from({ length: 42 }, (_, i) => `Extra ${i + 1}`);
const HEADER = [...Object.keys(MAPPING), ...FILLER];

const csvCell = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

/** Row for data line `line` (the header is line 1); `override` replaces mapped cells. */
function row(line: number, override: Partial<Record<keyof typeof MAPPING, string>> = {}): string[] {
  const n = line - 1;
  const cells: Record<string, string> = {
    "Account ID": `A${n}`,
    "First Name": n % 7 === 0 ? `Jo, "the ${n}th"` : `First${n}`,
    "Last Name": `Last${n}`,
    "Phone 1": `212 555 ${String(n % 10000).padStart(4, "0")}`,
    Mobile: `+44 7911 1${String(n % 100000).padStart(5, "0")}`,
    Email: `User${n}@Example.com`,
    Segment: n % 2 ? "gold" : "silver",
    Balance: String(n * 1.5),
    ...override,
  };
  return [...Object.keys(MAPPING).map((k) => cells[k]!), ...FILLER.map((f) => `${f}-${n}`)];
}

function csv(rows: string[][], { bom = false, eol = "\r\n" } = {}): Buffer {
  const text = [HEADER, ...rows].map((r) => r.map(csvCell).join(",")).join(eol) + eol;
  return Buffer.concat([bom ? Buffer.from([0xef, 0xbb, 0xbf]) : Buffer.alloc(0), Buffer.from(text)]);
}

async function upload(hub: TestHub, file: Buffer, options: Record<string, unknown>) {
  const form = new FormData();
  form.append("options", JSON.stringify(options));
  form.append("file", new Blob([new Uint8Array(file)], { type: "text/csv" }), "customers.csv");
  const res = await fetch(`${hub.apiUrl}/api/v1/imports`, {
    method: "POST",
    headers: { Authorization: `Bearer ${TEST_KEYS.admin}` },
    body: form,
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as Job & { details: { path: string; message: string }[] }, text };
}

/** Follows the job's Server-Sent Events to the end; returns the progress events and the final job. */
async function follow(hub: TestHub, id: string): Promise<{ events: Job[]; done: Job }> {
  const res = await fetch(`${hub.apiUrl}/api/v1/imports/${id}/events`, {
    headers: { Authorization: `Bearer ${TEST_KEYS.reader}` },
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
  const text = await res.text();
  const events = [...text.matchAll(/event: (\w+)\n(?:id: .*\n)?data: (.*)\n\n/g)].map((m) => ({
    type: m[1]!,
    job: JSON.parse(m[2]!) as Job,
  }));
  const done = events.find((e) => e.type === "done");
  assert.ok(done, `no done event in ${text.slice(0, 500)}`);
  return { events: events.filter((e) => e.type === "progress").map((e) => e.job), done: done.job };
}

const OPTIONS = { mapping: MAPPING, dedupeKey: "id", defaultRegion: "US", mode: "upsert" };

describe("CSV imports", () => {
  const mongoUrl = freshDatabaseUrl("imports");
  let hub: TestHub;
  let other: TestHub;
  let client: MongoClient;
  const customers = () => client.db().collection("customers");

  beforeAll(async () => {
    hub = await startTestHub({}, { mongoUrl, nodeId: "import-a" });
    other = await startTestHub({}, { mongoUrl, nodeId: "import-b" });
    client = await MongoClient.connect(mongoUrl);
    for (const [name, decl] of Object.entries({
      segment: { type: "enum", values: ["gold", "silver"] },
      balance: { type: "number" },
    }))
      assert.equal((await hub.api("PUT", `/api/v1/attributes/${name}`, decl)).status, 201);
  });
  afterAll(async () => {
    await client?.db().dropDatabase();
    await client?.close();
    await other?.stop();
    await hub?.stop();
  });

  test("a 50-column file with a BOM, CRLF and quotes: bad rows rejected at their lines, duplicates counted, the rest imported", async () => {
    const rows: string[][] = [];
    for (let line = 2; line <= 3001; line++) {
      if (line === 10) rows.push(row(line, { Segment: "bronze" }));
      else if (line === 1500) rows.push(row(line, { Balance: "lots" }));
      else if (line === 2500) rows.push(row(line, { "Account ID": "" }));
      else if (line === 20) rows.push(row(5, { "First Name": "Second of A4" }));
      else if (line === 2100) rows.push(row(30));
      else if (line === 40) rows.push(row(line, { Mobile: "not a phone" }));
      else rows.push(row(line));
    }
    const res = await upload(hub, csv(rows, { bom: true }), { ...OPTIONS, mappingId: "crm" });
    assert.equal(res.status, 202, res.text);
    const { events, done } = await follow(hub, res.body.id);
    assert.ok(events.length >= 1);
    assert.equal(done.state, "completed", done.error);
    assert.deepEqual(
      [done.rowsRead, done.inserted, done.updated, done.duplicates, done.rejected, done.warnings],
      [3000, 2995, 0, 2, 3, 1],
    );
    assert.equal(done.committedThroughLine, 3001);
    assert.equal(await customers().countDocuments(), 2995);

    const a6 = (await hub.api("GET", "/api/v1/customers/A7")).body as {
      firstName: string;
      email: string;
      phones: { number: string; label: string }[];
    };
    assert.equal(a6.firstName, 'Jo, "the 7th"');
    assert.equal(a6.email, "user7@example.com");
    assert.deepEqual(
      a6.phones.map((p) => [p.number, p.label]),
      [
        ["+12125550007", "Phone 1"],
        ["+447911100007", "Mobile"],
      ],
    );
    const a4 = (await hub.api("GET", "/api/v1/customers/A4")).body as { firstName: string };
    assert.equal(a4.firstName, "First4", "the first row of a key wins");
    const a39 = (await hub.api("GET", "/api/v1/customers/A39")).body as { phones: unknown[] };
    assert.equal(a39.phones.length, 1, "the bad mobile (line 40) was dropped");

    const rejected = await fetch(`${hub.apiUrl}/api/v1/imports/${res.body.id}/rejected`, {
      headers: { Authorization: `Bearer ${TEST_KEYS.reader}` },
    });
    assert.match(rejected.headers.get("content-type") ?? "", /^text\/csv/);
    const lines = (await rejected.text()).trim().split("\r\n");
    assert.equal(lines[0], `line,column,reason,${HEADER.join(",")}`);
    assert.deepEqual(
      lines.slice(1).map((l) => l.split(",").slice(0, 2)),
      [
        ["10", "Segment"],
        ["1500", "Balance"],
        ["2500", "Account ID"],
      ],
    );
    assert.match(lines[1]!, /""bronze"" is not one of ""gold"", ""silver""/);
  });

  test("Latin-1 bytes: a 400 with the line before anything is written; with encoding latin1 they import", async () => {
    const before = await customers().countDocuments();
    const body = Buffer.concat([
      csv([row(2)]),
      Buffer.from(`${row(3, { "Account ID": "L1", "First Name": "René" }).join(",")}\r\n`, "latin1"),
    ]);
    const bad = await upload(hub, body, OPTIONS);
    assert.equal(bad.status, 400, bad.text);
    assert.deepEqual(
      bad.body.details.map((d) => d.path),
      ["/file/line/3"],
    );
    assert.match(bad.body.details[0]!.message, /not valid UTF-8.*"encoding": "latin1"/);
    assert.equal(await customers().countDocuments(), before, "nothing written");

    const ok = await upload(hub, body, { ...OPTIONS, encoding: "latin1" });
    assert.equal(ok.status, 202, ok.text);
    assert.equal((await follow(hub, ok.body.id)).done.state, "completed");
    assert.equal(((await hub.api("GET", "/api/v1/customers/L1")).body as { firstName: string }).firstName, "René");
  });

  test("a wrong delimiter, a missing column and a bad quote are 400s with their line", async () => {
    const semicolons = Buffer.from(`${HEADER.join(";")}\n${row(2).join(";")}\n`);
    const wrong = await upload(hub, semicolons, OPTIONS);
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.details[0]!.path, "/file/line/1");
    assert.match(wrong.body.details[0]!.message, /delimited by ";"/);

    const missing = await upload(hub, csv([row(2)]), {
      ...OPTIONS,
      mapping: { ...MAPPING, Region: "attributes.segment", Segment: "lastName" },
    });
    assert.equal(missing.status, 400);

    const quotes = Buffer.concat([csv([row(2), row(3)]), Buffer.from(`A9,"Bad"quote,x\r\n`)]);
    const bad = await upload(hub, quotes, OPTIONS);
    assert.equal(bad.status, 400);
    assert.deepEqual(
      bad.body.details.map((d) => d.path),
      ["/file/line/4"],
    );
  });

  test("text/csv with a saved mapping, update-only: known customers updated, unknown ones skipped", async () => {
    const body = csv([row(2, { Balance: "999" }), row(3, { "Account ID": "NEW1" })]);
    const res = await fetch(`${hub.apiUrl}/api/v1/imports?mappingId=crm&mode=update-only&defaultRegion=US`, {
      method: "POST",
      headers: { Authorization: `Bearer ${TEST_KEYS.admin}`, "Content-Type": "text/csv" },
      body: new Uint8Array(body),
    });
    assert.equal(res.status, 202, await res.clone().text());
    const { done } = await follow(hub, ((await res.json()) as Job).id);
    assert.deepEqual([done.state, done.updated, done.inserted, done.skipped], ["completed", 1, 0, 1]);
    assert.equal(
      ((await hub.api("GET", "/api/v1/customers/A1")).body as { attributes: { balance: number } }).attributes.balance,
      999,
    );
  });

  test("two nodes importing the same file at once make each customer once (email as the dedupe key)", async () => {
    const rows = Array.from({ length: 2500 }, (_, i) =>
      row(i + 2, { "Account ID": `T${i}`, Email: `twin${i % 2000}@example.net` }),
    );
    const file = csv(rows);
    const mapping = Object.fromEntries(Object.entries(MAPPING).filter(([, t]) => t !== "id"));
    const opts = { ...OPTIONS, mapping, dedupeKey: "email" };
    const [a, b] = await Promise.all([upload(hub, file, opts), upload(other, file, opts)]);
    assert.equal(a.status, 202, a.text);
    assert.equal(b.status, 202, b.text);
    const [ja, jb] = await Promise.all([follow(hub, a.body.id), follow(other, b.body.id)]);
    assert.equal(ja.done.state, "completed");
    assert.equal(jb.done.state, "completed");
    assert.equal(await customers().countDocuments({ email: /^twin/ }), 2000);
    assert.equal(ja.done.inserted + jb.done.inserted, 2000, "each customer inserted by one node only");
    // A repeated key is a duplicate when this job wrote it last, an update when the other did.
    assert.equal(ja.done.inserted + ja.done.updated + ja.done.duplicates, 2500);
  });

  test("a job whose node died is marked interrupted with exactly what landed, and resumes", async () => {
    const rows = Array.from({ length: 30 }, (_, i) => row(i + 2, { "Account ID": `R${i}` }));
    const file = csv(rows);
    // What a node that died mid-batch leaves: lines 2-11 committed, lines 12-14 written, no more.
    const id = "imp_deadnode1";
    const old = new Date(Date.now() - 120_000);
    await client
      .db()
      .collection("import_jobs")
      .insertOne({
        _id: id as never,
        state: "running",
        node: "gone",
        mode: "upsert",
        dedupeKey: "id",
        header: HEADER,
        ...ZERO_COUNTERS,
        rowsRead: 10,
        inserted: 10,
        bytesRead: 0,
        committedThroughLine: 11,
        rate: 0,
        eta: null,
        fraction: null,
        cancelRequested: false,
        startedAt: old,
        heartbeatAt: old,
      });
    await customers().insertMany(
      Array.from({ length: 13 }, (_, i) => ({
        _id: `R${i}` as never,
        importJobId: id,
        importLine: i + 2,
        createdAt: old,
        updatedAt: old,
      })),
    );
    const interrupted = await eventually(
      async () => {
        const j = (await hub.api("GET", `/api/v1/imports/${id}`)).body as Job;
        return j.state === "interrupted" && j;
      },
      15_000,
      "the sweep",
    );
    assert.deepEqual(interrupted.landedAfterCommit, [12, 13, 14]);
    assert.match(interrupted.error!, /through line 11 are settled, and lines 12, 13, 14 after it landed/);

    const res = await upload(other, file, { ...OPTIONS, resume: id });
    assert.equal(res.status, 202, res.text);
    const { done } = await follow(other, id);
    assert.equal(done.state, "completed");
    assert.deepEqual([done.rowsRead, done.inserted, done.landedBefore, done.duplicates], [30, 10 + 17, 3, 0]);
    assert.equal(await customers().countDocuments({ _id: { $regex: /^R/ } as never }), 30);
  });

  test("the 202 is a finished answer once the upload is in; cancel stops the running import after its batch", async () => {
    const ROWS = 40_000;
    const lines = Array.from({ length: ROWS }, (_, i) =>
      row(2 + i, { "Account ID": `X${2 + i}` })
        .map(csvCell)
        .join(","),
    );
    // `upload` reads the whole answer: it returns only once the response has ended.
    const res = await upload(hub, Buffer.from(`${HEADER.join(",")}\r\n${lines.join("\r\n")}\r\n`), OPTIONS);
    assert.equal(res.status, 202, res.text);
    const cancel = await hub.api("POST", `/api/v1/imports/${res.body.id}/cancel`);
    assert.equal(cancel.status, 202);
    const { done } = await follow(hub, res.body.id);
    assert.equal(done.state, "cancelled");
    assert.ok(done.rowsRead < ROWS, `stopped early (${done.rowsRead} rows)`);
    assert.equal(await customers().countDocuments({ _id: { $regex: /^X/ } as never }), done.inserted);
    // The spooled upload (personal data) is gone with its job.
    await eventually(async () => readdirSync(path.join(hub.dataDir, "imports")).length === 0, 5_000, "spool emptied");
  });
  test("DNC lists named by the import: listed rows are counted, and with dncAction reject not imported", async () => {
    assert.equal((await hub.api("PUT", "/api/v1/dnc-lists/natl", { name: "National" })).status, 201);
    const load = await hub.api("POST", "/api/v1/dnc-lists/natl/entries", {
      // Row 3's first phone, row 5's email, and the mobiles of rows 10-19 by a prefix.
      entries: ["+12125550003", "user5@example.com", "+44791110001*"],
    });
    assert.equal(load.status, 200, JSON.stringify(load.body));
    const file = (prefix: string) =>
      csv(Array.from({ length: 30 }, (_, i) => row(i + 2, { "Account ID": `${prefix}${i + 1}` })));
    const dncMatchesOf = async (id: string) =>
      ((await hub.api("GET", `/api/v1/imports/${id}`)).body as { dncMatches?: number }).dncMatches;

    const rejecting = await upload(hub, file("D"), { ...OPTIONS, dncLists: ["natl"], dncAction: "reject" });
    assert.equal(rejecting.status, 202, rejecting.text);
    const { done } = await follow(hub, rejecting.body.id);
    assert.equal(done.state, "completed", done.error);
    assert.deepEqual([done.rowsRead, done.inserted, done.rejected], [30, 18, 12]);
    assert.equal(await dncMatchesOf(done.id), 12);
    const rejected = await fetch(`${hub.apiUrl}/api/v1/imports/${done.id}/rejected`, {
      headers: { Authorization: `Bearer ${TEST_KEYS.reader}` },
    });
    const lines = (await rejected.text()).trim().split("\r\n").slice(1);
    assert.deepEqual(
      lines.map((l) => l.split(",").slice(0, 3)),
      [
        ["4", "Phone 1", "DNC:natl"],
        ["6", "Email", "DNC:natl"],
        ...Array.from({ length: 10 }, (_, i) => [String(i + 11), "Mobile", "DNC:natl"]),
      ],
    );
    assert.equal(await customers().countDocuments({ _id: { $in: ["D3", "D5", "D10"] } as never }), 0);

    const flagging = await upload(hub, file("E"), { ...OPTIONS, dncLists: ["natl"] });
    const flagged = (await follow(hub, flagging.body.id)).done;
    assert.deepEqual([flagged.state, flagged.inserted, flagged.rejected], ["completed", 30, 0]);
    assert.equal(await dncMatchesOf(flagged.id), 12);

    // A list that does not exist is a 400 at intake, and nothing is written.
    const unknown = await upload(hub, file("F"), { ...OPTIONS, dncLists: ["natl", "nope"] });
    assert.equal(unknown.status, 400, unknown.text);
    assert.deepEqual(
      unknown.body.details.map((d) => d.path),
      ["/options/dncLists/1"],
    );
    assert.match(unknown.body.details[0]!.message, /"nope" is not a DNC list/);
    assert.equal(await customers().countDocuments({ _id: { $regex: /^F/ } as never }), 0);

    const bad = await upload(hub, file("G"), { ...OPTIONS, dncLists: ["a:b"], dncAction: "drop" });
    assert.equal(bad.status, 400);
    assert.deepEqual(
      bad.body.details.map((d) => d.path),
      ["/options/dncLists/0", "/options/dncAction"],
    );
  });
});
