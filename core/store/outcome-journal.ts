/**
 * The write-ahead journal of vendor answers: when the database cannot take the outcome of a
 * send (it crashed between "DISPATCHING" and the answer), the answer is appended here and
 * fsynced before anything else happens, then written to the database once it is back. Without
 * it the attempt stays DISPATCHING, and whoever claims it next cannot know the message went out:
 * a resend reaches the customer twice (SMTP receivers do not dedupe on Message-ID).
 *
 * One file per hub node (`outcomes-<pid>-<node>.jsonl` in `<dataDir>/journal`), appended only. Entries
 * are applied idempotently (guarded by the attempt still being DISPATCHING), so the file is
 * simply emptied once every entry has been applied; a crash in between replays some twice,
 * harmlessly. A process that starts adopts the files of processes that are gone (by an atomic
 * rename, so two starting processes never both take one) and replays them before it dispatches.
 */
import type { AttemptDoc } from "./models.ts";
import {
  closeSync,
  fdatasyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import path from "node:path";
import type { AttemptStatus } from "@dialmesh/sdk";

/** One vendor answer that the database did not take. Dates as ISO strings. */
export interface JournaledOutcome {
  activityId: string;
  attemptIndex: number;
  attemptId: string;
  /** The lease the sending node held, so a replay by that node can also release it. */
  leaseToken: string | null;
  update: {
    status: AttemptStatus;
    vendorId?: string;
    reasonCode?: string;
    reason?: string;
    retryable?: boolean;
    retryAfterMs?: number;
  };
  nextRunAt: string | null;
  /** The attempt as sent, when it is not in the activity yet (only in its start record). */
  attempt?: AttemptDoc;
  answeredAt: string;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

const NODE_FILE = /^outcomes-(\d+)-(.+)\.jsonl$/;
const ADOPTED_FILE = /^adopted-(\d+)-(.+)\.jsonl$/;

export class OutcomeJournal {
  readonly dir: string;
  readonly file: string;
  private readonly pending = new Map<string, JournaledOutcome>();
  private readonly adopted: string[] = [];
  private fd: number | undefined;

  /** `node` names the hub node (several can share a process and a data directory in tests). */
  constructor(dir: string, node: string, pid: number = process.pid) {
    this.dir = dir;
    const tag = node.replace(/[^A-Za-z0-9_.-]/g, "_");
    this.file = path.join(dir, `outcomes-${pid}-${tag}.jsonl`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.adoptOrphans(pid, tag);
  }

  /** Entries not yet applied to the database. */
  get size(): number {
    return this.pending.size;
  }

  /** The journaled answer of an attempt, if this process holds one. */
  find(attemptId: string): JournaledOutcome | undefined {
    return this.pending.get(attemptId);
  }

  /**
   * Appends and fsyncs. Throws when the disk refuses (full, read-only): the caller then knows
   * the answer is kept nowhere but in memory.
   */
  append(entry: JournaledOutcome): void {
    this.fd ??= openSync(this.file, "a", 0o600);
    writeSync(this.fd, `${JSON.stringify(entry)}\n`);
    fdatasyncSync(this.fd);
    this.pending.set(entry.attemptId, entry);
  }

  /**
   * Applies every pending entry with `apply`, in order. Stops at the first that throws (the
   * database is still away) and rethrows; when all are applied, the journal files are emptied.
   */
  async drain(apply: (entry: JournaledOutcome) => Promise<void>): Promise<number> {
    let applied = 0;
    for (const entry of [...this.pending.values()]) {
      await apply(entry);
      this.pending.delete(entry.attemptId);
      applied++;
    }
    if (applied > 0 || this.adopted.length > 0) this.clear();
    return applied;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private clear(): void {
    if (this.pending.size > 0) return;
    if (this.fd !== undefined) {
      ftruncateSync(this.fd, 0);
      fdatasyncSync(this.fd);
    }
    for (const file of this.adopted.splice(0)) unlinkSync(file);
  }

  private adoptOrphans(pid: number, tag: string): void {
    for (const name of readdirSync(this.dir)) {
      const owner = NODE_FILE.exec(name) ?? ADOPTED_FILE.exec(name);
      if (!owner) continue;
      const ownerPid = Number(owner[1]);
      // A file of our own pid and node is a previous process's (a container's hub is always
      // pid 1); other files of live processes are theirs.
      const previousSelf =
        ownerPid === pid && (name === `outcomes-${pid}-${tag}.jsonl` || name.startsWith(`adopted-${pid}-${tag}.`));
      if (!previousSelf && isAlive(ownerPid)) continue;
      const target = path.join(this.dir, `adopted-${pid}-${tag}.${Date.now()}.${name}`);
      try {
        renameSync(path.join(this.dir, name), target);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") continue; // another process took it
        throw err;
      }
      this.adopted.push(target);
      for (const line of readFileSync(target, "utf8").split("\n")) {
        if (!line.trim()) continue;
        try {
          const entry = JSON.parse(line) as JournaledOutcome;
          this.pending.set(entry.attemptId, entry);
        } catch {
          // A line torn by the crash that ended its writer: its append never completed, so the
          // send it describes was never reported as recorded; recovery treats it as unknown.
        }
      }
    }
  }
}
