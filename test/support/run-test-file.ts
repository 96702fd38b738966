/**
 * Runs one test file in a child jest (the project's config, ESM mode) and returns what passed
 * and failed, by test title. For tests of test tooling: the contract kit against its flawed
 * fixtures, the plugin scaffold's generated contract test.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "../..");
const JEST = createRequire(import.meta.url).resolve("jest/bin/jest");

export interface TestFileRun {
  code: number;
  passed: string[];
  failed: string[];
  skipped: string[];
  output: string;
}

interface JestJson {
  testResults: { assertionResults: { title: string; status: string }[]; message: string }[];
}

export function runTestFile(file: string, env: Record<string, string> = {}): Promise<TestFileRun> {
  const outDir = mkdtempSync(path.join(tmpdir(), "dialmesh-jest-run-"));
  const outFile = path.join(outDir, "result.json");
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        "--experimental-vm-modules",
        "--no-warnings=ExperimentalWarning",
        JEST,
        "--config",
        path.join(ROOT, "jest.config.js"),
        "--rootDir",
        ROOT,
        // The file may live outside the repository (a plugin generated in a temp folder).
        "--roots",
        ROOT,
        "--roots",
        path.dirname(path.resolve(file)),
        // Any file name, not only *.test.ts (the fixture is echo-plugin.contract.ts).
        "--testMatch",
        "**/*.ts",
        "--runTestsByPath",
        path.resolve(file),
        "--json",
        "--outputFile",
        outFile,
        "--maxWorkers",
        "1",
      ],
      { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr.on("data", (c: Buffer) => (output += c.toString()));
    child.on("error", reject);
    child.on("exit", (code) => {
      try {
        const json = JSON.parse(readFileSync(outFile, "utf8")) as JestJson;
        const results = json.testResults.flatMap((r) => r.assertionResults);
        const titles = (status: string) => results.filter((r) => r.status === status).map((r) => r.title);
        resolve({
          code: code ?? 1,
          passed: titles("passed"),
          failed: titles("failed"),
          skipped: [...titles("pending"), ...titles("skipped")],
          output: output + json.testResults.map((r) => r.message).join("\n"),
        });
      } catch (err) {
        reject(new Error(`jest wrote no result for ${file}: ${String(err)}\n${output}`));
      } finally {
        rmSync(outDir, { recursive: true, force: true });
      }
    });
  });
}
