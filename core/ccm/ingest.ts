/**
 * Vendor events into the hub: statuses and call results advance attempts (never backwards,
 * never twice), replies land on the customer's conversation, opt-outs update the
 * suppression list. Every step is idempotent, so a repeated callback changes nothing.
 */
import { decideNext, type Decision } from "../domain/activity-plan.ts";
import { normalizeAddress } from "../domain/address.ts";
import { canAdvance, isFailure, isVoiceOutcome, type AttemptStatus } from "../domain/status.ts";
import type { CanonicalEvent, Logger } from "../sdk/plugin.ts";
import type { ActivityStore } from "../store/activities.ts";
import type { ConversationStore } from "../store/conversations.ts";
import type { SuppressionStore } from "../store/suppressions.ts";
import type { ActivityDoc } from "../store/models.ts";
import { nextRunFor, snapshotOf } from "./dispatcher.ts";
import type { DispatchMetrics, EventPublisher } from "./ports.ts";
import type { PlanOptions } from "../domain/activity-plan.ts";

export interface IngestDeps {
  activities: ActivityStore;
  conversations: ConversationStore;
  suppressions: SuppressionStore;
  events: EventPublisher;
  metrics?: DispatchMetrics;
  logger: Logger;
  plan: PlanOptions;
  now?: () => Date;
  /** How long to wait for a send's outcome to be recorded before a callback is called unmatched. */
  matchRetries?: { attempts: number; delayMs: number };
}

export interface IngestSummary {
  applied: number;
  ignored: number;
  unmatched: number;
}

export class EventIngester {
  private readonly d: IngestDeps;
  private readonly now: () => Date;
  constructor(deps: IngestDeps) {
    this.d = deps;
    this.now = deps.now ?? (() => new Date());
  }

  async ingest(pluginId: string, events: CanonicalEvent[]): Promise<IngestSummary> {
    const summary: IngestSummary = { applied: 0, ignored: 0, unmatched: 0 };
    for (const event of events) {
      const result = await this.one(pluginId, event);
      summary[result] += 1;
    }
    return summary;
  }

  private async one(pluginId: string, event: CanonicalEvent): Promise<keyof IngestSummary> {
    switch (event.kind) {
      case "status":
        return this.status(pluginId, event.vendorId, event.status, event.at, {
          raw: event.raw,
          ...(event.reasonCode !== undefined ? { reasonCode: event.reasonCode } : {}),
          ...(event.reason !== undefined ? { reason: event.reason } : {}),
          ...(event.retryable !== undefined ? { retryable: event.retryable } : {}),
        });
      case "call-result":
        return this.status(pluginId, event.vendorId, event.outcome, event.at, { raw: event.raw, retryable: event.outcome === "NO_ANSWER" || event.outcome === "BUSY" });
      case "reply":
        return this.reply(pluginId, event);
      case "opt-out":
      case "opt-in":
        return this.consent(pluginId, event);
    }
  }

  /** The attempt a vendor id belongs to; callbacks may beat the recording of the send's answer. */
  private async locate(pluginId: string, vendorId: string): Promise<{ activity: ActivityDoc; index: number } | null> {
    const { attempts, delayMs } = this.d.matchRetries ?? { attempts: 10, delayMs: 200 };
    for (let i = 0; i < attempts; i++) {
      const found = await this.d.activities.findByVendorId(pluginId, vendorId);
      if (found) return found;
      await new Promise((r) => setTimeout(r, delayMs));
    }
    return null;
  }

