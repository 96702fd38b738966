/**
 * Vendor events into the hub: statuses and call results advance attempts (never backwards,
 * never twice), replies land on the customer's conversation, opt-outs update the
 * suppression list. Every step is idempotent, so a repeated callback changes nothing.
 */
import { normalizeAddress } from "@dialmesh/sdk";
import { isVoiceOutcome, type AttemptStatus } from "@dialmesh/sdk";
import type { CanonicalEvent, Logger } from "@dialmesh/sdk";
import type { ActivityStore } from "../store/activities.ts";
import type { ConversationStore } from "../store/conversations.ts";
import type { SuppressionStore } from "../store/suppressions.ts";
import type { ActivityDoc } from "../store/models.ts";
import { foldStatuses } from "./fold.ts";
import type { TimelineEventDoc } from "../store/models.ts";
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
  nodeId: string;
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
          ...(event.activityId !== undefined ? { activityId: event.activityId } : {}),
          raw: event.raw,
          ...(event.reasonCode !== undefined ? { reasonCode: event.reasonCode } : {}),
          ...(event.reason !== undefined ? { reason: event.reason } : {}),
          ...(event.retryable !== undefined ? { retryable: event.retryable } : {}),
        });
      case "call-result":
        return this.status(pluginId, event.vendorId, event.outcome, event.at, {
          ...(event.activityId !== undefined ? { activityId: event.activityId } : {}),
          raw: event.raw,
          retryable: event.retryable ?? (event.outcome === "NO_ANSWER" || event.outcome === "BUSY"),
          ...(event.reasonCode !== undefined ? { reasonCode: event.reasonCode } : {}),
          ...(event.reason !== undefined ? { reason: event.reason } : {}),
          ...(event.retryAfterMs !== undefined ? { retryAfterMs: event.retryAfterMs } : {}),
          ...(event.talkSeconds !== undefined ? { talkSeconds: event.talkSeconds } : {}),
          ...(event.agentId !== undefined ? { agentId: event.agentId } : {}),
        });
      case "reply":
        return this.reply(pluginId, event);
      case "opt-out":
      case "opt-in":
        return this.consent(pluginId, event);
    }
  }

  /** The attempt a vendor id belongs to; callbacks may beat the recording of the send's answer. */
  private async locate(
    pluginId: string,
    vendorId: string,
    activityId?: string,
  ): Promise<{ activity: ActivityDoc; index: number } | null> {
    if (activityId) {
      // The plugin knows the activity: one read by id instead of a search over every attempt.
      const activity = await this.d.activities.get(activityId);
      const index = activity?.attempts.findIndex((a) => a.vendorId === vendorId && a.pluginId === pluginId) ?? -1;
      if (activity && index >= 0) return { activity, index };
    }
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
    extra: {
      activityId?: string;
      raw: string;
      reasonCode?: string;
      reason?: string;
      retryable?: boolean;
      retryAfterMs?: number;
      talkSeconds?: number;
      agentId?: string;
    },
  ): Promise<keyof IngestSummary> {
    const found = await this.locate(pluginId, vendorId, extra.activityId);
    if (!found) {
      this.d.logger.warn("status callback for an unknown message", { pluginId, vendorId, status });
      return "unmatched";
    }
    const { index } = found;
    const now = this.now();
    const event: Omit<TimelineEventDoc, "recordedAt"> = {
      _id: `st:${pluginId}:${vendorId}:${status}`,
      conversationId: found.activity.conversationId,
      activityId: found.activity._id,
      attemptId: found.activity.attempts[index]!.id,
      type: isVoiceOutcome(status) ? "CALL_RESULT" : "STATUS",
      channel: found.activity.attempts[index]!.channel,
      pluginId,
      vendorId,
      status,
      raw: extra.raw,
      at,
      ...(extra.reasonCode ? { reasonCode: extra.reasonCode } : {}),
      ...(extra.reason ? { reason: extra.reason } : {}),
      ...(extra.retryable !== undefined ? { retryable: extra.retryable } : {}),
      ...(extra.retryAfterMs !== undefined ? { retryAfterMs: extra.retryAfterMs } : {}),
      ...(extra.talkSeconds !== undefined ? { talkSeconds: extra.talkSeconds } : {}),
      ...(extra.agentId !== undefined ? { agentId: extra.agentId } : {}),
    };
    // Writes to an activity are serialised by its claim; callbacks for one message can arrive together.
    const holder = await this.d.activities.claimOne(found.activity._id, this.d.nodeId, 15_000, 5_000);
    if (holder) {
      const fold = foldStatuses(holder, [event], now, this.d.plan);
      await this.d.activities.applyAttemptUpdates(holder, fold?.updates ?? [], fold?.activitySet ?? {}, now);
      if (!fold) return "ignored";
    } else {
      // Busy beyond reason (a long send, or a holder that died): the event is kept on the
      // timeline, and the activity is made due so that its next claim folds it in.
      await this.d.activities.wake(found.activity._id, new Date(now.getTime() + 1_000));
      this.d.logger.warn("activity busy; status kept on the timeline for the next claim to apply", {
        activityId: found.activity._id,
        status,
      });
    }
    // The timeline insert (unique id) is the one atomic step: only its winner notifies.
    if (!(await this.d.conversations.record(event, now))) return "ignored";
    const attempt = found.activity.attempts[index]!;
    this.d.metrics?.statusChange(attempt.channel, status);
    await this.d.events.publish({
      id: `activity.status:${found.activity._id}:${attempt.id}:${status}`,
      name: "activity.status",
      occurredAt: at,
      data: {
        activityId: found.activity._id,
        conversationId: found.activity.conversationId,
        customerId: found.activity.customer.id,
        campaignId: found.activity.campaignId,
        attemptId: attempt.id,
        channel: attempt.channel,
        pluginId,
        vendorId,
        status,
        ...(extra.reasonCode ? { reasonCode: extra.reasonCode } : {}),
        ...(extra.reason ? { reason: extra.reason } : {}),
        ...(extra.talkSeconds !== undefined ? { talkSeconds: extra.talkSeconds } : {}),
        ...(extra.agentId ? { agentId: extra.agentId } : {}),
      },
    });
    return "applied";
  }

  private async reply(
    pluginId: string,
    event: Extract<CanonicalEvent, { kind: "reply" }>,
  ): Promise<keyof IngestSummary> {
    const now = this.now();
    const address = normalizeAddress(event.from) ?? event.from;
    const activity = await this.d.activities.latestToAddress(event.channel, address);
    const conversationId =
      activity?.conversationId ?? (await this.d.conversations.ensureInbound(event.channel, address, now));
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

  private async consent(
    pluginId: string,
    event: Extract<CanonicalEvent, { kind: "opt-out" | "opt-in" }>,
  ): Promise<keyof IngestSummary> {
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
    const conversationId =
      activity?.conversationId ?? (await this.d.conversations.ensureInbound(event.channel, address, now));
    const type = event.kind === "opt-out" ? "OPTED_OUT" : "OPTED_IN";
    await this.d.conversations.record(
      {
        _id: `${type}:${pluginId}:${address}:${event.at.getTime()}`,
        conversationId,
        type,
        channel: event.channel,
        pluginId,
        address,
        reason: event.reason,
        at: event.at,
      },
      now,
    );
    await this.d.events.publish({
      id: `customer.${event.kind}:${address}:${event.at.getTime()}`,
      name: event.kind === "opt-out" ? "customer.opted_out" : "customer.opted_in",
      occurredAt: event.at,
      data: {
        address,
        channel: event.channel,
        reason: event.reason,
        conversationId,
        customerId: activity?.customer.id,
      },
    });
    return "applied";
  }
}
