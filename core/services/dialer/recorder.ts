/**
 * What happened to calls (a contact's end, the result on its activity) that could not be
 * written, the database being away: kept in order and written again at each pulse, so an
 * outage loses no result. A node that dies meanwhile leaves its contacts `dialed`; the next
 * term ends them NODE_LOST and never dials them again. A write that keeps failing while the
 * database is reachable is a fault of its own: logged and given up after a few tries.
 */
import type { DialerNode } from "./node.ts";

export interface CallStepRecorder {
  /** Writes a step now, or keeps it (behind any kept before) when it fails. */
  record(what: string, write: () => Promise<void>): Promise<void>;
  /** Writes the kept steps, oldest first; false while the oldest still fails. */
  recordKept(): Promise<boolean>;
}

export function createCallStepRecorder(node: DialerNode): CallStepRecorder {
  const { runtime } = node;
  const unrecorded: { what: string; write: () => Promise<void>; faults: number }[] = [];
  const MAX_FAULTS = 5;

  async function record(what: string, write: () => Promise<void>): Promise<void> {
    const entry = { what, write, faults: 0 };
    if (unrecorded.length > 0) {
      unrecorded.push(entry); // behind the older ones: a call's steps keep their order
      runtime.metrics.dialer.unrecordedSteps(unrecorded.length);
      return;
    }
    try {
      await write();
    } catch (err) {
      unrecorded.push(entry);
      noteFault(entry, err as Error);
    }
    runtime.metrics.dialer.unrecordedSteps(unrecorded.length);
  }

  function noteFault(entry: (typeof unrecorded)[number], err: Error): void {
    if (runtime.store.reachable()) entry.faults++;
    node.logger.warn("could not record a call step; kept to try again", { what: entry.what, error: err.message });
  }

  /** Writes the kept steps, oldest first; false while the oldest still fails. */
  async function recordKept(): Promise<boolean> {
    while (unrecorded.length > 0) {
      const entry = unrecorded[0]!;
      try {
        await entry.write();
      } catch (err) {
        noteFault(entry, err as Error);
        if (entry.faults < MAX_FAULTS) return false;
        node.logger.error("gave up recording a call step", { what: entry.what, error: (err as Error).message });
      }
      unrecorded.shift();
      runtime.metrics.dialer.unrecordedSteps(unrecorded.length);
    }
    return true;
  }

  return { record, recordKept };
}
