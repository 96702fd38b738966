/**
 * Dispatch of claimed activities: asks the planner what to do, checks compliance, routes
 * to a plugin, sends, and records the attempt. Every write is guarded by the claim's lease
 * token, so a node that lost its lease changes nothing.
 *
 * No double send: an attempt's start record (its reservation, carrying the attempt) is inserted
 * before the plugin is called; readers see the attempt as DISPATCHING until its outcome is pushed. If the
 * database cannot take the vendor's answer, the answer goes to this node's journal (fsynced)
 * and is written when the database is back. An attempt found DISPATCHING by another claimant
 * is first asked about on the node that started it (still sending, or journaled: wait); only
 * when that node is gone or knows nothing is it resent with the same attempt id (plugins whose
 * vendor dedupes on it) or failed with OUTCOME_UNKNOWN, leaving the decision to the fallback chain.
 */
import { decideNext, type PlanOptions } from "../domain/activity-plan.ts";
import { addressField } from "../domain/activity-input.ts";
import { newId } from "../domain/ids.ts";
import type { AttemptStatus } from "@dialmesh/sdk";
import { renderContent } from "@dialmesh/sdk";
import type { ActivityStore } from "../store/activities.ts";
import type { ConversationStore } from "../store/conversations.ts";
import type { ActivityDoc, AttemptDoc } from "../store/models.ts";
import type { Logger } from "@dialmesh/sdk";
import { foldStatuses } from "./fold.ts";
import { nextRunFor, snapshotOf } from "./snapshot.ts";
import { canFailOver } from "../routing/health.ts";
import type { PassedOver } from "../routing/plan.ts";
import type { JournaledOutcome } from "../store/outcome-journal.ts";
import type {
  AttemptState,
  ComplianceCheck,
  DialerHandOff,
  DispatchMetrics,
  EventPublisher,
  OutcomeJournalPort,
  Peers,
  Routing,
  SendOutcome,
} from "./ports.ts";

export interface DispatcherDeps {
  activities: ActivityStore;
  conversations: ConversationStore;
  routing: Routing;
  compliance: ComplianceCheck;
  events: EventPublisher;
  metrics?: DispatchMetrics;
  logger: Logger;
  nodeId: string;
  plan: PlanOptions;
  /**
   * The claim's lease: an attempt starts only with half of it left, so that a takeover (which
   * asks this node about the attempt before doing anything) stays well away from the send.
   */
  leaseMs?: number;
  /** Keeps vendor answers the database did not take; without it such an answer is lost. */
  journal?: OutcomeJournalPort;
  /** The other nodes, asked about an attempt one of them left DISPATCHING. */
  peers?: Peers;
  /** Takes voice attempts routed to an instance the dialer paces. */
  dialer?: DialerHandOff;
  /** False while the database is known to be away: answers go to the journal at once. */
  databaseReachable?: () => boolean;
  now?: () => Date;
}

/** How long an activity waits when this node has not loaded the plugins of its channel yet. */
const PLUGIN_WAIT_MS = 1_000;
/** How long an attempt another node is still sending (or has journaled) waits before it is looked at again. */
const RECOVER_WAIT_MS = 2_000;

