/**
 * `npm test`: jest 30 in ESM mode over every `*.test.ts` under packages/, core/, plugins/ and
 * test/ (jest.config.js; its global setup starts a throwaway FerretDB for the run).
 * `npm test -- <paths or patterns>` runs a subset; other jest flags pass through.
 */
import { spawn } from "node:child_process";
import { createRequire } from "node:module";

const jest = createRequire(import.meta.url).resolve("jest/bin/jest");
const child = spawn(
  process.execPath,
  ["--experimental-vm-modules", "--no-warnings=ExperimentalWarning", jest, ...process.argv.slice(2)],
  {
    stdio: "inherit",
    env: { ...process.env, PUPPETEER_SKIP_DOWNLOAD: "true" },
  },
);
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
