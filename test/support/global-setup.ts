/**
 * Jest global setup: one throwaway FerretDB (SQLite backend) for the whole run. Its URL reaches
 * every test worker through DIALMESH_TEST_MONGO_URL; each test file makes its own databases on
 * it (test/support/mongo.ts). A run started inside another (a test that runs a test file in a
 * child jest) inherits the variable and reuses the running FerretDB.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startFerretDb } from "../../core/infra/processes.ts";
import { setRunningDatabase } from "./global-state.ts";

export default async function globalSetup(): Promise<void> {
  process.env.PUPPETEER_SKIP_DOWNLOAD = "true";
  if (process.env.DIALMESH_TEST_MONGO_URL) return;
  const dataDir = mkdtempSync(path.join(tmpdir(), "dialmesh-test-db-"));
  const db = await startFerretDb({ dataDir });
  process.stdout.write(`\n[test] FerretDB ${db.url} (data ${dataDir})\n`);
  process.env.DIALMESH_TEST_MONGO_URL = db.url;
  setRunningDatabase({ stop: db.stop, dataDir });
}
