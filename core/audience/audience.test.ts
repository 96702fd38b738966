/** The audience's pure parts: declarations, customer normalisation, CSV mapping, batches, progress. */
import { describe, test } from "@jest/globals";
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import type { CountryCode } from "libphonenumber-js";
import { normalizePhone } from "@dialmesh/sdk";
import { loadPhoneZoneTable } from "../regulation/load.ts";
import { locateCalledParty } from "../regulation/phone-zones.ts";
import { normalizeCustomerPhone } from "./contact-points.ts";
import { attributeValidator, coerceCell, parseDeclaration, type AttributeDeclaration } from "./attributes.ts";
import { normalizeCustomer } from "./customer.ts";
import {
  customerIdFor,
  isRejected,
  mapRow,
  parseImportOptions,
  planBatch,
  planColumns,
  type ImportOptions,
  type MappedRow,
} from "./csv-mapping.ts";
import { CsvFormatError, firstInvalidUtf8, readCsv } from "./csv-source.ts";
import { progressLine, progressOf } from "./progress.ts";

const zones = loadPhoneZoneTable();
const declarations: AttributeDeclaration[] = [
  { name: "segment", type: "enum", values: ["gold", "silver"], required: false, unique: false },
  { name: "balance", type: "number", required: false, unique: false },
  { name: "vip", type: "boolean", required: false, unique: false },
  { name: "since", type: "date", required: false, unique: false },
];

describe("attribute declarations", () => {
  test("an enum needs values; other types refuse them; the name is checked", () => {
    assert.deepEqual(parseDeclaration("segment", { type: "enum", values: ["gold"] }), {
      declaration: { name: "segment", type: "enum", values: ["gold"], required: false, unique: false, indexed: false },
    });
    const noValues = parseDeclaration("segment", { type: "enum" });
    assert.ok("details" in noValues && noValues.details[0]!.path === "/values");
    const values = parseDeclaration("n", { type: "number", values: ["1"] });
    assert.ok("details" in values && values.details[0]!.path === "/values");
    const badType = parseDeclaration("n", { type: "money" });
    assert.ok(
      "details" in badType &&
        badType.details[0]!.path === "/type" &&
        /"string", "number"/.test(badType.details[0]!.message),
    );
    const badName = parseDeclaration("a.b", { type: "string" });
    assert.ok("details" in badName && badName.details[0]!.path === "/name");
  });

  test("attributes are validated with JSON pointers, what was wrong and what was expected", () => {
    const validate = attributeValidator([...declarations, { name: "tier", type: "string", required: true }]);
    const details = validate({ segment: "bronze", balance: "12", colour: "red" });
    const byPath = Object.fromEntries(details.map((d) => [d.path, d.message]));
    assert.match(byPath["/attributes/segment"]!, /"bronze".*expected one of "gold", "silver"/);
    assert.match(byPath["/attributes/balance"]!, /"12".*expected a number/);
    assert.match(byPath["/attributes/colour"]!, /not a declared attribute/);
    assert.match(byPath["/attributes/tier"]!, /is required/);
    assert.deepEqual(validate({ segment: "gold", tier: "a" }), []);
  });

  test("CSV cells become typed values, or say why not", () => {
    const [segment, balance, vip, since] = declarations as [
      AttributeDeclaration,
      AttributeDeclaration,
      AttributeDeclaration,
      AttributeDeclaration,
    ];
    assert.deepEqual(coerceCell(balance, " 12.5 "), { value: 12.5 });
    assert.ok("error" in coerceCell(balance, "1,5"));
    assert.deepEqual(coerceCell(vip, "Yes"), { value: true });
    assert.deepEqual(coerceCell(since, "2026-01-31"), { value: "2026-01-31T00:00:00.000Z" });
    assert.ok("error" in coerceCell(since, "31/01/2026"));
    assert.deepEqual(coerceCell(segment, ""), { absent: true });
    assert.match((coerceCell(segment, "bronze") as { error: string }).error, /not one of "gold", "silver"/);
  });
});

