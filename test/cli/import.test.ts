/** `dialmesh import` end to end, through the bin wrapper, against a real hub on FerretDB. */
import { afterAll, beforeAll, test } from "@jest/globals";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { startTestHub, TEST_KEYS, type TestHub } from "../support/hub.ts";

const BIN = path.resolve(import.meta.dirname, "../../bin/dialmesh");
const dir = mkdtempSync(path.join(tmpdir(), "dialmesh-import-cli-"));
let hub: TestHub;

beforeAll(async () => {
  hub = await startTestHub({});
  assert.equal(
    (await hub.api("PUT", "/api/v1/attributes/segment", { type: "enum", values: ["gold", "silver"] })).status,
    201,
  );
  const lines = ["Account ID,Name,Phone,Segment"];
  for (let i = 1; i <= 1200; i++)
    lines.push(`C${i},Name ${i},212 555 ${String(i).padStart(4, "0")},${i === 600 ? "bronze" : "gold"}`);
  writeFileSync(path.join(dir, "customers.csv"), lines.join("\n") + "\n");
  writeFileSync(
    path.join(dir, "map.json"),
    JSON.stringify({
      mapping: { "Account ID": "id", Name: "firstName", Phone: "phones[0]", Segment: "attributes.segment" },
      defaultRegion: "US",
    }),
  );
  writeFileSync(path.join(dir, "bad.csv"), "Account ID;Name;Phone;Segment\nC1;A;1;gold\n");
});
afterAll(async () => {
  await hub?.stop();
});

async function dialmesh(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(BIN, args, {
      cwd: dir,
      env: { ...process.env, DIALMESH_CWD: "", DIALMESH_URL: hub.apiUrl, DIALMESH_API_KEY: TEST_KEYS.admin },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test("imports a file, with progress lines and the summary", async () => {
  const out = await dialmesh(["import", "customers.csv", "--map", "map.json"]);
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /^import imp_\w+ started$/m);
  assert.match(
    out.stdout,
    /^completed: 1200 rows read, 1199 inserted, 0 updated, 0 duplicates, 0 skipped, 1 rejected, 0 warnings$/m,
  );
  assert.match(out.stdout, /rejected rows: GET http:\/\/.*\/rejected/);
  assert.equal(((await hub.api("GET", "/api/v1/customers/C7")).body as { firstName: string }).firstName, "Name 7");
});

test("a bad file: the hub's error with its line, exit 1", async () => {
  const out = await dialmesh(["import", "bad.csv", "--map", "map.json"]);
  assert.equal(out.code, 1);
  assert.match(out.stderr, /\/file\/line\/1: line 1: .*delimited by ";"/);
});
