/** Shared by the hub-core benchmark's driver and its child processes: messages, workload, statistics. */
import type { ChildProcess } from "node:child_process";

/** The one email every item sends, in both systems (placeholders filled from the customer). */
export const CONTENT = {
  subject: "Your appointment, {{firstName}}",
  text: "Hello {{firstName}},\n\nthis is a reminder of your appointment tomorrow at 10:00.\nReply STOP to opt out.\n",
};
export const FROM = "Campaigns <noreply@example.com>";

export interface BenchCustomer {
  id: string;
  firstName: string;
  lastName: string;
  email: string;
  timezone: string;
}

export function customerFor(run: string, i: number): BenchCustomer {
  return {
    id: `cust-${run}-${i}`,
    firstName: `Ada${i}`,
    lastName: "Lovelace",
    email: `ada.${run}.${i}@example.com`,
    timezone: "Europe/London",
  };
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export interface LatenessSummary {
  n: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

export function summarizeLateness(values: number[]): LatenessSummary {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
  };
}

// ---------------------------------------------------------------------------------------------
// IPC between the driver and its children (SMTP sink, hub node, Agenda worker).

export type ChildMessage =
  | { type: "ready"; port?: number; apiUrl?: string }
  | { type: "stats"; count: number; first?: number; last?: number }
  | { type: "stopped" }
  | { type: "error"; message: string };

export type DriverMessage = { type: "stats" } | { type: "reset" } | { type: "stop" };

/** Sends `msg` to the parent (children only). */
export function toParent(msg: ChildMessage): void {
  process.send?.(msg);
}

/**
 * The life of a system's process: `start` brings it up (and tells the driver it is ready) and
 * returns how to stop it; the driver's "stop", or its going away, stops it once and ends the
 * process. A failure to start goes to the driver as an error.
 */
export async function runChild(start: () => Promise<() => Promise<void>>): Promise<void> {
  try {
    const stopSystem = await start();
    let stopping = false;
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      await stopSystem();
      toParent({ type: "stopped" });
      process.exit(0);
    };
    process.on("message", (m: DriverMessage) => {
      if (m.type === "stop") void stop();
    });
    process.on("disconnect", () => void stop());
  } catch (err) {
    toParent({ type: "error", message: (err as Error).stack ?? String(err) });
    process.exit(1);
  }
}

/** Waits for the next message of `type` from `child`, failing if it exits first. */
export function nextMessage<T extends ChildMessage["type"]>(
  child: ChildProcess,
  type: T,
  timeoutMs = 120_000,
): Promise<Extract<ChildMessage, { type: T }>> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
    };
    const onMessage = (m: ChildMessage) => {
      if (m.type === "error") {
        cleanup();
        reject(new Error(m.message));
      } else if (m.type === type) {
        cleanup();
        resolve(m as Extract<ChildMessage, { type: T }>);
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`child exited (code ${code}) while waiting for "${type}"`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no "${type}" from child within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on("message", onMessage);
    child.once("exit", onExit);
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T>(items: T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