describe("customers", () => {
  test("phones to E.164 with labels and zones, the email lower-cased, in order and once", () => {
    const out = normalizeCustomer(
      "c1",
      {
        firstName: " Ada ",
        email: " Ada@Example.COM ",
        phones: ["(212) 555-0100", { number: "+44 20 7946 0958", label: "Mobile" }, "+1 212 555 0100"],
        attributes: { segment: "gold" },
      },
      { declarations, defaultRegion: "US", zones },
    );
    assert.ok("customer" in out);
    assert.equal(out.customer.firstName, "Ada");
    assert.equal(out.customer.email, "ada@example.com");
    assert.deepEqual(
      out.customer.phones.map((p) => [p.number, p.label]),
      [
        ["+12125550100", "phone 1"],
        ["+442079460958", "Mobile"],
      ],
    );
    assert.ok(out.customer.phones[0]!.zones.includes("America/New_York"));
    assert.ok(out.customer.phones[1]!.zones.includes("Europe/London"));
  });

  test("every problem is reported at its pointer", () => {
    const out = normalizeCustomer(
      "bad/id",
      { email: "nope", phones: ["12"], timezone: "Mars/Olympus", attributes: { segment: 3 }, colour: 1 },
      { declarations, defaultRegion: undefined, zones },
    );
    assert.ok("details" in out);
    assert.deepEqual(out.details.map((d) => d.path).sort(), [
      "/attributes/segment",
      "/colour",
      "/email",
      "/id",
      "/phones/0",
      "/timezone",
    ]);
  });
});

const mapping = {
  "Account ID": "id",
  "First Name": "firstName",
  "Phone 1": "phones[0]",
  Mobile: "phones[1]",
  Email: "email",
  Segment: "attributes.segment",
  Balance: "attributes.balance",
};

function options(extra: Record<string, unknown> = {}): ImportOptions {
  const parsed = parseImportOptions({ mapping, dedupeKey: "id", defaultRegion: "US", ...extra }, declarations);
  assert.ok("options" in parsed, JSON.stringify(parsed));
  return parsed.options;
}

