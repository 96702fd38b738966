/** The hub's MongoDB connection (FerretDB locally), with the indexes its atomic claims rely on. */
import mongoose, { type Connection } from "mongoose";
import { createModels, type Models } from "./models.ts";

export interface Store {
  conn: Connection;
  models: Models;
  close(): Promise<void>;
}

export async function openStore(url: string, opts: { database?: string } = {}): Promise<Store> {
  const conn = mongoose.createConnection(url, {
    ...(opts.database ? { dbName: opts.database } : {}),
    autoIndex: false,
    serverSelectionTimeoutMS: 15_000,
    maxPoolSize: 32,
  });
  await conn.asPromise();
  const models = createModels(conn);
  // Unique indexes carry idempotency; create them before accepting work.
  await Promise.all(Object.values(models).map((m: mongoose.Model<unknown>) => m.createIndexes()));
  return { conn, models, close: () => conn.close() };
}
