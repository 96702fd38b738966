/**
 * The faults of `npm run chaos`, one per row of the table in docs/reliability.md. Each runs
 * against real processes on loopback: hub nodes (`node core/main.ts`), FerretDB supervised as
 * `npm start` supervises it, nats-server, and the local SMTP server.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { startNats, type RunningService } from "../../core/infra/processes.ts";
import type { HubNodeProcess } from "../support/node-process.ts";
import type { LocalSmtpServer } from "../vendors/smtp-server.ts";

/** What a fault acts on. */
export interface Rig {
  smtp: LocalSmtpServer;
  nodes: HubNodeProcess[];
  nats: RunningService | undefined;
  /** FerretDB's data directory (its pid file is `ferretdb.pid` there). */
  dbDir: string;
  /** The data directory of the first node. */
  hubDataDir: string;
}

export interface Fault {
  name: string;
  /** What is done, for the table. */
  what: string;
  nodes: 1 | 3;
  /** Options of the `mail` plugin merged over the defaults. */
  mailOptions?: Record<string, unknown>;
  /** Before the nodes start (e.g. the journal's disk); a string says why the fault is skipped. */
  prepare?(rig: Pick<Rig, "hubDataDir">): string | undefined;
  /** Applied once the SMTP server has received the first receipts. */
  inject(rig: Rig): Promise<void>;
  cleanup?(rig: Pick<Rig, "hubDataDir">): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function killDatabase(dbDir: string): void {
  const pid = Number(readFileSync(path.join(dbDir, "ferretdb.pid"), "utf8").trim());
  process.kill(pid, "SIGKILL");
}

/** Holds the SMTP server's answer to the next `count` messages for `ms` each. */
function holdAnswers(smtp: LocalSmtpServer, count: number, ms: number): void {
  let left = count;
  smtp.beforeAccepting(async () => {
    if (left <= 0) return;
    left--;
    await sleep(ms);
  });
}

export const FAULTS: Fault[] = [
  {
    name: "none",
    what: "no fault (the baseline of the other rows)",
    nodes: 1,
    async inject() {},
  },
  {
    name: "database-sigkill",
    what: "FerretDB killed with SIGKILL mid-run (the supervisor restarts it)",
    nodes: 1,
    async inject(rig) {
      killDatabase(rig.dbDir);
    },
  },
  {
    name: "node-sigkill",
    what: "one of three nodes (NATS) killed with SIGKILL mid-run",
    nodes: 3,
    async inject(rig) {
      await rig.nodes[1]!.kill("SIGKILL");
    },
  },
  {
    name: "nats-restart",
    what: "nats-server stopped, started again on its port 2 s later",
    nodes: 3,
    async inject(rig) {
      const port = rig.nats!.port;
      await rig.nats!.stop();
      await sleep(2_000);
      rig.nats = await startNats({ port });
    },
  },
  {
    name: "smtp-4xx",
    what: "SMTP server answers 421 to the next 10 messages (the vendor's 429)",
    nodes: 1,
    async inject(rig) {
      for (let i = 0; i < 10; i++) rig.smtp.failNext(421, { stage: "rcpt" });
    },
  },
  {
    name: "smtp-5xx",
    what: "SMTP server answers 554 to the next 5 messages (permanent refusal)",
    nodes: 1,
    async inject(rig) {
      for (let i = 0; i < 5; i++) rig.smtp.failNext(554, { stage: "data" });
    },
  },
  {
    name: "smtp-slow",
    what: "SMTP server takes 3 s to answer each of the next 60 messages",
    nodes: 1,
    async inject(rig) {
      holdAnswers(rig.smtp, 60, 3_000);
    },
  },
  {
    name: "smtp-timeout",
    what: "SMTP server answers 5 messages after the plugin's 2 s socket timeout (it has them)",
    nodes: 1,
    mailOptions: { socketTimeout: 2_000 },
    async inject(rig) {
      holdAnswers(rig.smtp, 5, 4_000);
    },
  },
  {
    name: "journal-disk-full",
    what: "FerretDB killed while the journal's disk is full",
    nodes: 1,
    prepare(rig) {
      if (process.getuid?.() !== 0) return "needs root to mount a full tmpfs for the journal";
      const dir = path.join(rig.hubDataDir, "journal");
      mkdirSync(dir, { recursive: true });
      try {
        execFileSync("mount", ["-t", "tmpfs", "-o", "size=16k,mode=0700", "tmpfs", dir]);
      } catch (err) {
        return `cannot mount a tmpfs: ${(err as Error).message.split("\n")[0]}`;
      }
      try {
        writeFileSync(path.join(dir, "filler"), Buffer.alloc(64 * 1024));
      } catch {
        // ENOSPC: the disk is full, as wanted.
      }
      return undefined;
    },
    async inject(rig) {
      killDatabase(rig.dbDir);
    },
    cleanup(rig) {
      try {
        execFileSync("umount", [path.join(rig.hubDataDir, "journal")]);
      } catch {
        // not mounted
      }
    },
  },
];
