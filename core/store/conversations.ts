/** Conversations and their timelines. Timeline events have deterministic ids: recording one twice is a no-op. */
import { normalizeAddress } from "@dialmesh/sdk";
import { stableId } from "../domain/ids.ts";
import type { ConversationDoc, Models, TimelineEventDoc } from "./models.ts";

export interface ConversationView extends ConversationDoc {
  timeline: TimelineEventDoc[];
}

export class ConversationStore {
  private readonly models: Models;
  constructor(models: Models) {
    this.models = models;
  }

  /** Inserts the event unless an event with its id exists; returns whether it was new. */
  async record(event: Omit<TimelineEventDoc, "recordedAt">, now: Date): Promise<boolean> {
    try {
      await this.models.TimelineEvent.collection.insertOne({ ...event, recordedAt: now } as never);
    } catch (err) {
      if ((err as { code?: number }).code === 11000) return false;
      throw err;
    }
    await this.models.Conversation.updateOne({ _id: event.conversationId }, { $max: { lastEventAt: event.at } });
    return true;
  }

  /** The conversation for inbound messages from an address nobody wrote to. */
  async ensureInbound(channel: string, address: string, now: Date): Promise<string> {
    const normalized = normalizeAddress(address) ?? address;
    const id = stableId("cv", "inbound", channel, normalized);
    await this.models.Conversation.updateOne(
      { _id: id },
      {
        $setOnInsert: {
          customerId: `unknown:${normalized}`,
          addresses: [normalized],
          createdAt: now,
          lastEventAt: now,
        },
      },
      { upsert: true },
    );
    return id;
  }

  async get(id: string): Promise<ConversationView | null> {
    const conv = await this.models.Conversation.findById(id).lean<ConversationDoc>();
    if (!conv) return null;
    const timeline = await this.models.TimelineEvent.find({ conversationId: id })
      .sort({ at: 1, recordedAt: 1 })
      .lean<TimelineEventDoc[]>();
    return { ...conv, timeline };
  }

  listByCustomer(customerId: string, limit: number): Promise<ConversationDoc[]> {
    return this.models.Conversation.find({ customerId })
      .sort({ lastEventAt: -1 })
      .limit(limit)
      .lean<ConversationDoc[]>();
  }

  /** Vendor statuses and call results recorded for an activity. */
  statusEvents(activityId: string): Promise<TimelineEventDoc[]> {
    return this.models.TimelineEvent.find({ activityId, type: { $in: ["STATUS", "CALL_RESULT"] } }).lean<
      TimelineEventDoc[]
    >();
  }

  /** When the customer last wrote on a channel (e.g. the WhatsApp 24-hour window). */
  async lastInboundAt(channel: string, address: string): Promise<Date | undefined> {
    const normalized = normalizeAddress(address) ?? address;
    const last = await this.models.TimelineEvent.findOne({ address: normalized, type: "REPLIED", channel })
      .sort({ at: -1 })
      .lean<TimelineEventDoc>();
    return last?.at;
  }
}
