/**
 * `npm run bench:pacing`: the pacing sweep (agents x live-answer rate x AMD, several seeds,
 * every policy) on worker threads; writes docs/pacing.md and bench/pacing/results.json.
 *
 *   --seeds N     seeds per cell (default 8)
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
import { AGENTS, AMD, LIVE_RATES, runUkCell, UK_CELLS, type Cell, type CellResult, type UkResult } from "./sweep.ts";

const root = path.resolve(import.meta.dirname, "../..");
const { values } = parseArgs({
  options: {
    seeds: { type: "string", default: "8" },
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
  };
  writeFileSync(values.out, await formatted(renderReport(saved.results, saved.uk, saved.info)));
  process.stderr.write(
    `[bench] re-rendered ${path.relative(root, values.out)} from ${path.relative(root, resultsFile)}\n`,
  );
  process.exit(0);
}
const seeds = Number(values.seeds);
const durationMinutes = Number(values.minutes);
const workers = Math.max(1, Number(values.workers));

const cells: Cell[] = [];
for (const agents of AGENTS)
  for (const liveRate of LIVE_RATES) for (const amd of AMD) cells.push({ agents, liveRate, amd });
// Biggest first, so the last jobs are short and the workers finish together.
const queue = [...cells].sort((a, b) => b.agents - a.agents);

const started = performance.now();
const results: CellResult[] = [];
await Promise.all(
  Array.from({ length: Math.min(workers, queue.length) }, async () => {
    const worker = new Worker(new URL("./worker.ts", import.meta.url));
    const next = () => {
      const cell = queue.shift();
      worker.postMessage(cell ? { cell, durationMinutes, seeds } : null);
      return cell !== undefined;
    };
    await new Promise<void>((resolve, reject) => {
      worker.on("message", (result: CellResult) => {
        results.push(result);
        process.stderr.write(`\r[bench] ${results.length}/${cells.length} cells`);
        if (!next()) resolve();
      });
      worker.on("error", reject);
      next();
    });
    await worker.terminate();
  }),
);
const uk = UK_CELLS.map((cell) => runUkCell(cell, durationMinutes, seeds));
const seconds = (performance.now() - started) / 1000;
process.stderr.write(
  `\n[bench] ${cells.length} cells x ${seeds} seeds in ${seconds.toFixed(0)} s on ${workers} workers\n`,
);

const order = (c: Cell) =>
  cells.findIndex((x) => x.agents === c.agents && x.liveRate === c.liveRate && x.amd === c.amd);
results.sort((a, b) => order(a) - order(b));
const info: RunInfo = { seeds, durationMinutes, seconds, workers };
writeFileSync(resultsFile, await formatted(JSON.stringify({ info, results, uk }), resultsFile));
writeFileSync(values.out, await formatted(renderReport(results, uk, info)));
process.stderr.write(`[bench] wrote ${path.relative(root, values.out)} and ${path.relative(root, resultsFile)}\n`);
