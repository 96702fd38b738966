/**
 * `npm run bench:pacing`: the pacing sweep (agents x live-answer rate x AMD, several seeds,
 * every policy) on worker threads; writes docs/pacing.md and bench/pacing/results.json.
 *
 *   --seeds N     seeds per cell (default 8)
 *   --uk-seeds N  seeds per UK cell (default 4 x --seeds: "95% of seeds" needs more than 8)
 *   --minutes M   simulated minutes per run (default 120)
 *   --workers W   worker threads (default: available cores)
 *   --out FILE    markdown output (default docs/pacing.md)
 *   --results F   raw results JSON (default bench/pacing/results.json)
 *   --render      only re-render the markdown from the results JSON
 */
import { readFileSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import * as prettier from "prettier";
import { Worker } from "node:worker_threads";
import { renderReport, type RunInfo } from "./report.ts";
import {
  AGENTS,
  AMD,
  LIVE_RATES,
  ORACLE_GOAL_MIN_AGENTS,
  UK_CELLS,
  type Cell,
  type CellResult,
  type SmallTeamResult,
  type UkResult,
} from "./sweep.ts";
import type { Job } from "./worker.ts";

const root = path.resolve(import.meta.dirname, "../..");
const { values } = parseArgs({
  options: {
    seeds: { type: "string", default: "8" },
    "uk-seeds": { type: "string" },
    minutes: { type: "string", default: "120" },
    workers: { type: "string", default: String(availableParallelism()) },
    out: { type: "string", default: path.join(root, "docs/pacing.md") },
    results: { type: "string", default: path.join(root, "bench/pacing/results.json") },
    render: { type: "boolean", default: false },
  },
});
const resultsFile = values.results;

/** A file as the project's prettier would write it, so `npm run lint` stays clean. */
async function formatted(text: string, file = values.out): Promise<string> {
  const config = (await prettier.resolveConfig(file)) ?? {};
  return prettier.format(text, { ...config, filepath: file });
}

if (values.render) {
  const saved = JSON.parse(readFileSync(resultsFile, "utf8")) as {
    info: RunInfo;
    results: CellResult[];
    uk: UkResult[];
    small: SmallTeamResult[];
  };
  writeFileSync(values.out, await formatted(renderReport(saved.results, saved.uk, saved.small, saved.info)));
  process.stderr.write(
    `[bench] re-rendered ${path.relative(root, values.out)} from ${path.relative(root, resultsFile)}\n`,
  );
  process.exit(0);
}
const seeds = Number(values.seeds);
const ukSeeds = values["uk-seeds"] === undefined ? 4 * seeds : Number(values["uk-seeds"]);
const durationMinutes = Number(values.minutes);
const workers = Math.max(1, Number(values.workers));

const cells: Cell[] = [];
for (const agents of AGENTS)
  for (const liveRate of LIVE_RATES) for (const amd of AMD) cells.push({ agents, liveRate, amd });
const jobs: Job[] = [
  ...cells.map((cell): Job => ({ kind: "cell", cell, durationMinutes, seeds })),
  ...UK_CELLS.map((cell): Job => ({ kind: "uk", cell, durationMinutes, seeds: ukSeeds })),
  ...cells
    .filter((c) => c.agents < ORACLE_GOAL_MIN_AGENTS)
    .map((cell): Job => ({ kind: "small", cell, durationMinutes, seeds })),
];
// Biggest first, so the last jobs are short and the workers finish together.
const cost = (j: Job) => j.cell.agents * j.seeds * (j.kind === "cell" ? 8 : j.kind === "uk" ? 2 : 5);
const queue = [...jobs].sort((a, b) => cost(b) - cost(a));

const started = performance.now();
const results: CellResult[] = [];
const uk: UkResult[] = [];
const small: SmallTeamResult[] = [];
let done = 0;
type Reply =
  { kind: "cell"; result: CellResult } | { kind: "uk"; result: UkResult } | { kind: "small"; result: SmallTeamResult };
await Promise.all(
  Array.from({ length: Math.min(workers, queue.length) }, async () => {
    const worker = new Worker(new URL("./worker.ts", import.meta.url));
    const next = () => {
      const job = queue.shift();
      worker.postMessage(job ?? null);
      return job !== undefined;
    };
    await new Promise<void>((resolve, reject) => {
      worker.on("message", (reply: Reply) => {
        if (reply.kind === "cell") results.push(reply.result);
        else if (reply.kind === "uk") uk.push(reply.result);
        else small.push(reply.result);
        process.stderr.write(`\r[bench] ${++done}/${jobs.length} jobs`);
        if (!next()) resolve();
      });
      worker.on("error", reject);
      next();
    });
    await worker.terminate();
  }),
);
const seconds = (performance.now() - started) / 1000;
process.stderr.write(
  `\n[bench] ${cells.length} cells x ${seeds} seeds (UK cells x ${ukSeeds}), ${durationMinutes} simulated minutes per run, in ${seconds.toFixed(0)} s on ${workers} workers\n`,
);

const order = (c: Cell) =>
  cells.findIndex((x) => x.agents === c.agents && x.liveRate === c.liveRate && x.amd === c.amd);
const byCell = (a: Cell, b: Cell) => order(a) - order(b);
results.sort(byCell);
uk.sort(byCell);
small.sort(byCell);
const info: RunInfo = { seeds, ukSeeds, durationMinutes, seconds, workers };
writeFileSync(resultsFile, await formatted(JSON.stringify({ info, results, uk, small }), resultsFile));
writeFileSync(values.out, await formatted(renderReport(results, uk, small, info)));
process.stderr.write(`[bench] wrote ${path.relative(root, values.out)} and ${path.relative(root, resultsFile)}\n`);
