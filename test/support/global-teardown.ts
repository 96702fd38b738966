/** Jest global teardown: stops the FerretDB the global setup started (none when it reused one). */
import { rmSync } from "node:fs";
import { runningDatabase } from "./global-state.ts";

export default async function globalTeardown(): Promise<void> {
  const db = runningDatabase();
  if (!db) return;
  await db.stop();
  rmSync(db.dataDir, { recursive: true, force: true });
}
