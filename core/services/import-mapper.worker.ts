/** The worker thread of workerMapper (import-mapper.ts): maps each batch it is sent. */
import { parentPort, workerData } from "node:worker_threads";
import { mapBatch, type MapperInit, type MapperReply, type MapperRequest } from "./import-mapper.ts";

const { plan, zones } = workerData as MapperInit;
parentPort!.on("message", ({ id, records }: MapperRequest) => {
  let reply: MapperReply;
  try {
    // The records stay on the main thread: it has them already.
    const { rows, rejects, warnings } = mapBatch(records, plan, zones);
    reply = { id, batch: { rows, rejects, warnings } };
  } catch (err) {
    reply = { id, error: (err as Error).message };
  }
  parentPort!.postMessage(reply);
});
