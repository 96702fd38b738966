/** Conversations and their timelines. Timeline events have deterministic ids: recording one twice is a no-op. */
import { normalizeAddress } from "@dialmesh/sdk";
import { stableId } from "../domain/ids.ts";
import type { ConversationDoc, Models, TimelineEventDoc } from "./models.ts";
import { Batcher } from "./batcher.ts";
import { insertUnordered } from "./write-errors.ts";

export interface ConversationView extends ConversationDoc {
  timeline: TimelineEventDoc[];
}

export class ConversationStore {
  private readonly models: Models;
  /** Timeline events of concurrent sends and callbacks, written as one group commit. */
  private readonly events: Batcher<TimelineEventDoc, boolean>;
  constructor(models: Models) {
    this.models = models;
    this.events = new Batcher((docs) => this.insertEvents(docs), { windowMs: 10, maxBatch: 1000 });
  }

  /** Inserts the event unless an event with its id exists; returns whether it was new. */
  record(event: Omit<TimelineEventDoc, "recordedAt">, now: Date): Promise<boolean> {
    return this.events.call({ ...event, recordedAt: now });
  }

  /**
   * One unordered insert for the batch (an id seen before is a repeat, not an error), then one
   * update of the conversations it touched. Their `lastEventAt` becomes the batch's latest event
   * time: at most the group window (10 ms) later than their own latest, and never earlier.
   */
  private async insertEvents(docs: TimelineEventDoc[]): Promise<boolean[]> {
    const repeated = await insertUnordered(this.models.TimelineEvent.collection, docs);
    const fresh = docs.filter((_, i) => !repeated.has(i));
    if (fresh.length > 0) {
      const latest = new Date(Math.max(...fresh.map((d) => new Date(d.at).getTime())));
      const ids = [...new Set(fresh.map((d) => d.conversationId))];
      // Not waited for by the callers: the events are stored, and lastEventAt only orders a
      // customer's conversations. One update at a time, in order; a failed one is retried by
      // the conversation's next event (it only ever moves forward).
      this.touching = this.touching.then(() => this.touch(ids, latest)).catch(() => undefined);
    }
    return docs.map((_, i) => !repeated.has(i));
  }

  private touching: Promise<void> = Promise.resolve();

  private async touch(ids: string[], latest: Date): Promise<void> {
    for (let i = 0; i < ids.length; i += 1000) {
      await this.models.Conversation.updateMany(
        { _id: { $in: ids.slice(i, i + 1000) } },
        { $max: { lastEventAt: latest } },
      );
    }
  }

  /** Conversation updates not written yet (tests, shutdown). */
  settled(): Promise<void> {
    return this.touching;
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
