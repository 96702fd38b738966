/**
 * The Agenda side of the benchmark, in its own process: one Agenda 6 worker (official MongoDB
 * backend) on the same FerretDB, a different database. Its job does the work a hub dispatch
 * does for an email: fill the template, send it through nodemailer's pooled transport to the
 * same SMTP server (same headers, Message-ID and DSN request as email-smtp), then record an
 * OUTBOUND timeline event (deterministic id: idempotent) and update the conversation.
 * Settings come in BENCH_AGENDA (JSON).
 */
import { randomUUID } from "node:crypto";
import mongoose from "mongoose";
import nodemailer from "nodemailer";
import { Agenda, type Job } from "agenda";
import { MongoBackend } from "@agendajs/mongo-backend";
import { renderContent } from "@dialmesh/sdk";
import { FROM, toParent, type BenchCustomer, type DriverMessage } from "./common.ts";

export interface AgendaNodeSettings {
  mongoUrl: string;
  database: string;
  smtpPort: number;
  smtpMaxConnections: number;
  processEveryMs: number;
  maxConcurrency: number;
  defaultConcurrency: number;
  lockLimit: number;
  defaultLockLimit: number;
}

/** What one job carries (the producer writes it with `agenda.schedule`). */
export interface SendEmailJob {
  activityId: string;
  conversationId: string;
  customer: BenchCustomer;
  content: { subject: string; text: string };
  dueAt: string;
}

export const JOB_NAME = "send-email";

const settings = JSON.parse(process.env.BENCH_AGENDA ?? "{}") as AgendaNodeSettings;

// Agenda 6 calls unlockJob() without awaiting it; on FerretDB an occasional SQLITE_BUSY there
// would end the process. Keep the worker alive and say so: the benchmark reports what got done.
process.on("unhandledRejection", (err) => {
  process.stderr.write(`[agenda] unhandled rejection: ${(err as Error)?.message ?? String(err)}\n`);
});

try {
  const conn = mongoose.createConnection(settings.mongoUrl, {
    dbName: settings.database,
    maxPoolSize: 32,
    autoIndex: false,
  });
  await conn.asPromise();
  const db = conn.db!;
  const timeline = db.collection("timeline");
  const conversations = db.collection("conversations");
  await timeline.createIndex({ conversationId: 1, at: 1 });

  const transporter = nodemailer.createTransport({
    pool: true,
    host: "127.0.0.1",
    port: settings.smtpPort,
    secure: false,
    maxConnections: settings.smtpMaxConnections,
    maxMessages: 100,
    logger: false,
    debug: false,
  });

  const agenda = new Agenda({
    backend: new MongoBackend({ mongo: db }),
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
    const dispatchedAt = job.attrs.lastRunAt ?? new Date();
    const d = job.attrs.data;
    const attemptId = `att_${randomUUID()}`;
    const content = renderContent(d.content, d.customer);
    const messageId = `<${attemptId}@dialmesh>`;
    const info = await transporter.sendMail({
      from: FROM,
      to: d.customer.email,
      subject: content.subject ?? "",
      text: content.text ?? "",
      messageId,
      headers: { "X-Dialmesh-Attempt-Id": attemptId, "X-Dialmesh-Activity-Id": d.activityId },
      dsn: { id: attemptId, return: "headers", notify: ["success", "failure", "delay"], recipient: d.customer.email },
    });
    if (!(info.accepted as unknown[]).length) throw new Error("not accepted");
    const now = new Date();
    await timeline.insertOne({
      _id: `out:${attemptId}:SENT` as never,
      conversationId: d.conversationId,
      activityId: d.activityId,
      attemptId,
      type: "OUTBOUND",
      channel: "email",
      status: "SENT",
      vendorId: messageId,
      at: now,
      recordedAt: now,
      dueAt: new Date(d.dueAt),
      dispatchedAt,
    });
    await conversations.updateOne(
      { _id: d.conversationId as never },
      {
        $setOnInsert: { customerId: d.customer.id, addresses: [d.customer.email], createdAt: now },
        $max: { lastEventAt: now },
      },
      { upsert: true },
    );
  });

  await agenda.start();
  toParent({ type: "ready" });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await agenda.stop();
    transporter.close();
    await conn.close();
    toParent({ type: "stopped" });
    process.exit(0);
  };
  process.on("message", (m: DriverMessage) => {
    if (m.type === "stop") void stop();
  });
  process.on("disconnect", () => void stop());
} catch (err) {
  toParent({ type: "error", message: (err as Error).stack ?? String(err) });
  process.exit(1);
}
