/** Worker thread of the pacing benchmark: runs the jobs it is sent, posts the results. */
import { parentPort } from "node:worker_threads";
import { runCell, runSmallTeamCell, runUkCell, type Cell } from "./sweep.ts";

export interface Job {
  kind: "cell" | "uk" | "small";
  cell: Cell;
  durationMinutes: number;
  seeds: number;
}

function run(job: Job) {
  switch (job.kind) {
    case "cell":
      return runCell(job.cell, job.durationMinutes, job.seeds);
    case "uk":
      return runUkCell(job.cell, job.durationMinutes, job.seeds);
    case "small":
      return runSmallTeamCell(job.cell, job.durationMinutes, job.seeds);
  }
}

parentPort?.on("message", (job: Job | null) => {
  if (job === null) {
    parentPort?.close();
    return;
  }
  parentPort?.postMessage({ kind: job.kind, result: run(job) });
});
