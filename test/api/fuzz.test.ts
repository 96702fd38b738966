/**
 * The REST API fuzzed against its own contract, docs/openapi.yaml, by schemathesis: positive and
 * negative examples for every operation (a bounded number each, a fixed seed), checking that no
 * answer is a 5xx and that every answer matches the documented status codes, content types and
 * schemas.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, test } from "@jest/globals";
import { startTestHub, TEST_KEYS, type TestHub } from "../support/hub.ts";
import { schemathesisBinary } from "../support/schemathesis.ts";
import { startSmtpServer, type LocalSmtpServer } from "../vendors/smtp-server.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const MAX_EXAMPLES = Number(process.env.DIALMESH_FUZZ_EXAMPLES ?? 25);

describe("the API under schemathesis", () => {
  let hub: TestHub;
  let smtp: LocalSmtpServer;
  let st: string;
  beforeAll(async () => {
    st = schemathesisBinary();
    smtp = await startSmtpServer();
    hub = await startTestHub({
      plugins: [
        { id: "mail", use: "email-smtp", options: { host: "127.0.0.1", port: smtp.port, from: "a@example.com" } },
      ],
    });
  });
  afterAll(async () => {
    await hub?.stop();
    await smtp?.stop();
  });

  test(`no 5xx and no answer outside the schema, ${MAX_EXAMPLES} examples per operation`, async () => {
    const args = [
      "run",
      path.join(ROOT, "docs/openapi.yaml"),
      "--url",
      hub.apiUrl,
      "--header",
      `Authorization: Bearer ${TEST_KEYS.admin}`,
      "--checks",
      "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
      "--max-examples",
      String(MAX_EXAMPLES),
      "--seed",
      "20261202",
      "--workers",
      "1",
      "--phases",
      "examples,coverage,fuzzing",
      "--no-color",
      "--generation-database",
      "none",
      "--request-timeout",
      "30",
    ];
    // Run from a temporary directory: schemathesis keeps a cache (.schemathesis/) where it runs.
    const cwd = mkdtempSync(path.join(tmpdir(), "dialmesh-fuzz-"));
    const child = spawn(st, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (out += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (out += s));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    rmSync(cwd, { recursive: true, force: true });
    process.stdout.write(
      `[fuzz.test.ts] ${out
        .split("\n")
        .filter((l) => /passed|failed|errored|operations|cases/i.test(l))
        .slice(-4)
        .join(" | ")}\n`,
    );
    assert.equal(code, 0, out.slice(-20_000));
  });
});
