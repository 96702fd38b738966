import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { describe, test } from "@jest/globals";
import { entryColumn, parseDncCsvOptions, recordEntry, scanDncCsv, type DncCsvOptions } from "./dnc-csv.ts";

const plain: DncCsvOptions = { header: false, delimiter: ",", encoding: "utf-8" };

async function scan(text: string | Buffer, options: DncCsvOptions) {
  const out = [];
  for await (const cell of scanDncCsv(Readable.from([Buffer.from(text)]), options)) out.push(cell);
  return out;
}

describe("DNC CSV options", () => {
  test("defaults: no header, a comma, UTF-8; a column implies a header", () => {
    assert.deepEqual(parseDncCsvOptions({}), { options: plain });
    assert.deepEqual(parseDncCsvOptions({ column: " Phone ", defaultRegion: "US", encoding: "ISO-8859-1" }), {
      options: { header: true, column: "Phone", defaultRegion: "US", delimiter: ",", encoding: "latin1" },
    });
    assert.deepEqual(parseDncCsvOptions({ header: "true", delimiter: ";" }), {
      options: { ...plain, header: true, delimiter: ";" },
    });
  });

  test("each bad option is a detail at /query/<name>", () => {
    const parsed = parseDncCsvOptions({
      header: "yes",
      defaultRegion: "XX",
      delimiter: "ab",
      encoding: "utf-16",
      mode: "x",
    });
    assert.ok("details" in parsed);
    assert.deepEqual(parsed.details.map((d) => d.path).sort(), [
      "/query/defaultRegion",
      "/query/delimiter",
      "/query/encoding",
      "/query/header",
      "/query/mode",
    ]);
    const conflict = parseDncCsvOptions({ header: "false", column: "phone" });
    assert.ok("details" in conflict);
    assert.deepEqual(
      conflict.details.map((d) => d.path),
      ["/query/column"],
    );
  });
});

describe("DNC CSV records", () => {
  test("the entries' column: the named one, or the only one", () => {
    const opts = { ...plain, header: true };
    assert.deepEqual(entryColumn(["Name", " Phone "], { ...opts, column: "Phone" }), { index: 1 });
    assert.match((entryColumn(["Name"], { ...opts, column: "Phone" }) as { error: string }).error, /no column "Phone"/);
    assert.deepEqual(entryColumn(["phone"], opts), { index: 0 });
    assert.match((entryColumn(["a", "b"], opts) as { error: string }).error, /\?column=<name>/);
  });

  test("a record is an entry (normalised as the JSON load's), a blank, or why it is not one", () => {
    const us = { ...plain, defaultRegion: "US" as const };
    assert.deepEqual(recordEntry(["(415) 555-0150"], undefined, us, 2), {
      entry: { value: "+14155550150", prefix: false },
    });
    assert.deepEqual(recordEntry(["+1415666*"], undefined, plain, 2), { entry: { value: "+1415666", prefix: true } });
    assert.deepEqual(recordEntry(["x", " A@B.co "], 1, plain, 2), { entry: { value: "a@b.co", prefix: false } });
    assert.deepEqual(recordEntry(["x", " "], 1, plain, 2), { blank: true });
    assert.deepEqual(recordEntry(["+14155550150", ""], undefined, plain, 2), {
      entry: { value: "+14155550150", prefix: false },
    });
    assert.match((recordEntry(["(415) 555-0150"], undefined, plain, 2) as { error: string }).error, /international/);
    assert.match((recordEntry(["a", "b"], undefined, plain, 2) as { error: string }).error, /has 2 fields/);
    // A header sent without ?header=true: the error says what to do.
    assert.match((recordEntry(["phone"], undefined, plain, 1) as { error: string }).error, /send \?header=true/);
  });

  test("a stream: BOM dropped, CRLF, quotes, a header, each line numbered", async () => {
    const text = '\uFEFFname,phone\r\n"Smith, Ada","(415) 555-0150"\r\nBob,\r\n"Eve ""E""",+1415666*\r\nMal,nope\r\n';
    const cells = await scan(text, { ...plain, header: true, column: "phone", defaultRegion: "US" });
    assert.deepEqual(cells, [
      { line: 2, entry: { value: "+14155550150", prefix: false } },
      { line: 3, blank: true },
      { line: 4, entry: { value: "+1415666", prefix: true } },
      { line: 5, error: '"nope" is not a phone number of US nor one in international form (e.g. +14155550123)' },
    ]);
  });

  test("Latin-1 on request; a header without the column is one error and the scan ends", async () => {
    const latin1 = Buffer.from("nom,courriel\nJos\xe9,jose@example.fr\n", "latin1");
    assert.deepEqual(await scan(latin1, { ...plain, header: true, column: "courriel", encoding: "latin1" }), [
      { line: 2, entry: { value: "jose@example.fr", prefix: false } },
    ]);
    assert.deepEqual(await scan("a,b\n1,2\n3,4\n", { ...plain, header: true, column: "phone" }), [
      { line: 1, error: 'the header has no column "phone" (its columns: "a", "b")' },
    ]);
  });
});
