/**
 * Mongoose models of the webhook outbox, registered on a connection the hub owns.
 *
 * Only what FerretDB 1.x supports is used: no transactions, change streams, TTL/partial/sparse
 * indexes or $lookup; delivered records are removed by a purge job.
 *
 * FerretDB 1.x (SQLite backend) applies an update as read-modify-write of the whole document
 * without a compare-and-swap: two concurrent conditional updates of one document can both
 * "succeed" and `$inc` can lose increments (measured on v1.24). What it does enforce atomically
 * is a unique index on insert. Deliveries are therefore claimed by inserting a claim document
 * with a unique `_id` of `<deliveryId>:<version>:<takeover>`: exactly one node wins a given
 * version of a delivery, and only that node writes the delivery until it moves to the next
 * version. No update here relies on a filter to arbitrate between nodes.
 */
import { Schema, type Connection, type Model, type Types } from "mongoose";

export const DELIVERY_STATUSES = ["PENDING", "DELIVERED", "DEAD"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** Stored subscription. `secret` is excluded from queries unless selected with `+secret`. */
export interface SubscriptionRecord {
  _id: Types.ObjectId;
  url: string;
  secret: string;
  events: string[];
  description?: string;
  active: boolean;
  createdAt: Date;
  updatedAt: Date;
}

/** One event for one subscription: the outbox row. */
export interface DeliveryRecord {
  _id: Types.ObjectId;
  subscriptionId: Types.ObjectId;
  /** The event id; unique per subscription (enqueueing the same event twice creates nothing). */
  eventId: string;
  event: string;
  occurredAt: Date;
  /** The exact JSON body sent (and signed) on every attempt. */
  body: string;
  status: DeliveryStatus;
  /** Attempts started (incremented when claimed, so a crash mid-attempt still counts). */
  attempts: number;
  /** Bumped on every state change; claims are taken on one version. */
  version: number;
  nextAttemptAt: Date;
  /** Node holding the claim; null when free. */
  leaseOwner: string | null;
  /** Id of the current claim (see {@link ClaimRecord}): only its holder records the outcome. */
  leaseToken: string | null;
  /** The claim expires at this time (epoch when free). */
  leaseUntil: Date;
  lastError: string | null;
  lastStatusCode: number | null;
  lastAttemptAt: Date | null;
  deliveredAt: Date | null;
  deadAt: Date | null;
  replays: number;
  createdAt: Date;
  updatedAt: Date;
}

/** A node's claim on one version of a delivery. The unique `_id` arbitrates between nodes. */
export interface ClaimRecord {
  /** `<deliveryId>:<version>:<takeover>`. */
  _id: string;
  deliveryId: Types.ObjectId;
  version: number;
  /** 0 for the first claim of a version; n+1 takes over an expired claim n. */
  takeover: number;
  owner: string;
  leaseUntil: Date;
  createdAt: Date;
}

export const CLAIM_MODEL = "WebhookDeliveryClaim";
export const SUBSCRIPTION_MODEL = "WebhookSubscription";
export const DELIVERY_MODEL = "WebhookDelivery";

const subscriptionSchema = new Schema<SubscriptionRecord>(
  {
    url: { type: String, required: true },
    secret: { type: String, required: true, select: false },
    events: { type: [String], required: true },
    description: { type: String },
    active: { type: Boolean, required: true, default: true },
  },
  { collection: "webhook_subscriptions", timestamps: true, versionKey: false },
);

const deliverySchema = new Schema<DeliveryRecord>(
  {
    subscriptionId: { type: Schema.Types.ObjectId, required: true },
    eventId: { type: String, required: true },
    event: { type: String, required: true },
    occurredAt: { type: Date, required: true },
    body: { type: String, required: true },
    status: { type: String, enum: DELIVERY_STATUSES, required: true, default: "PENDING" },
    attempts: { type: Number, required: true, default: 0 },
    version: { type: Number, required: true, default: 0 },
    nextAttemptAt: { type: Date, required: true },
    leaseOwner: { type: String, default: null },
    leaseToken: { type: String, default: null },
    leaseUntil: { type: Date, required: true, default: () => new Date(0) },
    lastError: { type: String, default: null },
    lastStatusCode: { type: Number, default: null },
    lastAttemptAt: { type: Date, default: null },
    deliveredAt: { type: Date, default: null },
    deadAt: { type: Date, default: null },
    replays: { type: Number, default: 0 },
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
  },
  // No automatic timestamps: mongoose would add `$set: {updatedAt}` to the idempotent enqueue
  // upsert, turning a no-op on an existing delivery into a write that could race with a claim.
  { collection: "webhook_deliveries", timestamps: false, versionKey: false },
);
deliverySchema.index({ subscriptionId: 1, eventId: 1 }, { unique: true, name: "subscription_event_unique" });
deliverySchema.index({ status: 1, nextAttemptAt: 1 }, { name: "status_due" });

const claimSchema = new Schema<ClaimRecord>(
  {
    _id: { type: String, required: true },
    deliveryId: { type: Schema.Types.ObjectId, required: true },
    version: { type: Number, required: true },
    takeover: { type: Number, required: true },
    owner: { type: String, required: true },
    leaseUntil: { type: Date, required: true },
    createdAt: { type: Date, required: true },
  },
  { collection: "webhook_delivery_claims", timestamps: false, versionKey: false },
);
claimSchema.index({ deliveryId: 1, version: 1 }, { name: "delivery_version" });

export interface WebhookModels {
  Subscription: Model<SubscriptionRecord>;
  Delivery: Model<DeliveryRecord>;
  Claim: Model<ClaimRecord>;
}

/** Registers (or reuses) the models on `conn`. */
export function webhookModels(conn: Connection): WebhookModels {
  const Subscription =
    (conn.models[SUBSCRIPTION_MODEL] as Model<SubscriptionRecord> | undefined) ??
    conn.model<SubscriptionRecord>(SUBSCRIPTION_MODEL, subscriptionSchema);
  const Delivery =
    (conn.models[DELIVERY_MODEL] as Model<DeliveryRecord> | undefined) ??
    conn.model<DeliveryRecord>(DELIVERY_MODEL, deliverySchema);
  const Claim =
    (conn.models[CLAIM_MODEL] as Model<ClaimRecord> | undefined) ?? conn.model<ClaimRecord>(CLAIM_MODEL, claimSchema);
  return { Subscription, Delivery, Claim };
}