  private async status(
    pluginId: string,
    vendorId: string,
    status: AttemptStatus,
    at: Date,
    extra: { raw: string; reasonCode?: string; reason?: string; retryable?: boolean },
  ): Promise<keyof IngestSummary> {
    const found = await this.locate(pluginId, vendorId);
    if (!found) {
      this.d.logger.warn("status callback for an unknown message", { pluginId, vendorId, status });
      return "unmatched";
    }
    const { activity, index } = found;
    const attempt = activity.attempts[index]!;
    if (attempt.status !== "DISPATCHING" && !canAdvance(attempt.status, status)) return "ignored";
    const now = this.now();
    const isLatest = index === activity.attempts.length - 1;
    let nextRun: Date | null | undefined;
    if (isLatest && (isFailure(status) || (isVoiceOutcome(status) && status !== "CONNECTED"))) {
      const after: ActivityDoc = {
        ...activity,
        status,
        attempts: activity.attempts.map((a, i) => (i === index ? { ...a, status, ...(extra.retryable !== undefined ? { retryable: extra.retryable } : {}) } : a)),
      };
      const decision: Decision = decideNext(snapshotOf(after), now, this.d.plan);
      nextRun = nextRunFor(decision, now);
    }
    const changed = await this.d.activities.advanceAttempt(activity._id, index, isLatest, { status, ...extra }, nextRun, now);
    if (!changed) return "ignored";
    this.d.metrics?.statusChange(attempt.channel, status);
    await this.d.conversations.record(
      {
        _id: `st:${pluginId}:${vendorId}:${status}`,
        conversationId: activity.conversationId,
        activityId: activity._id,
        attemptId: attempt.id,
        type: isVoiceOutcome(status) ? "CALL_RESULT" : "STATUS",
        channel: attempt.channel,
        pluginId,
        vendorId,
        status,
        raw: extra.raw,
        at,
        ...(extra.reasonCode ? { reasonCode: extra.reasonCode } : {}),
        ...(extra.reason ? { reason: extra.reason } : {}),
      },
      now,
    );
    await this.d.events.publish({
      id: `activity.status:${activity._id}:${attempt.id}:${status}`,
      name: "activity.status",
      occurredAt: at,
      data: {
        activityId: activity._id,
        conversationId: activity.conversationId,
        customerId: activity.customer.id,
        campaignId: activity.campaignId,
        attemptId: attempt.id,
        channel: attempt.channel,
        pluginId,
        vendorId,
        status,
        ...(extra.reasonCode ? { reasonCode: extra.reasonCode } : {}),
      },
    });
    return "applied";
  }

  private async reply(pluginId: string, event: Extract<CanonicalEvent, { kind: "reply" }>): Promise<keyof IngestSummary> {
    const now = this.now();
    const address = normalizeAddress(event.from) ?? event.from;
    const activity = await this.d.activities.latestToAddress(event.channel, address);
    const conversationId = activity?.conversationId ?? (await this.d.conversations.ensureInbound(event.channel, address, now));
    const isNew = await this.d.conversations.record(
      {
        _id: `rp:${pluginId}:${event.vendorId}`,
        conversationId,
        type: "REPLIED",
        channel: event.channel,
        pluginId,
        vendorId: event.vendorId,
        text: event.text,
        address,
        at: event.at,
        ...(activity ? { activityId: activity._id } : {}),
        ...(event.media?.length ? { media: event.media } : {}),
      },
      now,
    );
    if (!isNew) return "ignored";
    await this.d.events.publish({
      id: `conversation.reply:${pluginId}:${event.vendorId}`,
      name: "conversation.reply",
      occurredAt: event.at,
      data: {
        conversationId,
        customerId: activity?.customer.id,
        activityId: activity?._id,
        campaignId: activity?.campaignId,
        channel: event.channel,
        from: address,
        text: event.text,
        ...(event.media?.length ? { media: event.media } : {}),
      },
    });
    return "applied";
  }

  private async consent(pluginId: string, event: Extract<CanonicalEvent, { kind: "opt-out" | "opt-in" }>): Promise<keyof IngestSummary> {
    const now = this.now();
    const address = normalizeAddress(event.address);
    if (!address) return "ignored";
    if (event.kind === "opt-out") {
      const before = await this.d.suppressions.find(address);
      await this.d.suppressions.add(address, event.reason, `plugin:${pluginId}`, now);
      if (before) return "ignored";
    } else if (!(await this.d.suppressions.remove(address))) {
      return "ignored";
    }
    const activity = await this.d.activities.latestToAddress(event.channel, address);
    const conversationId = activity?.conversationId ?? (await this.d.conversations.ensureInbound(event.channel, address, now));
    const type = event.kind === "opt-out" ? "OPTED_OUT" : "OPTED_IN";
    await this.d.conversations.record(
      { _id: `${type}:${pluginId}:${address}:${event.at.getTime()}`, conversationId, type, channel: event.channel, pluginId, address, reason: event.reason, at: event.at },
      now,
    );
    await this.d.events.publish({
      id: `customer.${event.kind}:${address}:${event.at.getTime()}`,
      name: event.kind === "opt-out" ? "customer.opted_out" : "customer.opted_in",
      occurredAt: event.at,
      data: { address, channel: event.channel, reason: event.reason, conversationId, customerId: activity?.customer.id },
    });
    return "applied";
  }
}