describe("CSV mapping", () => {
  test("options are checked against the declarations", () => {
    const bad = parseImportOptions(
      {
        mapping: { A: "attributes.colour", B: "phone", C: "email", D: "email" },
        dedupeKey: "phones[0]",
        mode: "merge",
      },
      declarations,
    );
    assert.ok("details" in bad);
    const paths = bad.details.map((d) => d.path);
    assert.ok(paths.includes("/options/mapping/A"));
    assert.ok(paths.includes("/options/mapping/B"));
    assert.ok(paths.includes("/options/mapping/D"));
    assert.ok(paths.includes("/options/mode"));
    assert.ok(paths.includes("/options/dedupeKey"));
    const saved = parseImportOptions({ mappingId: "crm" }, declarations, mapping);
    assert.ok("options" in saved && saved.options.mapping === mapping);
    const unknown = parseImportOptions({ mappingId: "crm" }, declarations);
    assert.ok("details" in unknown && /no mapping is saved as "crm"/.test(unknown.details[0]!.message));
  });

  test("a mapped column missing from the header is an error on line 1; a one-column header suggests the delimiter", () => {
    const missing = planColumns(["Account ID", "First Name"], options(), declarations);
    assert.ok("error" in missing && /^line 1: the mapped columns "Phone 1", "Mobile"/.test(missing.error));
    const semicolons = planColumns(["Account ID;First Name;Phone 1"], options(), declarations);
    assert.ok("error" in semicolons && /delimited by ";"/.test(semicolons.error));
  });

  test("rows map to customer updates; bad values reject the row with the column; bad phones are dropped with a warning", () => {
    const header = ["Account ID", "First Name", "Phone 1", "Mobile", "Email", "Segment", "Balance"];
    const planned = planColumns(header, options(), declarations);
    assert.ok("plan" in planned);
    const row = mapRow(
      ["A1", "Ada", "212 555 0100", "not a phone", "ADA@x.org", "gold", "10.5"],
      2,
      planned.plan,
      zones,
    );
    assert.ok(!isRejected(row));
    assert.equal(row.id, "A1");
    assert.deepEqual(row.set["attributes.segment"], "gold");
    assert.deepEqual(row.set["attributes.balance"], 10.5);
    assert.equal(row.set.email, "ada@x.org");
    assert.deepEqual(
      (row.set.phones as { number: string; label: string }[]).map((p) => [p.number, p.label]),
      [["+12125550100", "Phone 1"]],
    );
    assert.equal(row.warnings.length, 1);
    assert.equal(row.warnings[0]!.column, "Mobile");

    const enumBad = mapRow(["A2", "", "", "", "", "bronze", ""], 3, planned.plan, zones);
    assert.ok(isRejected(enumBad) && enumBad.column === "Segment" && enumBad.line === 3);
    const noKey = mapRow(["", "Bob", "", "", "", "", ""], 4, planned.plan, zones);
    assert.ok(isRejected(noKey) && /dedupe key id is empty/.test(noKey.reason));
    const short = mapRow(["A3"], 5, planned.plan, zones);
    assert.ok(isRejected(short) && /has 1 field, the header has 7/.test(short.reason));
  });

  test("a dedupe key other than id gives the same deterministic id for the same normalised value", () => {
    const opts = options({ mapping: { E: "email", N: "firstName" }, dedupeKey: "email" });
    const planned = planColumns(["E", "N"], opts, declarations);
    assert.ok("plan" in planned);
    const a = mapRow(["Ada@X.org", "Ada"], 2, planned.plan, zones) as MappedRow;
    const b = mapRow([" ada@x.org", "A."], 3, planned.plan, zones) as MappedRow;
    assert.equal(a.id, b.id);
    assert.equal(a.id, customerIdFor("email", "ada@x.org"));
    assert.notEqual(a.id, customerIdFor("phones[0]", "ada@x.org"));
  });

  test("a batch: the first row of a key wins, the mode decides about existing customers, a resumed job skips its own rows", () => {
    const row = (id: string, line: number): MappedRow => ({ id, line, set: {}, warnings: [] });
    const rows = [row("a", 10), row("b", 11), row("a", 12), row("c", 13), row("d", 14)];
    const existing = new Map([
      ["b", { importJobId: "other" }],
      ["c", { importJobId: "job1", importLine: 3 }],
      ["d", { importJobId: "job1", importLine: 14 }],
    ]);
    const upsert = planBatch(rows, existing, "upsert", "job1");
    assert.deepEqual(
      upsert.writes.map((w) => [w.row.id, w.exists]),
      [
        ["a", false],
        ["b", true],
      ],
    );
    assert.deepEqual(upsert.duplicates, [
      { line: 12, firstLine: 10 },
      { line: 13, firstLine: 3 },
    ]);
    assert.equal(upsert.landedBefore, 1);
    const insertOnly = planBatch(rows, existing, "insert-only", "job1");
    assert.deepEqual(
      insertOnly.writes.map((w) => w.row.id),
      ["a"],
    );
    assert.deepEqual(
      insertOnly.skipped.map((s) => s.line),
      [11],
    );
    const updateOnly = planBatch(rows, existing, "update-only", "job1");
    assert.deepEqual(
      updateOnly.writes.map((w) => w.row.id),
      ["b"],
    );
    assert.deepEqual(
      updateOnly.skipped.map((s) => s.line),
      [10],
    );
  });

  test("a key the previous batch wrote (still landing, so not found by the lookup) is a duplicate of its line", () => {
    const row = (id: string, line: number): MappedRow => ({ id, line, set: {}, warnings: [] });
    const plan = planBatch([row("a", 1002), row("b", 1003)], new Map(), "upsert", "job1", new Map([["a", 640]]));
    assert.deepEqual(
      plan.writes.map((w) => w.row.id),
      ["b"],
    );
    assert.deepEqual(plan.duplicates, [{ line: 1002, firstLine: 640 }]);
  });
});

