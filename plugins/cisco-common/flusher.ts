/**
 * Shared by the Cisco plugins: moves the outbox (outbox.ts) to Cisco. A send puts its
 * contact's row into the outbox and is answered QUEUED at once; one flusher per Cisco campaign
 * (the node holding the campaign's term) appends the rows in batches:
 *
 * - a batch goes when `batchSize` rows wait, or `batchWindowMs` after the oldest waiting row,
 *   and holds the oldest rows, at most `batchSize` (flushPlan, batchOf: pure);
 * - appends to one campaign go one after another (BatchDelivery retries and reconciles);
 * - rows Cisco took move to the open-contact set the result poller follows; rows it refused
 *   reach the hub as FAILED status events with Cisco's message;
 * - a node that dies leaves its rows in the outbox, those it had taken marked: the next term's
 *   holder reconciles them against the campaign's list before appending them again.
 *
 * With batchWindowMs 0 (no window: each row goes at once) a send waits for its import's
 * verdict for up to SEND_WAIT_MS, below the hub's send timeout, so that a refusal is the
 * send's own error; past that, or with a window, it is answered QUEUED once its row is in the
 * outbox and the verdict comes as an event.
 */
import { PluginError, type CanonicalEvent, type Logger, type Timers } from "@dialmesh/sdk";
import type { AppendRow, BatchDelivery, BatchOutcome, BatcherNames } from "./batcher.ts";
import type { ContactOutbox, OutboxEntry, OutboxSummary } from "./outbox.ts";
import type { OpenContactStore } from "./store.ts";

/** What the flusher does with a campaign now. */
export type FlushPlan = { kind: "idle" } | { kind: "now"; take: number } | { kind: "later"; inMs: number };

/** A full batch goes at once; fewer rows go batchWindowMs after the oldest of them arrived. */
export function flushPlan(summary: OutboxSummary, now: number, batchSize: number, batchWindowMs: number): FlushPlan {
  if (summary.waiting === 0 || summary.oldestAt === undefined) return { kind: "idle" };
  if (summary.waiting >= batchSize) return { kind: "now", take: batchSize };
  const inMs = summary.oldestAt + batchWindowMs - now;
  return inMs <= 0 ? { kind: "now", take: summary.waiting } : { kind: "later", inMs };
}

export interface Batch<Row extends AppendRow> {
  /** What to append. */
  rows: Row[];
  /** Some row was taken before (its node died or its answer was lost): read the list first. */
  uncertain: boolean;
  /** Account numbers open at Cisco already (a resend of an appended attempt): never appended again. */
  alreadyOpen: string[];
}

/** The batch of `entries` (oldest first), leaving out the ones Cisco holds already. */
export function batchOf<Row extends AppendRow>(
  entries: readonly OutboxEntry<Row>[],
  open: ReadonlySet<string>,
): Batch<Row> {
  const fresh = entries.filter((e) => !open.has(e.row.accountNumber));
  return {
    rows: fresh.map((e) => e.row),
    uncertain: fresh.some((e) => e.takenAt !== undefined),
    alreadyOpen: entries.filter((e) => open.has(e.row.accountNumber)).map((e) => e.row.accountNumber),
  };
}

/** How a send's contact was accepted. */
export type Acceptance = "appended" | "waiting";

/** The hub's send timeout is 20 s: a send answers before it. */
export const SEND_WAIT_MS = 15_000;
/** A term's lease: a node that died is replaced after it. */
export const TERM_MS = 30_000;
/** How often the outbox is looked at (rows of other nodes, windows, terms to renew). */
const TICK_MS = 1000;
/**
 * Every how many ticks the outbox is asked which campaigns it holds. The question reads every
 * waiting row on FerretDB (bench:cisco: up to 5 s with 10,000 waiting, once a second on every
 * node); between two, a node looks at the campaigns it knows (its own sends, earlier answers),
 * so another node's rows are found within this many ticks (the term's lease is 30 s).
 */
const DISCOVER_EVERY_TICKS = 15;

export interface FlusherOptions<Row extends AppendRow> {
  outbox: ContactOutbox<Row>;
  store: OpenContactStore;
  delivery: BatchDelivery<Row>;
  names: BatcherNames;
  logger: Logger;
  timers: Timers;
  now(): Date;
  /** This process, as holder of flusher terms. */
  nodeId: string;
  batchSize: number;
  batchWindowMs: number;
  emit(events: CanonicalEvent[]): Promise<void>;
  /** Takes secrets out of vendor messages before they reach the hub. */
  redact(text: string): string;
  /** Told of each delivery's auth failure (health shows it), or undefined once Cisco took rows. */
  observe(authFailure: PluginError | undefined): void;
}

