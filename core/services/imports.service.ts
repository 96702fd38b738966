/**
 * `imports`: CSV imports of customers as jobs. `start` takes the upload as a stream (multipart
 * `options` then `file`, or a text/csv body with query options), checks the options, writes the
 * upload to the node's spool (import-spool.ts), checks its header and first batch, answers 202
 * with the job and runs it from the spooled file. Every node sweeps for jobs whose node stopped
 * writing and marks them interrupted with exactly what landed.
 */
import { Readable } from "node:stream";
import busboy from "busboy";
import { type Context, type ServiceSchema, Service, type ServiceBroker } from "moleculer";
import { IMPORT_OPTION_KEYS, parseImportOptions, type ImportOptions } from "../audience/csv-mapping.ts";
import { CsvFormatError } from "../audience/csv-source.ts";
import { loadPhoneZoneTable } from "../regulation/load.ts";
import { CustomerStore } from "../store/customers.ts";
import { ImportStore, type ImportJobDoc } from "../store/imports.ts";
import { DncStore } from "../store/dnc.ts";
import { ImportSpool, unreadableCsv, type SpooledUpload } from "./import-spool.ts";
import { ConflictError, NotFoundError, ValidationError, type HttpMeta, type UploadMeta } from "./errors.ts";
import { newImportId, newJob, prepareImport, runImport, type ImportDeps } from "./import-job.ts";
import { runtimeOf, type HubRuntime } from "./runtime.ts";

const BATCH_SIZE = 1_000;
/** A running job whose heartbeat is older than this has lost its node. */
const STALE_MS = 30_000;

export function importView(j: ImportJobDoc) {
  return {
    id: j._id,
    state: j.state,
    mode: j.mode,
    dedupeKey: j.dedupeKey,
    ...(j.mappingId ? { mappingId: j.mappingId } : {}),
    rowsRead: j.rowsRead,
    inserted: j.inserted,
    updated: j.updated,
    duplicates: j.duplicates,
    rejected: j.rejected,
    dncMatches: j.dncMatches ?? 0,
    skipped: j.skipped,
    warnings: j.warnings,
    landedBefore: j.landedBefore,
    committedThroughLine: j.committedThroughLine,
    rate: j.rate,
    eta: j.eta,
    fraction: j.fraction,
    ...(j.error ? { error: j.error } : {}),
    ...(j.landedAfterCommit ? { landedAfterCommit: j.landedAfterCommit } : {}),
    startedAt: j.startedAt,
    ...(j.finishedAt ? { finishedAt: j.finishedAt } : {}),
  };
}

/** The `options` part and the `file` part of a multipart upload (options must come first). */
function multipartParts(
  stream: Readable,
  headers: Record<string, string>,
): Promise<{ options: unknown; file: Readable }> {
  return new Promise((resolve, reject) => {
    let options: unknown;
    let optionsError: string | undefined;
    let settled = false;
    const fail = (message: string, path = "/file") => {
      if (settled) return;
      settled = true;
      stream.resume();
      reject(new ValidationError("Invalid upload", [{ path, message }]));
    };
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers, limits: { files: 1, fields: 5, fieldSize: 1 << 20 } });
    } catch (e) {
      fail(`is not multipart/form-data: ${(e as Error).message}`, "");
      return;
    }
    bb.on("field", (name, value) => {
      if (name !== "options") return;
      try {
        options = JSON.parse(value);
      } catch {
        optionsError = "is not JSON";
      }
    });
    bb.on("file", (name, file) => {
      if (name !== "file") {
        file.resume();
        return;
      }
      if (optionsError) return fail(optionsError, "/options");
      if (options === undefined) return fail('comes before the "options" part: send options first', "/file");
      settled = true;
      resolve({ options, file });
    });
    bb.on("error", (e) => fail(`cannot be read: ${(e as Error).message}`, ""));
    bb.on("close", () => fail('is missing: send an "options" part (JSON) and a "file" part (the CSV)'));
    stream.pipe(bb);
  });
}

/** A text/csv upload's options, as query parameters (a mapping only by `mappingId`). */
const QUERY_OPTIONS = IMPORT_OPTION_KEYS.filter((k) => k !== "mapping");

