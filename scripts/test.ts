/**
 * `npm test`: starts a throwaway FerretDB (SQLite backend) for the suite, runs every
 * `*.test.ts` under packages/, core/, plugins/ and test/ with node:test, and stops FerretDB.
 * `npm test -- <files or globs>` runs a subset.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startFerretDb } from "../core/infra/processes.ts";

const args = process.argv.slice(2);
const patterns =
  args.length > 0 ? args : ["packages/**/*.test.ts", "core/**/*.test.ts", "plugins/**/*.test.ts", "test/**/*.test.ts"];

const dataDir = mkdtempSync(path.join(tmpdir(), "dialmesh-test-db-"));
const db = await startFerretDb({ dataDir });
process.stdout.write(`[test] FerretDB ${db.url} (data ${dataDir})\n`);

const child = spawn(
  process.execPath,
  ["--test", "--test-concurrency=2", "--test-timeout=300000", "--test-reporter=spec", ...patterns],
  { stdio: "inherit", env: { ...process.env, DIALMESH_TEST_MONGO_URL: db.url, PUPPETEER_SKIP_DOWNLOAD: "true" } },
);
const code = await new Promise<number>((resolve) => child.on("exit", (c, signal) => resolve(c ?? (signal ? 1 : 0))));
await db.stop();
rmSync(dataDir, { recursive: true, force: true });
process.exit(code);