interface Waiter {
  campaignId: number;
  /** Its row is in a delivery: it waits for the verdict. */
  taken: boolean;
  cancelTimer: (() => void) | undefined;
  resolve(acceptance: Acceptance): void;
  reject(error: PluginError): void;
}

interface CampaignFlush {
  running: Promise<void> | undefined;
  /** Something changed while a round ran: run another. */
  again: boolean;
  delivering: boolean;
  /** A flush of the campaign is deleting its rows: no round. */
  paused: boolean;
  /** Rows waiting, as far as this node knows (the last count plus its own adds since). */
  estimate: number;
  windowAt: number | undefined;
  cancelWindow: (() => void) | undefined;
  heldUntil: number;
  heldElsewhereUntil: number;
}

export class OutboxFlusher<Row extends AppendRow> {
  private readonly opts: FlusherOptions<Row>;
  private readonly campaigns = new Map<number, CampaignFlush>();
  private readonly waiters = new Map<string, Waiter>();
  private cancelTick: (() => void) | undefined;
  private ticking: Promise<void> | undefined;
  private ticks = 0;
  private stopping = false;
  private readonly log: string;

  constructor(opts: FlusherOptions<Row>) {
    this.opts = opts;
    this.log = `cisco ${opts.names.operation}`;
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  /** Puts the row into the outbox; "waiting" once it is there, "appended" once Cisco has it. */
  async accept(campaignId: number, row: Row, activityId: string): Promise<Acceptance> {
    if (this.stopping) {
      throw new PluginError("PLUGIN_STOPPING", `the ${this.opts.names.plugin} instance is stopping`, {
        retryable: true,
      });
    }
    const added = await this.opts.outbox.add({ campaignId, row, activityId, enqueuedAt: this.opts.now() });
    // Already waiting: a resend of the same attempt adds nothing.
    if (!added) return "waiting";
    const state = this.state(campaignId);
    state.estimate += 1;
    const roundNeeded =
      this.opts.batchWindowMs === 0 || state.estimate >= this.opts.batchSize || state.windowAt === undefined;
    if (!roundNeeded || state.paused) return "waiting";
    if (this.opts.batchWindowMs > 0) {
      this.schedule(campaignId);
      return "waiting";
    }
    return new Promise<Acceptance>((resolve, reject) => {
      this.waiters.set(row.accountNumber, { campaignId, taken: false, cancelTimer: undefined, resolve, reject });
      this.schedule(campaignId);
    });
  }

  /** Looks at the outbox every second once started. */
  start(): void {
    const tick = (): void => {
      if (this.stopping) return;
      this.ticking = this.tick().finally(() => {
        this.ticking = undefined;
        if (!this.stopping) this.cancelTick = this.opts.timers.setTimer(tick, TICK_MS);
      });
    };
    this.cancelTick = this.opts.timers.setTimer(tick, TICK_MS);
  }

  /** Waits until no outbox check or round runs on this node. */
  async idle(): Promise<void> {
    await this.ticking;
    for (;;) {
      const running = [...this.campaigns.values()].map((s) => s.running).filter((r) => r !== undefined);
      if (running.length === 0) return;
      await Promise.all(running);
      // A macrotask between looks: should a round be left behind, this waits, not spins.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** The campaign is flushed: its waiting rows end CANCELLED (`error` for sends still waiting). */
  async cancel(campaignId: number, error: PluginError): Promise<number> {
    const state = this.state(campaignId);
    state.paused = true;
    try {
      await state.running;
      const entries = await this.opts.outbox.oldest(campaignId, 0);
      await this.fail(entries, error, "CANCELLED");
      return entries.length;
    } finally {
      state.paused = false;
    }
  }

  /**
   * Finishes the rounds under way (a delivery stops between attempts) and ends this node's
   * terms. Durable rows stay for the next holder; rows kept in memory fail retryable.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.cancelTick?.();
    for (const state of this.campaigns.values()) state.cancelWindow?.();
    await this.idle();
    const { plugin, operation } = this.opts.names;
    const error = new PluginError("PLUGIN_STOPPING", `the ${plugin} instance stopped before the ${operation}`, {
      retryable: true,
    });
    if (!this.opts.outbox.durable) {
      for (const campaignId of await this.opts.outbox.campaigns()) {
        await this.fail(await this.opts.outbox.oldest(campaignId, 0), error, "FAILED");
      }
    }
    for (const waiter of this.waiters.values()) this.settle(waiter, "waiting");
    this.waiters.clear();
    for (const [campaignId, state] of this.campaigns) {
      if (state.heldUntil > 0) await this.opts.outbox.releaseTerm(campaignId, this.opts.nodeId, this.opts.now());
    }
  }

  private state(campaignId: number): CampaignFlush {
    let state = this.campaigns.get(campaignId);
    if (!state) {
      state = {
        running: undefined,
        again: false,
        delivering: false,
        paused: false,
        estimate: 0,
        windowAt: undefined,
        cancelWindow: undefined,
        heldUntil: 0,
        heldElsewhereUntil: 0,
      };
      this.campaigns.set(campaignId, state);
    }
    return state;
  }

  private async tick(): Promise<void> {
    try {
      const discover = this.ticks++ % DISCOVER_EVERY_TICKS === 0;
      const campaigns = new Set([...(discover ? await this.opts.outbox.campaigns() : []), ...this.campaigns.keys()]);
      for (const campaignId of campaigns) {
        const state = this.state(campaignId);
        // A long delivery (backoffs) must not let the term lapse under it.
        if (state.delivering) await this.hold(campaignId, state);
        else this.schedule(campaignId);
      }
    } catch (err) {
      this.opts.logger.warn(`${this.log} outbox check failed`, { message: errorMessage(err) });
    }
  }

  /** Runs a round for the campaign, or another one after the round under way. */
  private schedule(campaignId: number): void {
    const state = this.state(campaignId);
    if (state.running) {
      state.again = true;
      return;
    }
    state.running = (async () => {
      // Begin after `running` is set: a round that ends at once (stopping, paused) would
      // otherwise clear `running` in its `finally` before the assignment, which then kept a
      // settled promise there for good, and idle() (so stop()) waited on it for ever.
      await Promise.resolve();
      try {
        do {
          state.again = false;
          if (this.stopping || state.paused) break;
          state.again = (await this.round(campaignId, state)) || state.again;
        } while (state.again);
      } catch (err) {
        state.delivering = false;
        this.opts.logger.error(`${this.log} outbox round failed`, { campaignId, message: errorMessage(err) });
      } finally {
        // Rows not taken (or not decided) wait in the outbox; their sends are answered.
        this.releaseWaiters(campaignId, true);
        state.running = undefined;
      }
    })();
  }

  /** One decision and at most one delivery; true when another round may find work. */
  private async round(campaignId: number, state: CampaignFlush): Promise<boolean> {
    const { outbox } = this.opts;
    if (!(await this.hold(campaignId, state))) {
      this.releaseWaiters(campaignId, false);
      return false;
    }
    const summary = await outbox.summary(campaignId);
    state.estimate = summary.waiting;
    const plan = flushPlan(summary, this.opts.now().getTime(), this.opts.batchSize, this.opts.batchWindowMs);
    if (plan.kind !== "now") {
      if (plan.kind === "later") this.armWindow(campaignId, state, plan.inMs);
      this.releaseWaiters(campaignId, false);
      return false;
    }
    state.cancelWindow?.();
    state.cancelWindow = undefined;
    state.windowAt = undefined;
    const entries = await outbox.oldest(campaignId, plan.take);
    const open = await this.opts.store.openAmong(
      campaignId,
      entries.map((e) => e.row.accountNumber),
    );
    const batch = batchOf(entries, open);
    await outbox.markTaken(
      batch.rows.map((r) => r.accountNumber),
      this.opts.now(),
    );
    state.estimate = Math.max(0, state.estimate - entries.length);
    for (const row of batch.rows) this.take(row.accountNumber);
    state.delivering = true;
    this.releaseWaiters(campaignId, false);
    const outcome = await this.opts.delivery.deliver(campaignId, batch.rows, batch.uncertain);
    state.delivering = false;
    await this.record(campaignId, entries, batch.alreadyOpen, outcome);
    return !this.stopping;
  }

  private async hold(campaignId: number, state: CampaignFlush): Promise<boolean> {
    const now = this.opts.now().getTime();
    if (state.heldUntil - now > TERM_MS / 2) return true;
    // Another node flushes the campaign: look again at the next tick, not at every send.
    if (state.heldElsewhereUntil > now) return false;
    const held = await this.opts.outbox.holdTerm(campaignId, this.opts.nodeId, new Date(now), TERM_MS);
    state.heldUntil = held ? now + TERM_MS : 0;
    state.heldElsewhereUntil = held ? 0 : now + TICK_MS;
    return held;
  }

  private armWindow(campaignId: number, state: CampaignFlush, inMs: number): void {
    const at = this.opts.now().getTime() + inMs;
    if (state.windowAt !== undefined && state.windowAt <= at) return;
    state.cancelWindow?.();
    state.windowAt = at;
    state.cancelWindow = this.opts.timers.setTimer(() => {
      state.windowAt = undefined;
      state.cancelWindow = undefined;
      this.schedule(campaignId);
    }, inMs);
  }

  /** What Cisco said: accepted rows open, refused ones reported; both leave the outbox. */
  private async record(
    campaignId: number,
    entries: readonly OutboxEntry<Row>[],
    alreadyOpen: readonly string[],
    outcome: BatchOutcome<Row>,
  ): Promise<void> {
    const accepted = outcome.accepted.map((r) => r.accountNumber);
    if (accepted.length > 0) {
      try {
        await this.opts.store.open(accepted.map((accountNumber) => ({ accountNumber, campaignId })));
      } catch (err) {
        // Cisco has the contacts: leaving them in the outbox would append them again (a
        // reconciliation would catch that, but not for long). Their results will not be
        // polled; say so loudly.
        this.opts.logger.error(
          `${this.log} applied but its contacts not recorded as open: their results will be missed`,
          { campaignId, rows: accepted.length, error: errorMessage(err) },
        );
      }
    }
    const authFailure = outcome.failed.find((f) => f.error.code === "AUTH_FAILED")?.error;
    if (authFailure || accepted.length > 0) this.opts.observe(authFailure);
    const done = [...accepted, ...alreadyOpen];
    await this.opts.outbox.remove(done);
    for (const accountNumber of done) this.settleByAccount(accountNumber, "appended");
    if (outcome.failed.length === 0) return;
    const byAccount = new Map(entries.map((e) => [e.row.accountNumber, e]));
    const groups = new Map<PluginError, OutboxEntry<Row>[]>();
    for (const { row, error } of outcome.failed) {
      const entry = byAccount.get(row.accountNumber);
      if (entry) groups.set(error, [...(groups.get(error) ?? []), entry]);
    }
    for (const [error, failed] of groups) await this.fail(failed, error, "FAILED");
  }

  /**
   * Ends the entries with `error`: a send still waiting rejects with it, the others become
   * status events; then the rows leave the outbox. A failed emit leaves them there: the next
   * round reconciles them and decides again.
   */
  private async fail(entries: readonly OutboxEntry<Row>[], error: PluginError, status: "FAILED" | "CANCELLED") {
    if (entries.length === 0) return;
    const at = this.opts.now();
    const reason = this.opts.redact(error.message);
    const events: CanonicalEvent[] = [];
    for (const entry of entries) {
      const waiter = this.waiters.get(entry.row.accountNumber);
      if (waiter) {
        this.waiters.delete(entry.row.accountNumber);
        waiter.cancelTimer?.();
        waiter.reject(error);
        continue;
      }
      events.push({
        kind: "status",
        vendorId: entry.row.accountNumber,
        activityId: entry.activityId,
        status: status === "FAILED" ? error.status : status,
        raw: error.code,
        reasonCode: error.code,
        reason,
        retryable: error.retryable,
        at,
      });
    }
    try {
      if (events.length > 0) await this.opts.emit(events);
    } catch (err) {
      this.opts.logger.error(`${this.log} outcome not reported; the rows stay in the outbox`, {
        rows: events.length,
        code: error.code,
        error: errorMessage(err),
      });
      return;
    }
    await this.opts.outbox.remove(entries.map((e) => e.row.accountNumber));
    this.opts.logger.info(`${this.log} rows ended`, { rows: entries.length, code: error.code, status });
  }

  private take(accountNumber: string): void {
    const waiter = this.waiters.get(accountNumber);
    if (!waiter || waiter.taken) return;
    waiter.taken = true;
    waiter.cancelTimer = this.opts.timers.setTimer(() => this.settleByAccount(accountNumber, "waiting"), SEND_WAIT_MS);
  }

  /** Answers the campaign's waiting sends whose rows are not in a delivery (all with `all`). */
  private releaseWaiters(campaignId: number, all: boolean): void {
    for (const [accountNumber, waiter] of this.waiters) {
      if (waiter.campaignId === campaignId && (all || !waiter.taken)) this.settleByAccount(accountNumber, "waiting");
    }
  }

  private settleByAccount(accountNumber: string, acceptance: Acceptance): void {
    const waiter = this.waiters.get(accountNumber);
    if (!waiter) return;
    this.waiters.delete(accountNumber);
    this.settle(waiter, acceptance);
  }

  private settle(waiter: Waiter, acceptance: Acceptance): void {
    waiter.cancelTimer?.();
    waiter.resolve(acceptance);
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
