/**
 * The Agenda side of the benchmark, in its own process: one Agenda 6 worker (official MongoDB
 * backend) on the same FerretDB, a different database. Its job is the baselines' email job
 * (email-job.ts). Settings come in BENCH_AGENDA (JSON).
 */
import { Agenda, type Job } from "agenda";
import { MongoBackend } from "@agendajs/mongo-backend";
import { runChild, toParent } from "./common.ts";
import { openEmailJob, type EmailJobSettings, type SendEmailJob } from "./email-job.ts";

export interface AgendaNodeSettings extends EmailJobSettings {
  processEveryMs: number;
  maxConcurrency: number;
  defaultConcurrency: number;
  lockLimit: number;
  defaultLockLimit: number;
}

export const JOB_NAME = "send-email";

const settings = JSON.parse(process.env.BENCH_AGENDA ?? "{}") as AgendaNodeSettings;

// Agenda 6 calls unlockJob() without awaiting it; on FerretDB an occasional SQLITE_BUSY there
// would end the process. Keep the worker alive and say so: the benchmark reports what got done.
process.on("unhandledRejection", (err) => {
  process.stderr.write(`[agenda] unhandled rejection: ${(err as Error)?.message ?? String(err)}\n`);
});

await runChild(async () => {
  const emailJob = await openEmailJob(settings);
  const agenda = new Agenda({
    backend: new MongoBackend({ mongo: emailJob.conn.db! }),
    name: "bench-worker",
    processEvery: settings.processEveryMs,
    maxConcurrency: settings.maxConcurrency,
    defaultConcurrency: settings.defaultConcurrency,
    lockLimit: settings.lockLimit,
    defaultLockLimit: settings.defaultLockLimit,
  });
  agenda.on("error", (err: Error) => process.stderr.write(`[agenda] error: ${err.message}\n`));
  agenda.on("fail", (err: Error) => process.stderr.write(`[agenda] job failed: ${err.message}\n`));

  agenda.define(JOB_NAME, async (job: Job<SendEmailJob>) => {
    // Agenda stamps lastRunAt when it starts the job: the dispatch time, as the hub's attempt.dispatchedAt.
    await emailJob.run(job.attrs.data, job.attrs.lastRunAt ?? new Date());
  });

  await agenda.start();
  toParent({ type: "ready" });
  return async () => {
    await agenda.stop();
    await emailJob.close();
  };
});
