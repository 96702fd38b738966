/**
 * A DNC list loaded as a CSV (`POST /api/v1/dnc-lists/:id/entries`, `text/csv`): its query
 * options, which column holds the entries, and each record as an entry (the rules of
 * parseDncEntry), a blank cell or why it is not one. scanDncCsv reads a stream of it record by
 * record with the customer imports' reader (csv-source.ts: encodings, BOM, CRLF, quotes).
 */
import type { Readable } from "node:stream";
import type { CountryCode } from "libphonenumber-js";
import {
  DELIMITER_EXPECTED,
  ENCODING_EXPECTED,
  parseDelimiter,
  parseEncoding,
  type ImportEncoding,
} from "../audience/csv-mapping.ts";
import { isRegion } from "../audience/contact-points.ts";
import { readCsv } from "../audience/csv-source.ts";
import type { ValidationDetail } from "../validation/json-schema.ts";
import { parseDncEntry, type DncEntry } from "./dnc.ts";

/** The query parameters of a CSV load. */
export const DNC_CSV_OPTIONS: readonly string[] = ["header", "column", "defaultRegion", "delimiter", "encoding"];

export interface DncCsvOptions {
  /** The first line names the columns (`?header=true`, or implied by `column`). */
  header: boolean;
  /** The header name of the entries' column; without it the file has one column. */
  column?: string;
  /** For national numbers (`(415) 555-0150`), as a customer import's `defaultRegion`. */
  defaultRegion?: CountryCode;
  delimiter: string;
  encoding: ImportEncoding;
}

/** The options of a CSV load from its query parameters (strings; `id` is the list's). */
export function parseDncCsvOptions(
  query: Record<string, unknown>,
): { options: DncCsvOptions } | { details: ValidationDetail[] } {
  const details: ValidationDetail[] = [];
  for (const key of Object.keys(query))
    if (!DNC_CSV_OPTIONS.includes(key))
      details.push({
        path: `/query/${key}`,
        message: `is not an option of a CSV load (expected ${DNC_CSV_OPTIONS.join(", ")})`,
      });
  const { header, column, defaultRegion, delimiter, encoding } = query;
  if (header !== undefined && header !== "true" && header !== "false")
    details.push({ path: "/query/header", message: "must be true (the first line names the columns) or false" });
  if (column !== undefined && (typeof column !== "string" || !column.trim()))
    details.push({ path: "/query/column", message: "must be the name of a column of the header" });
  else if (column !== undefined && header === "false")
    details.push({ path: "/query/column", message: "names a column of the header: it cannot go with header=false" });
  if (defaultRegion !== undefined && !isRegion(defaultRegion))
    details.push({ path: "/query/defaultRegion", message: "must be an ISO 3166-1 region, e.g. US" });
  const sep = parseDelimiter(delimiter);
  if (sep === undefined) details.push({ path: "/query/delimiter", message: DELIMITER_EXPECTED });
  const enc = parseEncoding(encoding);
  if (enc === undefined) details.push({ path: "/query/encoding", message: ENCODING_EXPECTED });
  if (details.length) return { details };
  return {
    options: {
      header: header === "true" || column !== undefined,
      ...(typeof column === "string" ? { column: column.trim() } : {}),
      ...(isRegion(defaultRegion) ? { defaultRegion } : {}),
      delimiter: sep!,
      encoding: enc!,
    },
  };
}

/** The index of the entries' column in the header: `column`'s, or the only column's. */
export function entryColumn(header: readonly string[], options: DncCsvOptions): { index: number } | { error: string } {
  const names = header.map((h) => h.trim());
  const shown = names.map((n) => JSON.stringify(n)).join(", ");
  if (options.column !== undefined) {
    const index = names.indexOf(options.column);
    return index >= 0
      ? { index }
      : { error: `the header has no column ${JSON.stringify(options.column)} (its columns: ${shown})` };
  }
  if (names.filter((n) => n !== "").length > 1)
    return { error: `the header has ${names.length} columns (${shown}): name the entries' one with ?column=<name>` };
  return {
    index: Math.max(
      0,
      names.findIndex((n) => n !== ""),
    ),
  };
}

export type DncCsvCell = { entry: DncEntry } | { blank: true } | { error: string };

/**
 * One record's entry: the field at `index`, or (a file without a header, `index` undefined) its
 * only non-empty field. An empty cell is a blank, skipped: a CRM export leaves some rows without
 * the column's value.
 */
export function recordEntry(
  fields: readonly string[],
  index: number | undefined,
  options: DncCsvOptions,
  line: number,
): DncCsvCell {
  let cell: string;
  if (index === undefined) {
    const filled = fields.filter((f) => f.trim() !== "");
    if (filled.length > 1)
      return {
        error: `has ${filled.length} fields: a file of several columns needs a header line and ?column=<name>`,
      };
    cell = filled[0] ?? "";
  } else cell = fields[index] ?? "";
  if (!cell.trim()) return { blank: true };
  const parsed = parseDncEntry(cell, options.defaultRegion);
  if (!("error" in parsed)) return { entry: parsed };
  // A header line sent without ?header=true is the likeliest bad first line.
  return line === 1 && !options.header
    ? { error: `${parsed.error}; if line 1 names the column, send ?header=true` }
    : parsed;
}

/**
 * The records of a CSV load, each with its line. A header without the entries' column is one
 * error at its line, and the scan ends there. Throws CsvFormatError (bad bytes or syntax).
 */
export async function* scanDncCsv(
  input: Readable,
  options: DncCsvOptions,
): AsyncGenerator<DncCsvCell & { line: number }> {
  const source = readCsv(input, { delimiter: options.delimiter, encoding: options.encoding });
  let index: number | undefined;
  let first = options.header;
  try {
    for await (const r of source.records) {
      if (first) {
        first = false;
        const column = entryColumn(r.fields, options);
        if ("error" in column) {
          yield { line: r.line, error: column.error };
          return;
        }
        index = column.index;
        continue;
      }
      yield { line: r.line, ...recordEntry(r.fields, index, options, r.line) };
    }
  } finally {
    // A scan that ends early reads no further.
    input.destroy();
  }
}