describe("customer phones", () => {
  test("E.164 and zones as the SDK's normalizePhone and the dialer's locateCalledParty give them", () => {
    const inputs: [string, CountryCode | undefined][] = [
      ["(212) 555-0142", "US"],
      ["(416) 555-0142", "US"],
      ["+1 876 555 0142", undefined],
      ["787 555 0142", "US"],
      ["+44 7911 123456", "US"],
      ["07624 369230", "GB"],
      ["+44 1481 256789", undefined],
      ["+7 701 123 4567", undefined],
      ["+7 912 345 6789", undefined],
      ["+33 6 12 34 56 78", undefined],
      ["+61 2 9374 4000", undefined],
      ["whatsapp:+4915112345678", undefined],
      ["+800 1234 5678", undefined],
      ["555-0142", "US"],
      ["not a phone", "US"],
    ];
    // Twice: the second pass answers from the zone cache.
    for (let pass = 0; pass < 2; pass++)
      for (const [input, region] of inputs) {
        const number = normalizePhone(input, region);
        const phone = normalizeCustomerPhone(input, "Phone 1", region, zones);
        assert.equal(phone?.number, number, input);
        if (number) assert.deepEqual(phone!.zones, locateCalledParty(zones, number).zones, input);
      }
  });
});

async function records(data: Buffer | string, opts: { delimiter?: string; encoding?: "utf-8" | "latin1" } = {}) {
  const src = readCsv(Readable.from([Buffer.from(data)]), {
    delimiter: opts.delimiter ?? ",",
    encoding: opts.encoding ?? "utf-8",
  });
  const out: { fields: string[]; line: number }[] = [];
  for await (const r of src.records) out.push(r);
  return out;
}

describe("CSV source", () => {
  test("quotes, CRLF and a BOM; lines are counted from the header", async () => {
    const rows = await records('\uFEFFa,b\r\n"x, ""y""",2\r\n\r\n"multi\nline",3\r\n');
    assert.deepEqual(rows, [
      { fields: ["a", "b"], line: 1 },
      { fields: ['x, "y"', "2"], line: 2 },
      { fields: ["multi\nline", "3"], line: 5 },
    ]);
  });

  test("Latin-1 bytes fail as UTF-8 with their line, and read right with encoding latin1", async () => {
    const latin1 = Buffer.concat([Buffer.from("name\nok\n"), Buffer.from("Ren\xe9\n", "latin1")]);
    await assert.rejects(
      records(latin1),
      (e: unknown) => e instanceof CsvFormatError && e.line === 3 && /not valid UTF-8.*latin1/.test(e.message),
    );
    assert.deepEqual(
      (await records(latin1, { encoding: "latin1" })).map((r) => r.fields[0]),
      ["name", "ok", "René"],
    );
  });

  test("a bad quote is an error with its line", async () => {
    await assert.rejects(records('a,b\n1,2\n"x"y,3\n'), (e: unknown) => e instanceof CsvFormatError && e.line === 3);
    await assert.rejects(
      records('a,b\n1,"open\n'),
      (e: unknown) => e instanceof CsvFormatError && /never closed/.test(e.message),
    );
  });

  test("firstInvalidUtf8 finds the first bad byte and accepts a sequence cut at the end", () => {
    assert.equal(firstInvalidUtf8(Buffer.from("héllo")), -1);
    assert.equal(firstInvalidUtf8(Buffer.from([0x61, 0xe9, 0x62])), 1);
    assert.equal(firstInvalidUtf8(Buffer.from([0x61, 0xe2, 0x82])), -1);
    assert.equal(firstInvalidUtf8(Buffer.from([0xc0, 0x80])), 0);
  });
});

describe("progress", () => {
  test("rate from rows, ETA from the share of bytes", () => {
    const startedAt = new Date("2026-01-01T00:00:00Z");
    const p = progressOf({
      rowsRead: 5000,
      bytesRead: 250,
      totalBytes: 1000,
      startedAt,
      now: new Date("2026-01-01T00:00:10Z"),
    });
    assert.deepEqual(p, { rate: 500, eta: 30, fraction: 0.25 });
    assert.deepEqual(progressOf({ rowsRead: 1, bytesRead: 1, totalBytes: undefined, startedAt, now: startedAt }), {
      rate: 0,
      eta: null,
      fraction: null,
    });
    assert.match(
      progressLine({ rowsRead: 5000, inserted: 4000, updated: 900, duplicates: 50, rejected: 50, ...p }),
      /\[######\.+\] {2}25% 5000 rows .* 500\/s eta 30s/,
    );
  });
});
