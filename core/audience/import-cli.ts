/**
 * `dialmesh import file.csv --map map.json`: uploads the file to a hub (streamed, multipart),
 * follows the job's events with a progress line (rewritten in place on a terminal, one line
 * every few seconds otherwise) and prints the summary. Exit 0 when the import completed.
 */
import { createReadStream, readFileSync, statSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import path from "node:path";
import { parseArgs } from "node:util";
import type { CommandIo } from "../simulator/cli.ts";
import { progressLine } from "./progress.ts";

const HELP = `Usage: dialmesh import <file.csv> --map <map.json> [options]

  --map <file>        JSON: the import options ({"mapping": {...}, "dedupeKey", "mode", ...}),
                      or just the mapping ({"CSV column": "field"})
  --dedupe-key <k>    id (default), email, phones[n] or attributes.<name>
  --mode <m>          upsert (default) | insert-only | update-only
  --region <CC>       default region of national phone numbers, e.g. US
  --encoding <e>      utf-8 (default) | latin1 | windows-1252
  --delimiter <c>     the field delimiter (default ",")
  --mapping-id <id>   save the mapping under this id (or use the saved one without --map)
  --resume <imp_id>   finish an interrupted import of the same file
  --url <url>         the hub (default $DIALMESH_URL or http://127.0.0.1:8080)
  --key <key>         API key (default $DIALMESH_API_KEY)
`;

/** The job as GET /api/v1/imports/:id shows it (what the CLI and the benchmark read). */
export interface JobView {
  id: string;
  state: string;
  rowsRead: number;
  inserted: number;
  updated: number;
  duplicates: number;
  rejected: number;
  skipped: number;
  warnings: number;
  rate: number;
  eta: number | null;
  fraction: number | null;
  error?: string;
}

function request(url: URL, opts: http.RequestOptions): http.ClientRequest {
  return (url.protocol === "https:" ? https : http).request(url, opts);
}

/** The body of an answer (the 202 of an import comes once the upload is in, and ends at once). */
export function bodyOf(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = "";
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => (out += chunk));
    res.on("error", reject);
    res.on("end", () => resolve(out));
  });
}

export async function importCommand(argv: string[], io: CommandIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        map: { type: "string" },
        "dedupe-key": { type: "string" },
        mode: { type: "string" },
        region: { type: "string" },
        encoding: { type: "string" },
        delimiter: { type: "string" },
        "mapping-id": { type: "string" },
        resume: { type: "string" },
        url: { type: "string" },
        key: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    io.stderr(`dialmesh import: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout(HELP);
    return 0;
  }
  if (positionals.length !== 1 || (!values.map && !values["mapping-id"])) {
    io.stderr(`dialmesh import: give one CSV file and --map (or --mapping-id of a saved mapping)\n\n${HELP}`);
    return 2;
  }
  const file = path.resolve(io.cwd, positionals[0]!);
  let options: Record<string, unknown> = {};
  try {
    if (values.map) {
      const map = JSON.parse(readFileSync(path.resolve(io.cwd, values.map), "utf8")) as Record<string, unknown>;
      options = typeof map.mapping === "object" ? map : { mapping: map };
    }
  } catch (err) {
    io.stderr(`dialmesh import: cannot read ${values.map}: ${(err as Error).message}\n`);
    return 2;
  }
  const flags: [string, string | undefined][] = [
    ["dedupeKey", values["dedupe-key"]],
    ["mode", values.mode],
    ["defaultRegion", values.region],
    ["encoding", values.encoding],
    ["delimiter", values.delimiter],
    ["mappingId", values["mapping-id"]],
    ["resume", values.resume],
  ];
  for (const [k, v] of flags) if (v !== undefined) options[k] = v;
  let size: number;
  try {
    size = statSync(file).size;
  } catch (err) {
    io.stderr(`dialmesh import: cannot read ${positionals[0]}: ${(err as Error).message}\n`);
    return 2;
  }
  const base = new URL(values.url ?? process.env.DIALMESH_URL ?? "http://127.0.0.1:8080");
  const key = values.key ?? process.env.DIALMESH_API_KEY ?? "";
  const auth = { Authorization: `Bearer ${key}` };

  // Multipart by hand, so that the file is streamed and the length known (the hub's ETA uses it).
  const boundary = `dialmesh-${Date.now().toString(36)}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="options"\r\nContent-Type: application/json\r\n\r\n${JSON.stringify(options)}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${path.basename(file).replace(/"/g, "")}"\r\nContent-Type: text/csv\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const req = request(new URL("/api/v1/imports", base), {
    method: "POST",
    headers: {
      ...auth,
      "Content-Type": `multipart/form-data; boundary=${boundary}`,
      "Content-Length": head.length + size + tail.length,
    },
  });
  const answered = new Promise<http.IncomingMessage>((resolve, reject) => {
    req.on("response", resolve);
    req.on("error", reject);
  });
  req.write(head);
  const fileStream = createReadStream(file);
  fileStream.on("end", () => req.end(tail));
  fileStream.pipe(req, { end: false });

  let res: http.IncomingMessage;
  try {
    res = await answered;
  } catch (err) {
    io.stderr(`dialmesh import: cannot reach ${base.origin}: ${(err as Error).message}\n`);
    return 1;
  }
  const text = await bodyOf(res);
  if (res.statusCode !== 202) {
    fileStream.destroy();
    req.destroy();
    try {
      const e = JSON.parse(text) as { message: string; details?: { path: string; message: string }[] };
      io.stderr(
        `dialmesh import: ${e.message}\n${(e.details ?? []).map((d) => `  ${d.path}: ${d.message}\n`).join("")}`,
      );
    } catch {
      io.stderr(`dialmesh import: HTTP ${res.statusCode}: ${text.slice(0, 500)}\n`);
    }
    return 1;
  }
  const job = JSON.parse(text) as JobView;
  io.stdout(`import ${job.id} started\n`);

  const tty = process.stdout.isTTY === true;
  const events = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const r = request(new URL(`/api/v1/imports/${job.id}/events`, base), {
      headers: { ...auth, Accept: "text/event-stream" },
    });
    r.on("response", resolve);
    r.on("error", reject);
    r.end();
  });
  let buffer = "";
  let last: JobView = job;
  let printedAt = 0;
  for await (const chunk of events) {
    buffer += String(chunk);
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = /^data: (.*)$/m.exec(event)?.[1];
      if (!data) continue;
      last = JSON.parse(data) as JobView;
      const now = Date.now();
      if (tty) io.stdout(`\r${progressLine(last)}\u001b[K`);
      else if (now - printedAt >= 2_000) {
        io.stdout(`${progressLine(last)}\n`);
        printedAt = now;
      }
    }
  }
  if (tty) io.stdout("\n");
  io.stdout(
    `${last.state}: ${last.rowsRead} rows read, ${last.inserted} inserted, ${last.updated} updated, ` +
      `${last.duplicates} duplicates, ${last.skipped} skipped, ${last.rejected} rejected, ${last.warnings} warnings\n`,
  );
  if (last.error) io.stdout(`${last.error}\n`);
  if (last.rejected > 0) io.stdout(`rejected rows: GET ${new URL(`/api/v1/imports/${job.id}/rejected`, base).href}\n`);
  return last.state === "completed" ? 0 : 1;
}
