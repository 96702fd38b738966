/**
 * An import's upload, written to the node's data dir as it arrives and read back by the job.
 * The 202 can then be a finished response once the upload is in: Node stops reading a request
 * whose response has ended, so a job that read the request itself had to keep its 202 open until
 * the last row, and clients waited for the whole import.
 *
 * The file holds the customers' data: 0600 in the 0700 data dir, removed when its job ends, and
 * leftovers of a node that stopped are removed when it starts again (the job is then
 * `interrupted`; it resumes from a new upload with `"resume"`).
 */
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readdir, rm } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Errors } from "moleculer";
import type { CsvFormatError } from "../audience/csv-source.ts";
import { ValidationError } from "./errors.ts";

export class InsufficientStorageError extends Errors.MoleculerServerError {
  constructor(message: string) {
    super(message, 507, "InsufficientStorage");
  }
}

export interface SpooledUpload {
  path: string;
  bytes: number;
  open(): Readable;
  remove(): Promise<void>;
}

/** Spool files are named by node, so a node clears only its own. */
const prefix = (nodeId: string) => `${nodeId.replace(/[^A-Za-z0-9_.-]/g, "_")}-`;

export class ImportSpool {
  private readonly dir: string;
  private readonly nodeId: string;
  private seq = 0;

  /** `folder`: the data dir's subfolder, one per service, so a service clears only its own. */
  constructor(dataDir: string, nodeId: string, folder = "imports") {
    this.dir = path.join(dataDir, folder);
    this.nodeId = nodeId;
  }

  /** Removes what this node spooled before it last stopped. */
  async clearLeftovers(): Promise<number> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const mine = (await readdir(this.dir)).filter((f) => f.startsWith(prefix(this.nodeId)));
    await Promise.all(mine.map((f) => rm(path.join(this.dir, f), { force: true })));
    return mine.length;
  }

  /**
   * Writes the upload to a new file; rejects (and leaves no file) when the upload breaks off
   * or is shorter than its Content-Length.
   */
  async write(upload: Readable, expectedBytes?: number): Promise<SpooledUpload> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const file = path.join(this.dir, `${prefix(this.nodeId)}${process.pid}-${Date.now()}-${++this.seq}.csv`);
    let bytes = 0;
    upload.on("data", (chunk: Buffer) => (bytes += chunk.length));
    try {
      await pipeline(upload, createWriteStream(file, { flags: "wx", mode: 0o600 }));
    } catch (err) {
      await rm(file, { force: true });
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOSPC" || code === "EDQUOT")
        throw new InsufficientStorageError(`the hub has no room to keep the upload (${code}); nothing was imported`);
      throw new ValidationError("Invalid upload", [
        { path: "/file", message: `broke off after ${bytes} bytes (${(err as Error).message}); nothing was imported` },
      ]);
    }
    // A text/csv body's stream ends quietly when the client goes away: its length tells.
    if (expectedBytes !== undefined && bytes < expectedBytes) {
      await rm(file, { force: true });
      throw new ValidationError("Invalid upload", [
        { path: "/file", message: `ended after ${bytes} of ${expectedBytes} bytes; nothing was imported` },
      ]);
    }
    return {
      path: file,
      bytes,
      open: () => createReadStream(file),
      remove: () => rm(file, { force: true }),
    };
  }
}

/** A spooled CSV that cannot be read (bad bytes or syntax): the request's 400, at the line. */
export function unreadableCsv(err: CsvFormatError, what = "imported"): ValidationError {
  return new ValidationError(`The CSV cannot be ${what}: ${err.message}`, [
    { path: `/file/line/${err.line}`, message: err.message },
  ]);
}
