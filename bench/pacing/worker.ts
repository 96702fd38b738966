/** Worker thread of the pacing benchmark: runs the cells it is sent, posts the results. */
import { parentPort } from "node:worker_threads";
import { runCell, type Cell } from "./sweep.ts";

interface Job {
  cell: Cell;
  durationMinutes: number;
  seeds: number;
}

parentPort?.on("message", (job: Job | null) => {
  if (job === null) {
    parentPort?.close();
    return;
  }
  parentPort?.postMessage(runCell(job.cell, job.durationMinutes, job.seeds));
});
