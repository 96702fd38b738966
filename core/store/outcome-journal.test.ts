/**
 * The outcome journal on a real directory: what it keeps, how a replay that meets a database
 * still away keeps the rest, and which files a starting process adopts (dead owners only).
 */
import assert from "node:assert/strict";
import { spawnSync, spawn } from "node:child_process";
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, test } from "@jest/globals";
import { OutcomeJournal, type JournaledOutcome } from "./outcome-journal.ts";

function entry(attemptId: string): JournaledOutcome {
  return {
    activityId: `act-${attemptId}`,
    attemptIndex: 0,
    attemptId,
    leaseToken: "lease-1",
    update: { status: "SENT", vendorId: `<${attemptId}@dialmesh>` },
    nextRunAt: null,
    answeredAt: "2026-12-02T10:00:00.000Z",
  };
}

/** A pid that no process has now (a child that has exited). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  return Number(child.stdout);
}

describe("OutcomeJournal", () => {
  const dirs: string[] = [];
  const fresh = () => {
    const dir = mkdtempSync(path.join(tmpdir(), "dialmesh-journal-"));
    dirs.push(dir);
    return path.join(dir, "journal");
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  test("an appended answer is on disk before append returns, and found by attempt id", () => {
    const dir = fresh();
    const journal = new OutcomeJournal(dir, "node-a");
    journal.append(entry("att-1"));
    const lines = readFileSync(journal.file, "utf8").trim().split("\n");
    assert.deepEqual(
      lines.map((l) => (JSON.parse(l) as JournaledOutcome).attemptId),
      ["att-1"],
    );
    assert.equal(journal.find("att-1")?.update.vendorId, "<att-1@dialmesh>");
    assert.equal(journal.find("att-2"), undefined);
    journal.close();
  });

  test("a drain that meets the database still away keeps what it could not apply; the file is emptied once all are in", async () => {
    const journal = new OutcomeJournal(fresh(), "node-a");
    for (const id of ["att-1", "att-2", "att-3"]) journal.append(entry(id));
    const applied: string[] = [];
    await assert.rejects(
      journal.drain(async (e) => {
        if (e.attemptId === "att-2") throw new Error("database unreachable");
        applied.push(e.attemptId);
      }),
      /database unreachable/,
    );
    assert.deepEqual(applied, ["att-1"]);
    assert.equal(journal.size, 2);
    assert.notEqual(readFileSync(journal.file, "utf8"), "", "nothing is dropped from disk before all are applied");

    assert.equal(await journal.drain(async (e) => void applied.push(e.attemptId)), 2);
    assert.deepEqual(applied, ["att-1", "att-2", "att-3"]);
    assert.equal(journal.size, 0);
    assert.equal(readFileSync(journal.file, "utf8"), "");
    journal.close();
  });

  test("a new process adopts the journal of a dead one, skipping a line torn by its crash, and removes it once replayed", async () => {
    const dir = fresh();
    const dead = new OutcomeJournal(dir, "node-a", deadPid());
    dead.append(entry("att-1"));
    dead.append(entry("att-2"));
    dead.close();
    appendFileSync(dead.file, '{"activityId":"act-x","attemptIn'); // the crash tore the last append

    const next = new OutcomeJournal(dir, "node-b");
    assert.deepEqual([next.find("att-1")?.attemptId, next.find("att-2")?.attemptId], ["att-1", "att-2"]);
    assert.equal(next.size, 2);
    const second = new OutcomeJournal(dir, "node-c");
    assert.equal(second.size, 0, "an adopted journal is another live process's: not taken twice");

    await next.drain(async () => undefined);
    assert.deepEqual(Array.from(readdirSync(dir)), [], "the adopted file is gone and nothing new was written");
    next.close();
    second.close();
  });

  test("the journal of a live process is left to it; our own pid's file of the same node is a previous run's", async () => {
    const dir = fresh();
    const sleeper = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
    try {
      const other = new OutcomeJournal(dir, "node-a", sleeper.pid!);
      other.append(entry("att-live"));
      other.close();
      // A previous process of this node that had our pid (a container's hub is always pid 1).
      writeFileSync(path.join(dir, `outcomes-${process.pid}-node-b.jsonl`), `${JSON.stringify(entry("att-mine"))}\n`);

      const journal = new OutcomeJournal(dir, "node-b");
      assert.equal(journal.find("att-live"), undefined);
      assert.equal(journal.find("att-mine")?.attemptId, "att-mine");
      journal.close();
    } finally {
      sleeper.kill("SIGKILL");
    }
  });
});