export function importsService(runtime: HubRuntime): ServiceSchema {
  const customers = new CustomerStore(runtime.store.conn);
  const imports = new ImportStore(runtime.store.conn);
  const dnc = new DncStore(runtime.store.conn);
  const zones = loadPhoneZoneTable();
  const spool = new ImportSpool(runtime.config.dataDir, runtime.nodeId);
  const deps: ImportDeps = {
    customers,
    imports,
    zones,
    nodeId: runtime.nodeId,
    batchSize: BATCH_SIZE,
    now: () => new Date(),
  };
  /** Jobs this node runs: aborted on stop, so they end `interrupted` rather than look alive. */
  const running = new Map<string, { abort: AbortController; done: Promise<unknown> }>();
  let sweeper: NodeJS.Timeout | undefined;

  async function sweep(): Promise<void> {
    const now = new Date();
    const before = new Date(now.getTime() - STALE_MS);
    for (const job of await imports.stale(before)) {
      if (running.has(job._id)) continue;
      const landed = await customers.linesLandedAfter(job._id, job.committedThroughLine);
      await imports.markInterrupted(
        job._id,
        before,
        {
          landedAfterCommit: landed,
          error: `node ${job.node} stopped: rows through line ${job.committedThroughLine} are settled${landed.length ? `, and lines ${landed.join(", ")} after it landed` : ""}; upload the file again with "resume": "${job._id}" to finish it`,
        },
        now,
      );
    }
  }

  return {
    name: "imports",
    async started() {
      await spool.clearLeftovers();
      await imports.ensureIndexes();
      await customers.ensureIndexes();
      sweeper = setInterval(() => void sweep().catch(() => undefined), 5_000);
      sweeper.unref();
    },
    async stopped() {
      clearInterval(sweeper);
      for (const r of running.values()) r.abort.abort();
      await Promise.allSettled([...running.values()].map((r) => r.done));
    },
    actions: {
      /** POST /api/v1/imports (the upload arrives as ctx.stream). */
      start: {
        async handler(ctx: Context<Record<string, unknown>, UploadMeta>) {
          const upload = ctx.meta.upload;
          const stream = ctx.stream as Readable | null;
          if (!upload || !stream)
            throw new ValidationError("No upload", [{ path: "", message: "send multipart/form-data or text/csv" }]);
          let rawOptions: unknown;
          let file: Readable;
          /** Only a text/csv body's length is the file's own (a multipart one counts the parts). */
          let fileBytes: number | undefined;
          if (/^multipart\/form-data\b/i.test(upload.contentType)) {
            ({ options: rawOptions, file } = await multipartParts(stream, { "content-type": upload.contentType }));
          } else if (/^text\/csv\b/i.test(upload.contentType)) {
            rawOptions = Object.fromEntries(
              QUERY_OPTIONS.filter((k) => ctx.params[k] !== undefined).map((k) => {
                const v = ctx.params[k];
                // `?dncLists=national,internal`: a list in the query is comma-separated.
                return [k, k === "dncLists" && typeof v === "string" ? v.split(",") : v];
              }),
            );
            file = stream;
            fileBytes = upload.contentLength;
          } else {
            stream.resume();
            throw new ValidationError("Unsupported upload", [
              {
                path: "",
                message: `Content-Type ${upload.contentType || "(none)"}: expected multipart/form-data or text/csv`,
              },
            ]);
          }
          const fail = (e: Error): never => {
            file.resume();
            throw e;
          };
          const declarations = await customers.declarations();
          const mappingId = (rawOptions as { mappingId?: unknown } | null)?.mappingId;
          const hasMapping = (rawOptions as { mapping?: unknown } | null)?.mapping !== undefined;
          const saved = typeof mappingId === "string" && !hasMapping ? await imports.getMapping(mappingId) : null;
          const parsed = parseImportOptions(rawOptions, declarations, saved?.mapping);
          if ("details" in parsed) fail(new ValidationError("Invalid import options", parsed.details));
          const options = (parsed as { options: ImportOptions }).options;
          // A list that does not exist is the request's fault: a 400 now, not a failed job later.
          if (options.dncLists) {
            const known = new Set((await dnc.currentStates(options.dncLists)).map((l) => l.id));
            const unknown = options.dncLists.flatMap((id, i) =>
              known.has(id)
                ? []
                : [
                    {
                      path: `/options/dncLists/${i}`,
                      message: `"${id}" is not a DNC list (PUT /api/v1/dnc-lists/${id} first)`,
                    },
                  ],
            );
            if (unknown.length) fail(new ValidationError("Invalid import options", unknown));
          }

          let previous: ImportJobDoc | null = null;
          if (options.resume) {
            previous = await imports.get(options.resume);
            if (!previous) fail(new NotFoundError(`import ${options.resume}`));
            if (previous!.state === "running" || previous!.state === "completed")
              fail(
                new ConflictError(
                  `import ${options.resume} is ${previous!.state}: only an interrupted, failed or cancelled import resumes`,
                ),
              );
          }
          // The whole upload first: the 202 is a finished response, and the job reads the file.
          const spooled: SpooledUpload = await spool.write(file, fileBytes);
          const input = spooled.open();
          const discard = async (e: unknown): Promise<never> => {
            input.destroy();
            await spooled.remove();
            throw e;
          };
          const prepared = await prepareImport(input, options, declarations, BATCH_SIZE).catch((err: unknown) =>
            discard(err instanceof CsvFormatError ? unreadableCsv(err) : err),
          );
          if (previous && JSON.stringify(previous.header) !== JSON.stringify(prepared.header))
            await discard(
              new ConflictError(`the file's header differs from the one of import ${previous._id}: not the same file`),
            );
          if (hasMapping && options.mappingId) await imports.putMapping(options.mappingId, options.mapping, new Date());

          const now = new Date();
          let job: ImportJobDoc;
          if (previous) {
            job = {
              ...previous,
              state: "running",
              node: runtime.nodeId,
              cancelRequested: false,
              heartbeatAt: now,
              resumedFrom: previous._id,
            };
            await imports.jobs.updateOne(
              { _id: previous._id },
              {
                $set: { state: "running", node: runtime.nodeId, cancelRequested: false, heartbeatAt: now },
                $unset: { error: "", finishedAt: "", landedAfterCommit: "" },
              },
            );
          } else {
            job = newJob(newImportId(now), options, prepared.header, deps, spooled.bytes);
            await imports.create(job);
          }
          const abort = new AbortController();
          const done = runImport(deps, prepared, job, previous?.committedThroughLine ?? 1, abort.signal)
            .catch((err: unknown) => this.logger.error("import failed", { id: job._id, error: (err as Error).message }))
            .finally(() => {
              running.delete(job._id);
              return spooled.remove();
            });
          running.set(job._id, { abort, done });
          ctx.meta.$statusCode = 202;
          ctx.meta.$location = `/api/v1/imports/${job._id}`;
          return importView(job);
        },
      },
      async get(ctx: Context<{ id: string }>) {
        const job = await imports.get(ctx.params.id);
        if (!job) throw new NotFoundError(`import ${ctx.params.id}`);
        return importView(job);
      },
      async cancel(ctx: Context<{ id: string }, HttpMeta>) {
        const job = await imports.requestCancel(ctx.params.id);
        if (!job) throw new NotFoundError(`import ${ctx.params.id}`);
        ctx.meta.$statusCode = 202;
        return importView(job);
      },
      /** Server-Sent Events: `progress` on every change of the job, `done` at the end. */
      events: {
        async handler(ctx: Context<{ id: string; intervalMs?: string }, HttpMeta>) {
          const first = await imports.get(ctx.params.id);
          if (!first) throw new NotFoundError(`import ${ctx.params.id}`);
          const id = first._id;
          let last = "";
          let timer: NodeJS.Timeout | undefined;
          const stream = new Readable({
            read() {},
            destroy(err, cb) {
              clearTimeout(timer);
              cb(err);
            },
          });
          const push = (job: ImportJobDoc): boolean => {
            const view = JSON.stringify(importView(job));
            if (view !== last) {
              last = view;
              stream.push(`event: progress\nid: ${job.rowsRead}\ndata: ${view}\n\n`);
            }
            if (job.state !== "running") {
              stream.push(`event: done\ndata: ${view}\n\n`);
              stream.push(null);
              return false;
            }
            return true;
          };
          const tick = async () => {
            if (stream.destroyed) return;
            const job = await imports.get(id).catch(() => null);
            if (job && push(job)) timer = setTimeout(() => void tick(), 250);
            else if (!job) stream.push(null);
          };
          if (push(first)) timer = setTimeout(() => void tick(), 250);
          ctx.meta.$responseType = "text/event-stream";
          ctx.meta.$responseHeaders = { "Cache-Control": "no-cache", "X-Accel-Buffering": "no" };
          return stream;
        },
      },
      /** The rejected rows as CSV: line, column, reason, then the row's own fields. */
      async rejected(ctx: Context<{ id: string }, HttpMeta>) {
        const job = await imports.get(ctx.params.id);
        if (!job) throw new NotFoundError(`import ${ctx.params.id}`);
        const cell = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
        async function* lines(): AsyncGenerator<string> {
          yield `${["line", "column", "reason", ...job!.header].map(cell).join(",")}\r\n`;
          for await (const r of imports.rejectsOf(job!._id))
            yield `${[String(r.line), r.column, r.reason, ...r.raw].map(cell).join(",")}\r\n`;
        }
        ctx.meta.$responseType = "text/csv; charset=utf-8";
        ctx.meta.$responseHeaders = { "Content-Disposition": `attachment; filename="${job._id}-rejected.csv"` };
        return Readable.from(lines());
      },
    },
  };
}

/** The service as startHub and moleculer-runner create it, with the node's runtime from its broker. */
export default class ImportsService extends Service {
  constructor(broker: ServiceBroker) {
    super(broker);
    this.parseServiceSchema(importsService(runtimeOf(broker)));
  }
}
