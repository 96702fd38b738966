/**
 * Mongoose models. Only what both MongoDB and FerretDB 1.x support: single-document atomic
 * updates, unique indexes, simple aggregations. Array elements are addressed by index path
 * (`attempts.3.status`), never by the positional operator, which FerretDB lacks.
 */
import type { PassedOver } from "../routing/plan.ts";
import mongoose, { Schema, type Connection, type Model } from "mongoose";
import type { CallingWindow } from "../domain/calling-window.ts";
import type { ActivityStatus, AttemptStatus } from "@dialmesh/sdk";
import type { FallbackStep } from "../config/types.ts";
import type { Purpose } from "../compliance/consent.ts";
import type { Customer, MessageContent } from "@dialmesh/sdk";

export interface AttemptDoc {
  id: string;
  step: number;
  retry: number;
  channel: string;
  pluginId?: string;
  vendorId?: string;
  /** Normalised address the attempt went to. */
  address?: string;
  status: AttemptStatus | "DISPATCHING";
  reasonCode?: string;
  reason?: string;
  retryable?: boolean;
  retryAfterMs?: number;
  /** Vendor's raw status or result code of the latest event. */
  raw?: string;
  node?: string;
  /** Instances this attempt passed over (unhealthy, or failed over from), and why. */
  passedOver?: PassedOver[];
  /** Voice: seconds the customer talked, and the agent the call was bridged to. */
  talkSeconds?: number;
  agentId?: string;
  dispatchedAt: Date;
  updatedAt: Date;
  /**
   * In memory only, never stored: a started attempt that lives in its reservation (the start
   * record, claims.ts) and not yet in the activity's `attempts`; its outcome is pushed.
   */
  unstored?: true;
}

