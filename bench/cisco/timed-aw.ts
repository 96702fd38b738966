/**
 * The local AW (test/vendors/cisco-aw-server.ts) with the time each import request took on the
 * server's side, from its arrival to its answer, for the benchmark's per-import figures.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { CiscoAwServer, type CiscoAwServerOptions } from "../../test/vendors/cisco-aw-server.ts";

export interface TimedImport {
  /** performance.now() when the request arrived. */
  startedMs: number;
  /** Date.now() when it arrived (to place it on the hub's timeline). */
  atMs: number;
  /** How long the server took to read, check, apply and answer it. */
  durationMs: number;
  rows: number;
  status: number;
}

export class TimedAwServer extends CiscoAwServer {
  readonly timings: TimedImport[] = [];

  protected override async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const isImport = req.method === "POST" && /\/import$/.test(req.url ?? "");
    const startedMs = performance.now();
    const atMs = Date.now();
    const before = this.imports.length;
    await super.handle(req, res);
    // An import the server refused before reading it (401) records nothing.
    const recorded = isImport && this.imports.length > before ? this.imports.at(-1) : undefined;
    if (recorded) {
      this.timings.push({
        startedMs,
        atMs,
        durationMs: performance.now() - startedMs,
        rows: recorded.accountNumbers.length,
        status: recorded.status,
      });
    }
  }
}

export async function startTimedAwServer(opts: CiscoAwServerOptions): Promise<TimedAwServer> {
  return new TimedAwServer(opts).start();
}
