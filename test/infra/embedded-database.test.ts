/**
 * The embedded FerretDB of `npm start` (core/main.ts without MONGO_URL), as real processes:
 * restarted when it dies, ended when the hub is SIGKILLed, and never run twice on one data dir.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, test } from "@jest/globals";
import { isAlive } from "../../core/infra/processes.ts";
import { eventually } from "../support/hub.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");

/** Live FerretDB processes whose command line names `dir`. */
function ferretsOn(dir: string): number[] {
  // Array.from: an array of this realm (jest's), not of the one readdirSync's came from.
  return Array.from(readdirSync("/proc"))
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const cmd = readFileSync(`/proc/${p}/cmdline`, "utf8");
        return cmd.includes("ferretdb") && cmd.includes(dir) && !cmd.includes("node");
      } catch {
        return false;
      }
    })
    .map(Number);
}

function startHubProcess(dataDir: string): { child: ChildProcess; api: Promise<string>; output: () => string } {
  const { MONGO_URL: _m, DIALMESH_CONFIG: _c, ...env } = process.env;
  const child = spawn(process.execPath, [path.join(ROOT, "core/main.ts")], {
    cwd: ROOT,
    env: { ...env, DIALMESH_DATA_DIR: dataDir, PORT: "0", DIALMESH_DEV_MAILBOX: "0" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (out += c.toString()));
  const api = eventually(async () => /^\s*API:\s+(http:\/\/\S+)/m.exec(out)?.[1], 60_000, "the hub's API line").catch(
    (err: Error) => {
      throw new Error(`${err.message}\n${out}`);
    },
  );
  return { child, api, output: () => out };
}

describe("the embedded database", () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), "dialmesh-embedded-"));
  const dbDir = path.join(dataDir, "db");
  const pidFile = path.join(dbDir, "ferretdb.pid");
  const children: ChildProcess[] = [];
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    for (const pid of ferretsOn(dbDir)) process.kill(pid, "SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
  });

  const pid = () => (existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8").trim()) : 0);
  const dbAnswers = async (api: string) => {
    const key = readFileSync(path.join(dataDir, "admin-key"), "utf8").trim();
    const res = await fetch(`${api}/api/v1/activities?limit=1`, { headers: { Authorization: `Bearer ${key}` } }).catch(
      () => undefined,
    );
    return res?.status === 200;
  };

  test("restarted when it dies; ended with a SIGKILLed hub; one per data dir after a restart", async () => {
    const first = startHubProcess(dataDir);
    children.push(first.child);
    const api = await first.api;
    const a = pid();
    assert.ok(a > 0 && isAlive(a), "the hub wrote the pid of its FerretDB");

    process.kill(a, "SIGKILL");
    const b = await eventually(
      async () => (pid() !== a && isAlive(pid()) ? pid() : undefined),
      30_000,
      "a new FerretDB",
    );
    await eventually(() => dbAnswers(api), 30_000, "the hub to reach its database again");

    first.child.kill("SIGKILL");
    await eventually(async () => !isAlive(b), 15_000, "the FerretDB of the killed hub to end with it");

    const second = startHubProcess(dataDir);
    children.push(second.child);
    const api2 = await second.api;
    assert.ok(await dbAnswers(api2));
    assert.deepEqual(ferretsOn(dbDir), [pid()], "exactly one FerretDB on the data dir");
    const exited = new Promise((r) => second.child.once("exit", r));
    second.child.kill("SIGTERM");
    await exited;
    await eventually(async () => ferretsOn(dbDir).length === 0, 15_000, "FerretDB stopped with the hub");
  });
});