export class Dispatcher {
  private readonly d: DispatcherDeps;
  private readonly now: () => Date;
  /** Attempts this node is sending or recording now. */
  private readonly inFlight = new Set<string>();
  private replaying: Promise<number> | undefined;
  constructor(deps: DispatcherDeps) {
    this.d = deps;
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * Takes one step for a claimed activity and releases the claim with the time it should be
   * looked at again (now, when a fallback or retry is due at once).
   */
  async process(claimed: ActivityDoc): Promise<void> {
    const now = this.now();
    const activity = await this.foldPending(claimed, now);
    const decision = decideNext(snapshotOf(activity), now, this.d.plan);
    switch (decision.kind) {
      case "dispatch":
        this.d.metrics?.observeLateness(
          activity.channel,
          Math.max(0, (now.getTime() - (activity.nextRunAt ?? now).getTime()) / 1000),
        );
        return this.attempt(activity, decision.step, decision.retry);
      case "recover":
        return this.recover(activity);
      case "expire":
        if (await this.d.activities.release(activity, { status: "EXPIRED", nextRunAt: null }, now)) {
          await this.announce(activity, "EXPIRED", { reason: "expired before it could be sent" });
        }
        return;
      default:
        await this.d.activities.release(activity, { nextRunAt: nextRunFor(decision, now) }, now);
    }
  }

  /** Applies vendor statuses kept on the timeline while the activity was busy. */
  private async foldPending(activity: ActivityDoc, now: Date): Promise<ActivityDoc> {
    if (!activity.attempts.some((a) => a.vendorId)) return activity;
    const events = await this.d.conversations.statusEvents(activity._id);
    const fold = foldStatuses(activity, events, now, this.d.plan);
    if (!fold) return activity;
    await this.d.activities.applyAttemptUpdates(activity, fold.updates, fold.activitySet, now, { release: false });
    return { ...fold.activity, leaseToken: activity.leaseToken };
  }

  /** One attempt at chain step `step`. */
  private async attempt(activity: ActivityDoc, step: number, retry: number): Promise<void> {
    const now = this.now();
    const channel = activity.chain[step]?.channel ?? activity.channel;
    const field = addressField(channel);
    const address = activity.customer[field];
    const base: AttemptDoc = {
      id: newId("att"),
      step,
      retry,
      channel,
      status: "DISPATCHING",
      node: this.d.nodeId,
      dispatchedAt: now,
      updatedAt: now,
      ...(address ? { address } : {}),
    };

    if (!address) {
      return this.recordFinal(activity, {
        ...base,
        status: "FAILED",
        reasonCode: "NO_ADDRESS",
        reason: `customer has no ${field} for channel "${channel}"`,
        retryable: false,
      });
    }
    const blocked = await this.d.compliance.blockReason(channel, address, activity);
    if (blocked) {
      return this.recordFinal(activity, {
        ...base,
        status: "BLOCKED",
        reasonCode: blocked.reasonCode,
        reason: blocked.reason,
        retryable: false,
      });
    }
    const plan = this.d.routing.route(channel, activity.chain[step]?.pluginId);
    if (plan.kind === "none") {
      return this.recordFinal(activity, {
        ...base,
        status: "FAILED",
        reasonCode: "NO_PLUGIN",
        reason: plan.reason,
        retryable: true,
      });
    }
    if (plan.kind === "wait") {
      // This node has not loaded the channel's plugins yet (a start or a reload): not the
      // activity's fault, so no attempt is spent; look again shortly (here or on another node).
      await this.d.activities.release(activity, { nextRunAt: new Date(now.getTime() + PLUGIN_WAIT_MS) }, now);
      return;
    }

    const attempt: AttemptDoc = {
      ...base,
      pluginId: plan.candidates[0]!,
      ...(plan.passedOver.length ? { passedOver: plan.passedOver } : {}),
    };
    // Start only with half a lease left at least. FerretDB applies a guarded update as read,
    // check, then write, with no compare-and-swap: a check passed just before the lease ran out
    // could land after another node had claimed the activity, and both would send (seen once
    // in 1,000 with three nodes, an 8 s lease, 200 claimed per round and 32 sent at a time).
    // This keeps a whole half lease between the check and a takeover; an activity left out
    // here is claimed again when its lease passes.
    const heldUntil = this.d.leaseMs ? new Date(now.getTime() + this.d.leaseMs / 2) : now;
    // And the attempt itself starts by a unique insert, its start record: should two nodes still
    // both think they hold the activity, only one starts this attempt.
    if (!(await this.d.activities.startAttempt(activity, attempt, now, heldUntil))) return;
    const started: ActivityDoc = {
      ...activity,
      status: "DISPATCHING",
      attempts: [...activity.attempts, { ...attempt, unstored: true }],
    };
    await this.send(started, started.attempts.length - 1, plan.candidates.slice(1));
  }

  /**
   * Calls the plugin for attempt `index` (already recorded as DISPATCHING) and records the
   * outcome. On a failure that proves nothing was sent (see canFailOver), the same attempt goes
   * to the next instance in `failovers`, and the attempt records which one it passed over and why.
   */
  private async send(activity: ActivityDoc, index: number, failovers: readonly string[] = []): Promise<void> {
    const attemptId = activity.attempts[index]!.id;
    this.inFlight.add(attemptId);
    try {
      await this.sendAndRecord(activity, index, failovers);
    } finally {
      this.inFlight.delete(attemptId);
    }
  }

  private async sendAndRecord(activity: ActivityDoc, index: number, failovers: readonly string[]): Promise<void> {
    let attempt = activity.attempts[index]!;
    let outcome = await this.call(activity, attempt);
    for (const next of failovers) {
      if (outcome.ok || !canFailOver(outcome.error)) break;
      const passedOver: PassedOver[] = [
        ...(attempt.passedOver ?? []),
        { pluginId: attempt.pluginId!, code: outcome.error.code, reason: outcome.error.message },
      ];
      // Recorded before the next instance is called, so a crash in between leaves the attempt on
      // the instance that may have it, and recovery asks the right one.
      if (
        !(await this.d.activities.switchAttemptPlugin(activity, index, attempt.pluginId!, next, passedOver, this.now()))
      ) {
        this.d.logger.warn("lease lost before failing over", { activityId: activity._id, attemptId: attempt.id });
        return;
      }
      this.d.logger.info("failing over to the next plugin instance", {
        activityId: activity._id,
        attemptId: attempt.id,
        from: attempt.pluginId,
        to: next,
        code: outcome.error.code,
      });
      attempt = { ...attempt, pluginId: next, passedOver };
      activity = { ...activity, attempts: activity.attempts.map((a, i) => (i === index ? attempt : a)) };
      outcome = await this.call(activity, attempt);
    }

    const update: Partial<AttemptDoc> & { status: AttemptStatus } = outcome.ok
      ? {
          status: outcome.result.status,
          vendorId: outcome.result.vendorId,
          ...(outcome.result.detail ? { reason: outcome.result.detail } : {}),
        }
      : {
          status: outcome.error.status,
          reasonCode: outcome.error.code,
          reason: outcome.error.message,
          retryable: outcome.error.retryable,
          ...(outcome.error.retryAfterMs !== undefined ? { retryAfterMs: outcome.error.retryAfterMs } : {}),
        };
    if (!outcome.ok && outcome.error.optOut && attempt.address) {
      await this.d.compliance.suppress(
        attempt.address,
        `${outcome.error.code}: ${outcome.error.message}`,
        `plugin:${attempt.pluginId}`,
      );
    }
    const now = this.now();
    const after: ActivityDoc = {
      ...activity,
      status: update.status,
      attempts: activity.attempts.map((a, i) => (i === index ? { ...a, ...update, updatedAt: now } : a)),
    };
    const nextRun = nextRunFor(decideNext(snapshotOf(after), now, this.d.plan), now);
    try {
      // Waiting out the driver's server selection first would leave the answer in memory only,
      // for seconds, should this process die meanwhile.
      if (this.d.journal && this.d.databaseReachable?.() === false) throw new Error("the database is unreachable");
      if (!(await this.d.activities.finishAttempt(activity, index, update, nextRun, now))) {
        this.d.logger.warn("lease lost before the outcome was recorded", {
          activityId: activity._id,
          attemptId: attempt.id,
        });
        return;
      }
      await this.timeline(after, after.attempts[index]!);
    } catch (err) {
      this.keep(
        {
          activityId: activity._id,
          attemptIndex: index,
          attemptId: attempt.id,
          leaseToken: activity.leaseToken ?? null,
          update,
          nextRunAt: nextRun ? nextRun.toISOString() : null,
          answeredAt: now.toISOString(),
          ...(attempt.unstored ? { attempt } : {}),
        },
        err,
      );
    }
  }

  /** The database did not take a vendor's answer: into the journal, or (no journal, disk refused) rethrown. */
  private keep(entry: JournaledOutcome, dbError: unknown): void {
    const detail = { activityId: entry.activityId, attemptId: entry.attemptId, status: entry.update.status };
    if (!this.d.journal) throw dbError;
    try {
      this.d.journal.append(entry);
    } catch (diskError) {
      this.d.logger.error(
        "the vendor's answer could not be recorded nor journaled; the attempt will be OUTCOME_UNKNOWN",
        {
          ...detail,
          database: (dbError as Error).message,
          journal: (diskError as Error).message,
        },
      );
      throw dbError;
    }
    this.d.logger.warn("the database did not take the vendor's answer; kept in the journal", {
      ...detail,
      error: (dbError as Error).message,
    });
  }

  /** What this node knows of an attempt it started (peers ask it through the mesh). */
  attemptState(attemptId: string): AttemptState {
    if (this.inFlight.has(attemptId)) return "in-flight";
    if (this.d.journal?.find(attemptId)) return "journaled";
    return "unknown";
  }

  /** Writes the journaled answers to the database; throws (keeping the rest) while it is away. */
  async replayJournal(): Promise<number> {
    const journal = this.d.journal;
    if (!journal || journal.size === 0) return 0;
    // One replay at a time (the timer and a dispatch may both ask).
    this.replaying ??= journal
      .drain((entry) => this.replay(entry))
      .then((applied) => {
        if (applied > 0) this.d.logger.info("journaled vendor answers recorded", { count: applied });
        return applied;
      })
      .finally(() => {
        this.replaying = undefined;
      });
    return this.replaying;
  }

  private async replay(entry: JournaledOutcome): Promise<void> {
    await this.d.activities.applyJournaledOutcome(entry, this.now());
    // The timeline event too, whether this replay or an earlier one (or the send itself, before
    // the database fell away) set the status: its id makes the write idempotent.
    const activity = await this.d.activities.get(entry.activityId);
    const attempt = activity?.attempts[entry.attemptIndex];
    if (!activity || attempt?.id !== entry.attemptId) return;
    if (attempt.status === entry.update.status) await this.timeline(activity, attempt);
    else
      this.d.logger.warn("a journaled answer found its attempt settled otherwise", {
        attemptId: entry.attemptId,
        journaled: entry.update.status,
        recorded: attempt.status,
      });
  }

  /** One call of one plugin instance; never throws. */
  private async call(activity: ActivityDoc, attempt: AttemptDoc): Promise<SendOutcome> {
    const t0 = process.hrtime.bigint();
    let outcome: SendOutcome;
    const request = {
      attemptId: attempt.id,
      activityId: activity._id,
      conversationId: activity.conversationId,
      channel: attempt.channel,
      customer: activity.customer,
      content: renderContent(activity.content, activity.customer),
      ...(activity.campaignId ? { campaignId: activity.campaignId } : {}),
    };
    try {
      const pluginId = attempt.pluginId!;
      outcome =
        this.d.dialer && this.d.routing.paced?.(pluginId)
          ? await this.d.dialer.enqueue(
              request,
              pluginId,
              activity.attempts.filter((a) => a.channel === "voice").length,
            )
          : await this.d.routing.send(pluginId, request);
    } catch (err) {
      // The mesh could not reach the plugin: nothing was sent.
      outcome = {
        ok: false,
        error: {
          code: "PLUGIN_UNREACHABLE",
          message: (err as Error).message,
          retryable: true,
          status: "FAILED",
          optOut: false,
        },
      };
    }
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    this.d.metrics?.pluginCall(attempt.pluginId!, seconds, outcome.ok ? "ok" : "error");
    return outcome;
  }

  /** An attempt left DISPATCHING by a node that died. */
  private async recover(activity: ActivityDoc): Promise<void> {
    const index = activity.attempts.length - 1;
    const attempt = activity.attempts[index]!;
    if (this.d.journal?.find(attempt.id)) {
      await this.replayJournal();
      await this.d.activities.release(activity, {}, this.now());
      return;
    }
    const state = !attempt.node
      ? "unknown"
      : attempt.node === this.d.nodeId
        ? this.attemptState(attempt.id)
        : ((await this.d.peers?.attemptState(attempt.node, attempt.id)) ?? "unknown");
    if (state !== "unknown") {
      // Its sender is still on it (a send outliving the lease) or holds the answer in its
      // journal until the database takes it: acting now would send twice.
      const now = this.now();
      await this.d.activities.release(activity, { nextRunAt: new Date(now.getTime() + RECOVER_WAIT_MS) }, now);
      return;
    }
    // Handing an attempt to the dialer again is idempotent too: its contact id is the attempt id.
    const resendable =
      attempt.pluginId &&
      (this.d.routing.idempotentSend(attempt.pluginId) || (this.d.dialer && this.d.routing.paced?.(attempt.pluginId)));
    if (resendable) {
      this.d.logger.info("resending an interrupted attempt under its original id", {
        activityId: activity._id,
        attemptId: attempt.id,
      });
      return this.send(activity, index);
    }
    const now = this.now();
    const update = {
      status: "FAILED" as const,
      reasonCode: "OUTCOME_UNKNOWN",
      reason:
        "the node sending this attempt stopped before recording the vendor's answer; not resent, to avoid a double send",
      retryable: false,
    };
    const after: ActivityDoc = {
      ...activity,
      status: "FAILED",
      attempts: activity.attempts.map((a, i) => (i === index ? { ...a, ...update } : a)),
    };
    const nextRun = nextRunFor(decideNext(snapshotOf(after), now, this.d.plan), now);
    if (await this.d.activities.finishAttempt(activity, index, update, nextRun, now))
      await this.timeline(after, after.attempts[index]!);
  }

  /** Records an attempt that ended before reaching a plugin (no address, blocked, no plugin). */
  private async recordFinal(activity: ActivityDoc, attempt: AttemptDoc): Promise<void> {
    const now = this.now();
    const status = attempt.status as AttemptStatus;
    const after: ActivityDoc = { ...activity, status, attempts: [...activity.attempts, attempt] };
    const nextRun = nextRunFor(decideNext(snapshotOf(after), now, this.d.plan), now);
    if (!(await this.d.activities.reserveAttempt(activity, this.d.nodeId, now))) return;
    if (await this.d.activities.recordAttempt(activity, attempt, nextRun, now)) await this.timeline(after, attempt);
  }

  private async timeline(activity: ActivityDoc, attempt: AttemptDoc): Promise<void> {
    const now = this.now();
    await this.d.conversations.record(
      {
        _id: `out:${attempt.id}:${attempt.status}`,
        conversationId: activity.conversationId,
        activityId: activity._id,
        attemptId: attempt.id,
        type: "OUTBOUND",
        channel: attempt.channel,
        status: attempt.status,
        at: now,
        ...(attempt.pluginId ? { pluginId: attempt.pluginId } : {}),
        ...(attempt.vendorId ? { vendorId: attempt.vendorId } : {}),
        ...(attempt.reasonCode ? { reasonCode: attempt.reasonCode } : {}),
        ...(attempt.reason ? { reason: attempt.reason } : {}),
      },
      now,
    );
    await this.announce(activity, attempt.status as AttemptStatus, {
      attemptId: attempt.id,
      channel: attempt.channel,
      ...(attempt.pluginId ? { pluginId: attempt.pluginId } : {}),
      ...(attempt.vendorId ? { vendorId: attempt.vendorId } : {}),
      ...(attempt.reasonCode ? { reasonCode: attempt.reasonCode } : {}),
      ...(attempt.reason ? { reason: attempt.reason } : {}),
    });
  }

  private async announce(activity: ActivityDoc, status: string, extra: Record<string, unknown>): Promise<void> {
    this.d.metrics?.statusChange(activity.channel, status);
    const attemptPart = typeof extra.attemptId === "string" ? extra.attemptId : "activity";
    await this.d.events.publish({
      id: `activity.status:${activity._id}:${attemptPart}:${status}`,
      name: "activity.status",
      occurredAt: this.now(),
      data: {
        activityId: activity._id,
        conversationId: activity.conversationId,
        customerId: activity.customer.id,
        campaignId: activity.campaignId,
        status,
        ...extra,
      },
    });
  }
}
