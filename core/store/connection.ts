/** The hub's MongoDB connection (FerretDB locally), with the indexes its atomic claims rely on. */
import mongoose, { type Connection } from "mongoose";
import { createModels, type Models } from "./models.ts";

export interface Store {
  conn: Connection;
  models: Models;
  /**
   * False while the driver's monitor finds the database unreachable (checked every second), so
   * that the API can answer 503 at once instead of waiting out a server selection.
   */
  reachable(): boolean;
  close(): Promise<void>;
}

export async function openStore(url: string, opts: { database?: string } = {}): Promise<Store> {
  const conn = mongoose.createConnection(url, {
    ...(opts.database ? { dbName: opts.database } : {}),
    autoIndex: false,
    // A call made just as the database went away (before the monitor noticed) fails after this,
    // rather than holding its request for long.
    serverSelectionTimeoutMS: 5_000,
    // The monitor notices a database that went away (or came back) within a second.
    heartbeatFrequencyMS: 1_000,
    maxPoolSize: 32,
  });
  await conn.asPromise();
  let reachable = true;
  conn.getClient().on("serverDescriptionChanged", (event: { newDescription: { type: string } }) => {
    reachable = event.newDescription.type !== "Unknown";
  });
  const models = createModels(conn);
  // Unique indexes carry idempotency; create them before accepting work.
  await Promise.all(Object.values(models).map((m: mongoose.Model<unknown>) => m.createIndexes()));
  return { conn, models, reachable: () => reachable, close: () => conn.close() };
}
