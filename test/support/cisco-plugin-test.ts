/** What the Cisco plugins' tests (cisco-cce, cisco-uccx) share: driven timers, error and event helpers. */
import assert from "node:assert/strict";
import { isPluginError, type CanonicalEvent, type PluginError } from "@dialmesh/sdk";
import type { Timers } from "../../plugins/cisco-common/batcher.ts";

/**
 * Timers the test drives: windows fire on fire(); backoffs resolve at once, are recorded and
 * move the clock on.
 */
export class ManualTimers implements Timers {
  readonly sleeps: number[] = [];
  clock = Date.parse("2026-03-02T10:00:00Z");
  private pending: { fn: () => void; ms: number }[] = [];

  setTimer(fn: () => void, ms: number): () => void {
    const timer = { fn, ms };
    this.pending.push(timer);
    return () => {
      this.pending = this.pending.filter((t) => t !== timer);
    };
  }

  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.clock += ms;
  }

  /** Runs the timers set so far (batch windows and poll ticks) with at most `maxMs` delay. */
  fire(maxMs = Number.POSITIVE_INFINITY): number {
    const due = this.pending.filter((t) => t.ms <= maxMs);
    this.pending = this.pending.filter((t) => t.ms > maxMs);
    for (const t of due) t.fn();
    return due.length;
  }
}

/** The PluginError `promise` rejects with. */
export async function rejection(promise: Promise<unknown>): Promise<PluginError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(isPluginError(err), `expected a PluginError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected the send to fail");
}

/** The last event of each vendorId. */
export function callResults(events: CanonicalEvent[]): Map<string, CanonicalEvent> {
  const byVendor = new Map<string, CanonicalEvent>();
  for (const e of events) if ("vendorId" in e) byVendor.set(e.vendorId, e);
  return byVendor;
}
