/**
 * Reads a CSV stream record by record, never whole: bytes decoded (UTF-8 checked strictly so a
 * Latin-1 file fails with its line instead of importing mojibake; a UTF-8 BOM dropped; Latin-1 and
 * Windows-1252 on request), then csv-parse. Syntax errors become CsvFormatError with the line.
 */
import type { Readable } from "node:stream";
import { parse, type CsvError } from "csv-parse";
import iconv from "iconv-lite";
import type { ImportEncoding } from "./csv-mapping.ts";

export class CsvFormatError extends Error {
  readonly line: number;
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.line = line;
  }
}

export interface CsvRecord {
  fields: string[];
  /** The line the record ends on (1 is the header). */
  line: number;
}

/** Offset of the first byte that breaks UTF-8 in `buf` (a sequence cut at the end is not broken), or -1. */
export function firstInvalidUtf8(buf: Uint8Array): number {
  let i = 0;
  while (i < buf.length) {
    const b = buf[i]!;
    const need =
      b < 0x80 ? 0 : b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
    if (need < 0) return i;
    for (let k = 1; k <= need; k++) {
      if (i + k >= buf.length) return -1;
      const c = buf[i + k]!;
      let lo = 0x80;
      let hi = 0xbf;
      if (k === 1 && b === 0xe0) lo = 0xa0;
      if (k === 1 && b === 0xed) hi = 0x9f;
      if (k === 1 && b === 0xf0) lo = 0x90;
      if (k === 1 && b === 0xf4) hi = 0x8f;
      if (c < lo || c > hi) return i;
    }
    i += need + 1;
  }
  return -1;
}

function countNewlines(buf: Uint8Array, end = buf.length): number {
  let n = 0;
  for (let i = 0; i < end; i++) if (buf[i] === 0x0a) n++;
  return n;
}

/** Bytes -> text in the file's encoding, with the line of the first undecodable byte. */
class Decoder {
  private readonly utf8 = new TextDecoder("utf-8", { fatal: true });
  private readonly legacy: iconv.DecoderStream | undefined;
  private newlines = 0;
  private first = true;
  constructor(encoding: ImportEncoding) {
    this.legacy = encoding === "utf-8" ? undefined : iconv.getDecoder(encoding === "latin1" ? "latin1" : "win1252");
  }
  write(chunk: Buffer): string {
    let text: string;
    if (this.legacy) text = this.legacy.write(chunk);
    else {
      try {
        text = this.utf8.decode(chunk, { stream: true });
      } catch {
        const at = firstInvalidUtf8(chunk);
        const line = this.newlines + countNewlines(chunk, at < 0 ? chunk.length : at) + 1;
        throw new CsvFormatError(
          line,
          `is not valid UTF-8 (byte 0x${at < 0 ? "??" : chunk[at]!.toString(16).padStart(2, "0")}); if the file is Latin-1 or Windows-1252, set "encoding": "latin1" or "windows-1252"`,
        );
      }
    }
    this.newlines += countNewlines(chunk);
    if (this.first && text.length > 0) {
      // TextDecoder drops a UTF-8 BOM; iconv keeps U+FEFF at the start.
      this.first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    return text;
  }
  end(): string {
    try {
      return this.legacy ? (this.legacy.end() ?? "") : this.utf8.decode();
    } catch {
      throw new CsvFormatError(this.newlines + 1, "ends inside a UTF-8 sequence (the file is cut or not UTF-8)");
    }
  }
}

function explain(err: CsvError): CsvFormatError {
  const line = Number((err as unknown as { lines?: number }).lines ?? 0) || 0;
  switch (err.code) {
    case "CSV_INVALID_CLOSING_QUOTE":
    case "CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE":
      return new CsvFormatError(
        line,
        'text after a closing quote; a quote inside a quoted field is written twice ("")',
      );
    case "CSV_QUOTE_NOT_CLOSED":
      return new CsvFormatError(line, "a quoted field is never closed (the file ends inside quotes)");
    case "CSV_MAX_RECORD_SIZE":
      return new CsvFormatError(line, "a record is larger than 1 MB (an unclosed quote?)");
    default:
      return new CsvFormatError(line, err.message);
  }
}

export interface CsvSource {
  records: AsyncIterable<CsvRecord>;
  /** Bytes read from the input so far. */
  bytesRead(): number;
  /** Stops reading: a pending record read fails. */
  destroy(reason: Error): void;
  /** Reads the rest of the input into nothing (a cancelled upload still completes for its client). */
  discard(): void;
}

/**
 * Records of `input`; the iterator throws CsvFormatError on bad bytes or bad syntax. The input
 * is pulled a chunk at a time and fed to the parser by hand: the next chunk is read only when
 * the records of the last one are taken, so memory stays one chunk deep.
 */
export function readCsv(input: Readable, opts: { delimiter: string; encoding: ImportEncoding }): CsvSource {
  const decoder = new Decoder(opts.encoding);
  const parser = parse({
    delimiter: opts.delimiter,
    relax_column_count: true,
    skip_empty_lines: true,
    info: true,
    max_record_size: 1 << 20,
  });
  const queue: CsvRecord[] = [];
  let failure: unknown;
  let bytes = 0;
  parser.on("data", (item: { record: string[]; info: { lines: number } }) =>
    queue.push({ fields: item.record, line: item.info.lines }),
  );
  parser.on("error", (err) => (failure ??= err));
  const ended = new Promise<void>((resolve) => {
    parser.on("end", resolve);
    parser.on("error", () => resolve());
  });
  const check = () => {
    if (failure === undefined) return;
    if (failure instanceof CsvFormatError) throw failure;
    if ((failure as CsvError).code?.startsWith("CSV_")) throw explain(failure as CsvError);
    throw failure;
  };
  async function* records(): AsyncGenerator<CsvRecord> {
    try {
      for await (const chunk of input as AsyncIterable<Buffer>) {
        bytes += chunk.length;
        const text = decoder.write(chunk);
        if (text) parser.write(text);
        // The parser may emit its records on the next tick.
        if (queue.length === 0) await new Promise((r) => setImmediate(r));
        check();
        while (queue.length) yield queue.shift()!;
      }
      const rest = decoder.end();
      parser.end(rest || undefined);
      await ended;
      check();
      while (queue.length) yield queue.shift()!;
    } finally {
      if (!input.readableEnded && !input.destroyed) input.resume();
    }
  }
  return {
    records: records(),
    bytesRead: () => bytes,
    discard: () => {
      input.resume();
    },
    destroy: (reason) => {
      failure ??= reason;
      input.destroy(reason);
    },
  };
}