export interface ActivityDoc {
  _id: string;
  idempotencyKey: string;
  requestHash: string;
  customer: Customer;
  channel: string;
  content: MessageContent;
  dueAt: Date;
  window?: CallingWindow;
  fallbackPolicy?: string;
  chain: FallbackStep[];
  campaignId?: string;
  /** DNC lists checked before each attempt, in this order. */
  dncLists?: string[];
  /** Why the customer is contacted; consent is checked for it when `requiresConsent`. */
  purpose?: Purpose;
  requiresConsent?: true;
  expiresAt?: Date;
  conversationId: string;
  status: ActivityStatus;
  attempts: AttemptDoc[];
  /** When the scheduler should next look at it; null when it waits for nothing. */
  nextRunAt: Date | null;
  leaseOwner: string | null;
  /** Date(0) when free. */
  leaseUntil: Date;
  leaseToken: string | null;
  /** Epoch of the latest claim (see claims.ts). */
  claimEpoch: number;
  /**
   * In memory only, never stored: set on an activity claimDue claimed without writing the
   * claim to it; the epoch it had before (see ActivityStore.holder).
   */
  claimedFrom?: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface ConversationDoc {
  _id: string;
  customerId: string;
  campaignId?: string;
  /** Normalised email and phone of the customer. */
  addresses: string[];
  createdAt: Date;
  lastEventAt: Date;
}

export type TimelineType = "OUTBOUND" | "STATUS" | "CALL_RESULT" | "REPLIED" | "OPTED_OUT" | "OPTED_IN";

export interface TimelineEventDoc {
  /** Deterministic key of the event: a repeated vendor callback cannot insert it twice. */
  _id: string;
  conversationId: string;
  activityId?: string;
  attemptId?: string;
  type: TimelineType;
  channel: string;
  pluginId?: string;
  vendorId?: string;
  status?: string;
  reasonCode?: string;
  reason?: string;
  retryable?: boolean;
  retryAfterMs?: number;
  /** Voice results: talk time and the agent. */
  talkSeconds?: number;
  agentId?: string;
  text?: string;
  media?: string[];
  /** Customer address, for inbound events. */
  address?: string;
  raw?: string;
  at: Date;
  recordedAt: Date;
}

export interface SuppressionDoc {
  /** Normalised address (E.164 or lower-case email). */
  _id: string;
  reason: string;
  source: string;
  /** Blocks only attempts for these purposes (an objection kept after erasure); absent: all. */
  purposes?: Purpose[];
  createdAt: Date;
}

export interface RateWindowDoc {
  _id: string;
  n: number;
  expiresAt: Date;
}

/**
 * The plugin instances every node runs beyond the config file: instances added by the API
 * (`source: "api"`), and admin overrides of config-file instances (`source: "config"`: only
 * `enabled` and `revision`). `revision` goes up on each reload, so a node that missed the event
 * still reloads at its next reconcile.
 */
export interface PluginInstanceDoc {
  _id: string;
  source?: "api" | "config";
  use?: string;
  enabled: boolean;
  channels?: string[];
  options?: Record<string, unknown>;
  revision?: number;
  updatedAt: Date;
}

const { Mixed } = Schema.Types;

const attemptSchema = new Schema<AttemptDoc>(
  {
    id: { type: String, required: true },
    step: Number,
    retry: Number,
    channel: String,
    pluginId: String,
    vendorId: String,
    address: String,
    status: String,
    reasonCode: String,
    reason: String,
    retryable: Boolean,
    retryAfterMs: Number,
    raw: String,
    node: String,
    passedOver: [{ _id: false, pluginId: String, code: String, reason: String }],
    talkSeconds: Number,
    agentId: String,
    dispatchedAt: Date,
    updatedAt: Date,
  },
  { _id: false },
);

const activitySchema = new Schema<ActivityDoc>(
  {
    _id: String,
    idempotencyKey: { type: String, required: true, unique: true },
    requestHash: String,
    customer: { type: Mixed, required: true },
    channel: { type: String, required: true },
    content: { type: Mixed, default: {} },
    dueAt: { type: Date, required: true },
    window: Mixed,
    fallbackPolicy: String,
    chain: [{ _id: false, channel: String, after: String, unless: String, pluginId: String }],
    campaignId: String,
    dncLists: { type: [String], default: undefined },
    purpose: String,
    requiresConsent: Boolean,
    expiresAt: Date,
    conversationId: { type: String, required: true },
    status: { type: String, required: true },
    attempts: { type: [attemptSchema], default: [] },
    nextRunAt: { type: Date, default: null },
    leaseOwner: { type: String, default: null },
    leaseUntil: { type: Date, default: () => new Date(0) },
    leaseToken: { type: String, default: null },
    claimEpoch: { type: Number, default: 0 },
    createdAt: Date,
    updatedAt: Date,
  },
  { versionKey: false, minimize: false },
);
activitySchema.index({ nextRunAt: 1 });
activitySchema.index({ "attempts.vendorId": 1 });
activitySchema.index({ "customer.id": 1 });
// Where an inbound reply or opt-out belongs (ActivityStore.latestToAddress), on every webhook.
activitySchema.index({ "customer.phone": 1 });
activitySchema.index({ "customer.email": 1 });
activitySchema.index({ status: 1, channel: 1 });

const conversationSchema = new Schema<ConversationDoc>(
  {
    _id: String,
    customerId: { type: String, required: true, index: true },
    campaignId: String,
    addresses: [String],
    createdAt: Date,
    lastEventAt: Date,
  },
  { versionKey: false },
);
conversationSchema.index({ addresses: 1 });

const timelineSchema = new Schema<TimelineEventDoc>(
  {
    _id: String,
    conversationId: { type: String, required: true },
    activityId: String,
    attemptId: String,
    type: { type: String, required: true },
    channel: String,
    pluginId: String,
    vendorId: String,
    status: String,
    reasonCode: String,
    reason: String,
    retryable: Boolean,
    retryAfterMs: Number,
    talkSeconds: Number,
    agentId: String,
    text: String,
    media: [String],
    address: String,
    raw: String,
    at: Date,
    recordedAt: Date,
  },
  { versionKey: false },
);
timelineSchema.index({ conversationId: 1, at: 1 });
timelineSchema.index({ activityId: 1, type: 1 });
timelineSchema.index({ address: 1, type: 1, at: -1 });

const suppressionSchema = new Schema<SuppressionDoc>(
  { _id: String, reason: String, source: String, purposes: { type: [String], default: undefined }, createdAt: Date },
  { versionKey: false },
);

const rateWindowSchema = new Schema<RateWindowDoc>({ _id: String, n: Number, expiresAt: Date }, { versionKey: false });
rateWindowSchema.index({ expiresAt: 1 });

const pluginInstanceSchema = new Schema<PluginInstanceDoc>(
  {
    _id: String,
    source: String,
    use: String,
    enabled: Boolean,
    channels: [String],
    options: Mixed,
    revision: Number,
    updatedAt: Date,
  },
  { versionKey: false, minimize: false },
);

export interface Models {
  Activity: Model<ActivityDoc>;
  Conversation: Model<ConversationDoc>;
  TimelineEvent: Model<TimelineEventDoc>;
  Suppression: Model<SuppressionDoc>;
  RateWindow: Model<RateWindowDoc>;
  PluginInstance: Model<PluginInstanceDoc>;
}

export function createModels(conn: Connection): Models {
  return {
    Activity: conn.model<ActivityDoc>("Activity", activitySchema, "activities"),
    Conversation: conn.model<ConversationDoc>("Conversation", conversationSchema, "conversations"),
    TimelineEvent: conn.model<TimelineEventDoc>("TimelineEvent", timelineSchema, "timeline"),
    Suppression: conn.model<SuppressionDoc>("Suppression", suppressionSchema, "suppressions"),
    RateWindow: conn.model<RateWindowDoc>("RateWindow", rateWindowSchema, "rate_windows"),
    PluginInstance: conn.model<PluginInstanceDoc>("PluginInstance", pluginInstanceSchema, "plugin_instances"),
  };
}

export { mongoose };
