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

/**
 * Whether a connection's server is FerretDB (its buildInfo says so), asked once per connection;
 * a question that failed (the database away) is asked again next time.
 */
const ferretDb = new WeakMap<Connection, Promise<boolean>>();

function isFerretDb(conn: Connection): Promise<boolean> {
  let answer = ferretDb.get(conn);
  if (!answer) {
    answer = conn
      .db!.admin()
      .command({ buildInfo: 1 })
      .then((info) => "ferretdbVersion" in info);
    answer.catch(() => ferretDb.delete(conn));
    ferretDb.set(conn, answer);
  }
  return answer;
}

/**
 * Refreshes the query planner's statistics of a collection after its contents or indexes changed
 * much (an import, a new index). FerretDB's SQLite plans a query on two indexed fields without
 * them by guessing, and may walk 300,000 entries of one index where the other has one: its
 * `collStats` runs SQLite's ANALYZE (bounded by the analysis_limit pragma, see
 * core/infra/processes.ts). MongoDB plans by trial and needs nothing.
 */
export async function refreshPlannerStatistics(conn: Connection, collection: string): Promise<void> {
  if (await isFerretDb(conn)) await conn.db!.command({ collStats: collection });
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
