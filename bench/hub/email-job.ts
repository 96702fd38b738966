/**
 * The email job of the benchmark's baselines (Agenda, BullMQ), one implementation so that both
 * do exactly the same work as a hub dispatch of an email: fill the template, send it through
 * nodemailer's pooled transport to the benchmark's SMTP server (same headers, Message-ID and
 * DSN request as email-smtp), then record an OUTBOUND timeline event (deterministic id:
 * idempotent) and update the conversation, in the baseline's own database of the FerretDB.
 */
import { randomUUID } from "node:crypto";
import mongoose, { type Connection } from "mongoose";
import nodemailer from "nodemailer";
import { renderContent } from "@dialmesh/sdk";
import { FROM, type BenchCustomer } from "./common.ts";

/** What one job carries (each baseline's producer writes it). */
export interface SendEmailJob {
  activityId: string;
  conversationId: string;
  customer: BenchCustomer;
  content: { subject: string; text: string };
  dueAt: string;
}

export interface EmailJobSettings {
  mongoUrl: string;
  database: string;
  smtpPort: number;
  smtpMaxConnections: number;
}

export interface EmailJob {
  /** The database connection (Agenda keeps its jobs there too). */
  conn: Connection;
  /** Sends `d` and records it; `dispatchedAt` is when the queue started the job. */
  run(d: SendEmailJob, dispatchedAt: Date): Promise<void>;
  close(): Promise<void>;
}

export async function openEmailJob(settings: EmailJobSettings): Promise<EmailJob> {
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

  const run = async (d: SendEmailJob, dispatchedAt: Date): Promise<void> => {
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
  };

  return {
    conn,
    run,
    close: async () => {
      transporter.close();
      await conn.close();
    },
  };
}
