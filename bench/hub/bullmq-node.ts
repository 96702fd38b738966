/**
 * The BullMQ side of the benchmark, in its own process: one BullMQ Worker on the benchmark's
 * redis-server (AOF, fsync every second). Its job is the baselines' email job (email-job.ts),
 * recording into its own database of the same FerretDB as Agenda does, so that the driver
 * reads both the same way. Settings come in BENCH_BULLMQ (JSON).
 */
import { Redis } from "ioredis";
import { Worker, type Job } from "bullmq";
import { runChild, toParent } from "./common.ts";
import { openEmailJob, type EmailJobSettings, type SendEmailJob } from "./email-job.ts";

export interface BullmqNodeSettings extends EmailJobSettings {
  redisPort: number;
  queueName: string;
  /** Jobs the worker runs at once. */
  concurrency: number;
}

const settings = JSON.parse(process.env.BENCH_BULLMQ ?? "{}") as BullmqNodeSettings;

await runChild(async () => {
  const emailJob = await openEmailJob(settings);
  // BullMQ's workers block on Redis: their connection must never give up on a command.
  const redis = new Redis({ host: "127.0.0.1", port: settings.redisPort, maxRetriesPerRequest: null });
  const worker = new Worker<SendEmailJob>(
    settings.queueName,
    // processedOn is stamped when the job moves to active: the dispatch time, as Agenda's lastRunAt.
    async (job: Job<SendEmailJob>) => emailJob.run(job.data, new Date(job.processedOn ?? Date.now())),
    { connection: redis, concurrency: settings.concurrency },
  );
  worker.on("error", (err: Error) => process.stderr.write(`[bullmq] error: ${err.message}\n`));
  worker.on("failed", (_job, err: Error) => process.stderr.write(`[bullmq] job failed: ${err.message}\n`));
  await worker.waitUntilReady();

  toParent({ type: "ready" });
  return async () => {
    await worker.close();
    redis.disconnect();
    await emailJob.close();
  };
});
