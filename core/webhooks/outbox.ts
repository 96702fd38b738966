/**
 * The webhook outbox: subscriptions, one delivery row per (event, subscription), and a
 * delivery loop that any number of hub nodes may run against the same database.
 *
 * Guarantees
 * - `enqueue` is idempotent on (event id, subscription): a repeated event creates nothing.
 * - A due delivery is claimed by inserting a claim document with a unique id
 *   (`<delivery>:<version>:<takeover>`, see models.ts for why not findOneAndUpdate on
 *   FerretDB): exactly one node wins, then records its lease (owner, token, expiry) on the
 *   delivery, and only it records the outcome. Two nodes never POST the same delivery
 *   concurrently. A node that dies mid-attempt leaves a lease that expires; the delivery is then
 *   claimed again. Delivery is therefore at least once across crashes, and subscribers dedupe
 *   on the payload `id` / X-Dialmesh-Delivery. Leases (default timeout + 30 s) assume a node
 *   does not stall longer than that between claiming and recording.
 * - 2xx = DELIVERED; anything else is retried with exponential backoff; after `maxAttempts`
 *   the delivery is DEAD (a dead letter) until replayed.
 * - Subscription secrets are stored for signing only: they are never logged, never put in an
 *   error, and never returned except once, at creation, when the hub generated them.
 */
import type { SecretBox } from "../store/secret-box.ts";
import { isError } from "@dialmesh/sdk";
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { Types, type Connection } from "mongoose";
import { afterFailure, backoffPolicyProblems, DEFAULT_BACKOFF, type BackoffPolicy } from "./backoff.ts";
import { postJson } from "./http-post.ts";
import {
  webhookModels,
  type DeliveryRecord,
  type DeliveryStatus,
  type SubscriptionRecord,
  type WebhookModels,
} from "./models.ts";
import { ATTEMPT_HEADER, DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signPayload } from "./signature.ts";
import {
  checkResolvedTarget,
  describeTarget,
  WebhookTargetError,
  type LookupAll,
  type TargetPolicy,
} from "./target-guard.ts";
import { validateWebhookSubscription, WebhookValidationError, type WebhookSubscriptionInput } from "./validate.ts";
import { isDuplicateKey } from "../store/write-errors.ts";

export interface WebhookLogger {
  info(msg: string, data?: Record<string, unknown>): void;
  warn(msg: string, data?: Record<string, unknown>): void;
  error(msg: string, data?: Record<string, unknown>): void;
}

export interface WebhookOutboxOptions {
  /** Allow targets on private/loopback/link-local networks (config `webhooks.allowPrivateNetworks`). Default false. */
  allowPrivateNetworks?: boolean;
  /** Attempts before a delivery is dead (config `webhooks.maxAttempts`); overrides `backoff.maxAttempts`. Default 8. */
  maxAttempts?: number;
  /** Retry schedule; see backoff.ts for the defaults (about an hour in all). */
  backoff?: Partial<BackoffPolicy>;
  /** Delivery loop interval when idle (config `webhooks.pollIntervalMs`). Default 1000. */
  pollIntervalMs?: number;
  /** Deliveries claimed per `deliverDue` call by default. Default 100. */
  batchSize?: number;
  /** Concurrent POSTs per node. Default 8. */
  concurrency?: number;
  /** Timeout of one POST, connection included. Default 10 s. */
  timeoutMs?: number;
  /** Claim duration; must exceed `timeoutMs`. Default `timeoutMs + 30 s`. */
  leaseMs?: number;
  /** This node's name in leases. Default `<hostname>:<pid>:<random>`. */
  nodeId?: string;
  /** Seals subscription secrets at rest (core/store/secret-box.ts). Default: stored as given. */
  secrets?: SecretBox;
  /** The loop purges DELIVERED rows older than this; 0 disables. Default 7 days. */
  retainDeliveredMs?: number;
  /** `User-Agent` of deliveries. */
  userAgent?: string;
  logger?: WebhookLogger;
  /** DNS resolution (all addresses); injectable for tests. */
  lookup?: LookupAll;
  /** Clock; injectable for tests. */
  clock?: () => Date;
  /** Jitter source in [0, 1); injectable for tests. */
  random?: () => number;
}

/** An event to fan out to subscribers. */
export interface WebhookEvent {
  /** Unique event id: the idempotency key, and `id` in the payload. */
  id: string;
  /** Event name, e.g. `activity.status`. */
  name: string;
  occurredAt: Date | string;
  /** JSON-serialisable event data. */
  data: unknown;
}

/** The JSON body of every delivery. */
export interface WebhookPayload {
  id: string;
  event: string;
  occurredAt: string;
  data: unknown;
}

/** A subscription as returned by the API: the secret masked. */
export interface SubscriptionView {
  id: string;
  url: string;
  events: string[];
  description?: string;
  active: boolean;
  /** Masked, e.g. `****Xy9z`. */
  secret: string;
  createdAt: string;
}

/** The creation answer: `secret` is the full secret only when the hub generated it (shown once). */
export interface CreatedSubscription extends SubscriptionView {
  secretGenerated: boolean;
}

export interface DeliveryView {
  id: string;
  subscriptionId: string;
  eventId: string;
  event: string;
  occurredAt: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: string | null;
  lastError: string | null;
  lastStatusCode: number | null;
  lastAttemptAt: string | null;
  deliveredAt: string | null;
  deadAt: string | null;
  replays: number;
  createdAt: string;
  payload: WebhookPayload;
}

export interface EnqueueResult {
  /** Active subscriptions whose events match. */
  matched: number;
  /** Deliveries created now (0 for a repeated event). */
  created: number;
}

export interface DeliveryRunSummary {
  claimed: number;
  delivered: number;
  retried: number;
  dead: number;
}

export interface WebhookBacklog {
  /** Waiting for a first attempt or a retry. */
  pending: number;
  /** Pending and due now. */
  due: number;
  dead: number;
  delivered: number;
  /** Age of the oldest pending delivery, in seconds (0 when none). */
  oldestPendingAgeSeconds: number;
}

export type ReplayTarget = string | { all: true; subscriptionId?: string };

const EVENT_NAME = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/;
const EPOCH = new Date(0);
const SILENT: WebhookLogger = { info() {}, warn() {}, error() {} };

type Outcome = "delivered" | "retried" | "dead";

function maskSecret(secret: string): string {
  return secret.length >= 16 ? `****${secret.slice(-4)}` : "****";
}

function iso(d: Date | null | undefined): string | null {
  return d ? d.toISOString() : null;
}

function isObjectId(id: string): boolean {
  return /^[0-9a-f]{24}$/i.test(id);
}

/** FerretDB's SQLite backend answers "database is locked" under write contention: try again. */
function isBusy(err: unknown): boolean {
  return isError(err) && /SQLITE_BUSY|database is locked/.test(err.message);
}

async function retryBusy<T>(op: () => Promise<T>, tries = 8): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await op();
    } catch (err) {
      if (!isBusy(err) || i >= tries) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.min(200, 5 * 2 ** i) * (0.5 + Math.random())));
    }
  }
}

/** Patterns in `events` that select `name`: "*", the name, and each "prefix.*". */
export function matchingPatterns(name: string): string[] {
  const parts = name.split(".");
  const patterns = ["*", name];
  for (let i = 1; i < parts.length; i++) patterns.push(`${parts.slice(0, i).join(".")}.*`);
  return patterns;
}

/** How long a node trusts its cached subscription list without a change broadcast. */
const SUBSCRIPTIONS_TTL_MS = 5_000;

export class WebhookOutbox {
  readonly nodeId: string;
  readonly #models: WebhookModels;
  readonly #secrets: SecretBox;
  readonly #policy: TargetPolicy;
  readonly #backoff: BackoffPolicy;
  readonly #pollIntervalMs: number;
  readonly #batchSize: number;
  readonly #concurrency: number;
  readonly #timeoutMs: number;
  readonly #leaseMs: number;
  readonly #retainDeliveredMs: number;
  readonly #userAgent: string;
  readonly #log: WebhookLogger;
  readonly #lookup: LookupAll | undefined;
  readonly #clock: () => Date;
  /**
   * Active subscriptions per event name, read once per `SUBSCRIPTIONS_TTL_MS` rather than on
   * every event. Dropped at once by this node's own changes and by other nodes' (the
   * `webhooks.subscriptions.changed` broadcast); the TTL bounds a missed broadcast.
   */
  #subscriptionCache = new Map<string, { until: number; ids: Types.ObjectId[] }>();
  readonly #random: () => number;
  #ready: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #lastPurge = 0;

  constructor(conn: Connection, options: WebhookOutboxOptions = {}) {
    this.#models = webhookModels(conn);
    this.#secrets = options.secrets ?? { seal: (s) => s, open: (s) => s };
    this.#policy = { allowPrivateNetworks: options.allowPrivateNetworks ?? false };
    this.#backoff = {
      ...DEFAULT_BACKOFF,
      ...options.backoff,
      ...(options.maxAttempts !== undefined ? { maxAttempts: options.maxAttempts } : {}),
    };
    const problems = backoffPolicyProblems(this.#backoff);
    if (problems.length > 0) throw new Error(`Invalid webhook backoff options: ${problems.join("; ")}`);
    this.#pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.#batchSize = options.batchSize ?? 100;
    this.#concurrency = Math.max(1, options.concurrency ?? 8);
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#leaseMs = options.leaseMs ?? this.#timeoutMs + 30_000;
    if (!(this.#leaseMs > this.#timeoutMs)) {
      throw new Error(`Invalid webhook options: leaseMs (${this.#leaseMs}) must exceed timeoutMs (${this.#timeoutMs})`);
    }
    this.#retainDeliveredMs = options.retainDeliveredMs ?? 7 * 24 * 3600_000;
    this.#userAgent = options.userAgent ?? "Dialmesh-Webhooks/1";
    this.#log = options.logger ?? SILENT;
    this.#lookup = options.lookup;
    this.#clock = options.clock ?? (() => new Date());
    this.#random = options.random ?? Math.random;
    this.nodeId = options.nodeId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
  }

  /** The effective retry schedule. */
  get backoffPolicy(): Readonly<BackoffPolicy> {
    return { ...this.#backoff };
  }

  /** Creates the collections' indexes (called lazily by every method; awaiting it is optional). */
  init(): Promise<void> {
    this.#ready ??= Promise.all([this.#models.Subscription.init(), this.#models.Delivery.init()]).then(() => undefined);
    return this.#ready;
  }

  // -------------------------------------------------------------------------------------------
  // Subscriptions

  /**
   * Validates the body (JSON Schema, then the target guard on the URL literal and its DNS
   * answers) and stores the subscription.
   * @throws WebhookValidationError (name "ValidationError", `details` as JSON pointers)
   */
  async createSubscription(input: unknown): Promise<CreatedSubscription> {
    const details = validateWebhookSubscription(input);
    if (details.length > 0) throw new WebhookValidationError(details);
    const body = input as WebhookSubscriptionInput;
    try {
      await checkResolvedTarget(body.url, this.#policy, this.#lookup ? { lookup: this.#lookup } : {});
    } catch (err) {
      if (err instanceof WebhookTargetError) {
        throw new WebhookValidationError([{ path: "/url", message: err.message }], err.message);
      }
      throw err;
    }
    await this.init();
    const secretGenerated = body.secret === undefined;
    const secret = body.secret ?? randomBytes(32).toString("base64url");
    const doc = await this.#models.Subscription.create({
      url: body.url,
      secret: this.#secrets.seal(secret),
      events: body.events,
      ...(body.description !== undefined ? { description: body.description } : {}),
      active: body.active ?? true,
    });
    this.invalidateSubscriptions();
    const view = this.#subscriptionView(doc.toObject());
    this.#log.info("webhook subscription created", { subscriptionId: view.id, target: describeTarget(body.url) });
    return { ...view, secret: secretGenerated ? secret : view.secret, secretGenerated };
  }

  /** Forgets the cached subscriptions (a subscription changed, here or on another node). */
  invalidateSubscriptions(): void {
    this.#subscriptionCache.clear();
  }

  async #subscriptionsFor(name: string): Promise<Types.ObjectId[]> {
    const cached = this.#subscriptionCache.get(name);
    if (cached && cached.until > Date.now()) return cached.ids;
    const docs = await this.#models.Subscription.find(
      { active: true, events: { $in: matchingPatterns(name) } },
      { _id: 1 },
    ).lean();
    const ids = docs.map((d) => d._id as Types.ObjectId);
    this.#subscriptionCache.set(name, { until: Date.now() + SUBSCRIPTIONS_TTL_MS, ids });
    return ids;
  }

  async listSubscriptions(): Promise<SubscriptionView[]> {
    await this.init();
    const docs = await this.#models.Subscription.find({}, "+secret").sort({ createdAt: 1, _id: 1 }).lean();
    return docs.map((d) => this.#subscriptionView(d));
  }

  async getSubscription(id: string): Promise<SubscriptionView | null> {
    if (!isObjectId(id)) return null;
    await this.init();
    const doc = await this.#models.Subscription.findById(id, "+secret").lean();
    return doc ? this.#subscriptionView(doc) : null;
  }

  /** Removes the subscription and its deliveries (pending and dead). False when unknown. */
  async deleteSubscription(id: string): Promise<boolean> {
    if (!isObjectId(id)) return false;
    await this.init();
    const res = await this.#models.Subscription.deleteOne({ _id: id });
    if (res.deletedCount === 0) return false;
    this.invalidateSubscriptions();
    await this.#models.Delivery.deleteMany({ subscriptionId: new Types.ObjectId(id) });
    this.#log.info("webhook subscription deleted", { subscriptionId: id });
    return true;
  }

  #subscriptionView(d: SubscriptionRecord): SubscriptionView {
    return {
      id: d._id.toString(),
      url: d.url,
      events: [...d.events],
      ...(d.description !== undefined ? { description: d.description } : {}),
      active: d.active,
      secret: maskSecret(d.secret ? this.#secrets.open(d.secret) : ""),
      createdAt: d.createdAt.toISOString(),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Outbox

  /** One delivery per matching active subscription; idempotent on (event id, subscription). */
  async enqueue(event: WebhookEvent): Promise<EnqueueResult> {
    if (typeof event.id !== "string" || event.id.length === 0 || event.id.length > 200) {
      throw new Error("Webhook event id must be a non-empty string of at most 200 characters");
    }
    if (typeof event.name !== "string" || !EVENT_NAME.test(event.name)) {
      throw new Error(`Webhook event name "${String(event.name)}" is invalid: expected e.g. "activity.status"`);
    }
    const occurredAt = new Date(event.occurredAt);
    if (Number.isNaN(occurredAt.getTime()))
      throw new Error(`Webhook event ${event.id}: occurredAt is not a valid date`);
    const payload: WebhookPayload = {
      id: event.id,
      event: event.name,
      occurredAt: occurredAt.toISOString(),
      data: event.data,
    };
    const body = JSON.stringify(payload);

    await this.init();
    const subs = await this.#subscriptionsFor(event.name);
    const now = this.#clock();
    let created = 0;
    for (const sub of subs) {
      try {
        // A plain insert, never an upsert: on FerretDB an upsert that finds the row rewrites it
        // whole, and could put back PENDING over a delivery another node just made.
        await retryBusy(() =>
          this.#models.Delivery.collection.insertOne({
            _id: new Types.ObjectId(),
            subscriptionId: sub,
            eventId: event.id,
            event: event.name,
            occurredAt,
            body,
            status: "PENDING",
            attempts: 0,
            version: 0,
            nextAttemptAt: now,
            leaseOwner: null,
            leaseToken: null,
            leaseUntil: EPOCH,
            lastError: null,
            lastStatusCode: null,
            lastAttemptAt: null,
            deliveredAt: null,
            deadAt: null,
            replays: 0,
            createdAt: now,
            updatedAt: now,
          } as never),
        );
        created += 1;
      } catch (err) {
        if (!isDuplicateKey(err)) throw err; // a concurrent enqueue of the same event won the race
      }
    }
    if (created > 0) this.#wake?.();
    return { matched: subs.length, created };
  }

  /**
   * Claims due deliveries (at most `limit`) and attempts them, `concurrency` at a time; each is
   * claimed just before its attempt. Safe to run on every node at once.
   */
  async deliverDue(opts: { now?: Date; limit?: number } = {}): Promise<DeliveryRunSummary> {
    await this.init();
    const now = opts.now ?? this.#clock();
    let budget = opts.limit ?? this.#batchSize;
    const summary: DeliveryRunSummary = { claimed: 0, delivered: 0, retried: 0, dead: 0 };
    const queue: DeliveryRecord[] = [];
    const tried: Types.ObjectId[] = [];
    let exhausted = false;
    let fetching: Promise<void> | undefined;
    const nextCandidate = async (): Promise<DeliveryRecord | null> => {
      for (;;) {
        const candidate = queue.shift();
        if (candidate) return candidate;
        if (exhausted) return null;
        fetching ??= this.#findDue(now, tried, Math.max(2 * this.#concurrency, 20))
          .then((found) => {
            for (const d of found) {
              tried.push(d._id);
              queue.push(d);
            }
            if (found.length === 0) exhausted = true;
          })
          .finally(() => {
            fetching = undefined;
          });
        await fetching;
      }
    };
    const worker = async () => {
      while (budget > 0) {
        const candidate = await nextCandidate();
        if (!candidate) return;
        budget--; // reserved before the (asynchronous) claim so workers never exceed the limit
        const claimed = await this.#claim(candidate, now);
        if (!claimed) {
          budget++;
          continue;
        }
        summary.claimed++;
        summary[await this.#attempt(claimed, now)]++;
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(this.#concurrency, budget)) }, worker));
    return summary;
  }

  #findDue(now: Date, exclude: readonly Types.ObjectId[], limit: number): Promise<DeliveryRecord[]> {
    const filter: Record<string, unknown> = {
      status: "PENDING",
      nextAttemptAt: { $lte: now },
      leaseUntil: { $lte: now },
    };
    if (exclude.length > 0) filter._id = { $nin: exclude };
    return retryBusy(() => this.#models.Delivery.find(filter).sort({ nextAttemptAt: 1, _id: 1 }).limit(limit).lean());
  }

  /**
   * Claims one version of a delivery by inserting a claim with a unique id; on a duplicate,
   * takes over only a claim whose lease has expired (its node died before recording the lease).
   * Returns the delivery as leased to this node, or null when another node has it.
   */
  async #claim(candidate: DeliveryRecord, now: Date): Promise<DeliveryRecord | null> {
    const { Claim, Delivery } = this.#models;
    const leaseUntil = new Date(now.getTime() + this.#leaseMs);
    let takeover = 0;
    let claimId: string | undefined;
    for (let tries = 0; tries < 3 && claimId === undefined; tries++) {
      const id = `${candidate._id.toString()}:${candidate.version}:${takeover}`;
      try {
        await retryBusy(() =>
          Claim.create({
            _id: id,
            deliveryId: candidate._id,
            version: candidate.version,
            takeover,
            owner: this.nodeId,
            leaseUntil,
            createdAt: now,
          }),
        );
        claimId = id;
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        const latest = await retryBusy(() =>
          Claim.findOne({ deliveryId: candidate._id, version: candidate.version }).sort({ takeover: -1 }).lean(),
        );
        if (latest && latest.leaseUntil.getTime() > now.getTime()) return null; // held by a live claim
        takeover = Math.max(takeover, latest?.takeover ?? 0) + 1;
      }
    }
    if (claimId === undefined) return null;
    const ownClaim = claimId;
    // The candidate was read before the claim: check it is still this version and still due.
    const fresh = await retryBusy(() => Delivery.findById(candidate._id).lean());
    if (
      !fresh ||
      fresh.version !== candidate.version ||
      fresh.status !== "PENDING" ||
      fresh.nextAttemptAt.getTime() > now.getTime() ||
      fresh.leaseUntil.getTime() > now.getTime()
    ) {
      await retryBusy(() => Claim.deleteOne({ _id: ownClaim }));
      return null;
    }
    const lease = {
      version: fresh.version + 1,
      attempts: fresh.attempts + 1,
      leaseOwner: this.nodeId,
      leaseToken: ownClaim,
      leaseUntil,
      lastAttemptAt: now,
      updatedAt: now,
    };
    await retryBusy(() => Delivery.updateOne({ _id: fresh._id }, { $set: lease }));
    return { ...fresh, ...lease };
  }

  async #attempt(d: DeliveryRecord, startedAt: Date): Promise<Outcome> {
    const ids = { deliveryId: d._id.toString(), subscriptionId: d.subscriptionId.toString(), event: d.event };
    if (d.attempts > this.#backoff.maxAttempts) {
      // Claimed again after a node died during the last attempt: give up.
      return this.#finishDead(d, `gave up after ${d.attempts - 1} attempts (the last one's outcome is unknown)`, null);
    }
    const sub = await retryBusy(() => this.#models.Subscription.findById(d.subscriptionId, "+secret").lean());
    if (!sub || !sub.active) {
      return this.#finishDead(d, sub ? "subscription is inactive" : "subscription was deleted", null);
    }
    const result = await postJson(
      sub.url,
      d.body,
      {
        "Content-Type": "application/json",
        "User-Agent": this.#userAgent,
        [SIGNATURE_HEADER]: signPayload(this.#secrets.open(sub.secret), d.body),
        [EVENT_HEADER]: d.event,
        [DELIVERY_HEADER]: ids.deliveryId,
        [ATTEMPT_HEADER]: String(d.attempts),
      },
      { policy: this.#policy, timeoutMs: this.#timeoutMs, ...(this.#lookup ? { lookup: this.#lookup } : {}) },
    );
    const now = new Date(Math.max(startedAt.getTime(), this.#clock().getTime()));
    if (result.ok) {
      const ok = await this.#finish(d, now, {
        status: "DELIVERED",
        deliveredAt: now,
        lastStatusCode: result.statusCode,
        lastError: null,
      });
      if (ok) this.#log.info("webhook delivered", { ...ids, attempt: d.attempts, statusCode: result.statusCode });
      return "delivered";
    }
    const decision = afterFailure(d.attempts, now, this.#backoff, this.#random);
    if (decision.kind === "dead") return this.#finishDead(d, result.error, result.statusCode);
    const ok = await this.#finish(d, now, {
      nextAttemptAt: decision.at,
      lastError: result.error,
      lastStatusCode: result.statusCode,
    });
    if (ok) {
      this.#log.warn("webhook delivery failed, will retry", {
        ...ids,
        attempt: d.attempts,
        error: result.error,
        retryInMs: decision.delayMs,
      });
    }
    return "retried";
  }

  async #finishDead(d: DeliveryRecord, error: string, statusCode: number | null): Promise<Outcome> {
    const now = this.#clock();
    const ok = await this.#finish(d, now, {
      status: "DEAD",
      deadAt: now,
      lastError: error,
      lastStatusCode: statusCode,
    });
    if (ok) {
      this.#log.error("webhook delivery dead-lettered", {
        deliveryId: d._id.toString(),
        subscriptionId: d.subscriptionId.toString(),
        event: d.event,
        attempts: d.attempts,
        error,
      });
    }
    return "dead";
  }

  /** Records an outcome and releases the lease, if this node still holds it. */
  async #finish(d: DeliveryRecord, now: Date, set: Partial<DeliveryRecord>): Promise<boolean> {
    const { Claim, Delivery } = this.#models;
    const current = await retryBusy(() => Delivery.findById(d._id, { leaseToken: 1, version: 1 }).lean());
    if (!current || current.leaseToken !== d.leaseToken || current.version !== d.version) {
      this.#log.warn("webhook delivery outcome not recorded: the claim expired or the subscription was deleted", {
        deliveryId: d._id.toString(),
      });
      return false;
    }
    await retryBusy(() =>
      Delivery.updateOne(
        { _id: d._id },
        {
          $set: {
            ...set,
            version: d.version + 1,
            leaseOwner: null,
            leaseToken: null,
            leaseUntil: EPOCH,
            updatedAt: now,
          },
        },
      ),
    );
    if (d.leaseToken) {
      const claimId = d.leaseToken;
      await retryBusy(() => Claim.deleteOne({ _id: claimId }));
    }
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // Dead letters, replay, metrics, purge

  async listDeliveries(
    filter: { status?: DeliveryStatus; subscriptionId?: string; limit?: number } = {},
  ): Promise<DeliveryView[]> {
    await this.init();
    const q: Record<string, unknown> = {};
    if (filter.status) q.status = filter.status;
    if (filter.subscriptionId !== undefined) {
      if (!isObjectId(filter.subscriptionId)) return [];
      q.subscriptionId = new Types.ObjectId(filter.subscriptionId);
    }
    const docs = await this.#models.Delivery.find(q)
      .sort({ createdAt: 1, _id: 1 })
      .limit(Math.min(Math.max(1, filter.limit ?? 100), 1000))
      .lean();
    return docs.map(deliveryView);
  }

  /** Dead letters, oldest first. */
  listDeadLetters(filter: { subscriptionId?: string; limit?: number } = {}): Promise<DeliveryView[]> {
    return this.listDeliveries({ ...filter, status: "DEAD" });
  }

  async getDelivery(id: string): Promise<DeliveryView | null> {
    if (!isObjectId(id)) return null;
    await this.init();
    const doc = await this.#models.Delivery.findById(id).lean();
    return doc ? deliveryView(doc) : null;
  }

  /**
   * Puts dead letters back to PENDING, due now, with attempts reset: one by delivery id, or
   * all (optionally of one subscription). Returns how many were replayed.
   */
  async replay(target: ReplayTarget): Promise<number> {
    await this.init();
    const q: Record<string, unknown> = { status: "DEAD" };
    if (typeof target === "string") {
      if (!isObjectId(target)) return 0;
      q._id = new Types.ObjectId(target);
    } else if (target.subscriptionId !== undefined) {
      if (!isObjectId(target.subscriptionId)) return 0;
      q.subscriptionId = new Types.ObjectId(target.subscriptionId);
    }
    const now = this.#clock();
    const res = await retryBusy(() =>
      this.#models.Delivery.updateMany(q, {
        $set: {
          status: "PENDING",
          attempts: 0,
          nextAttemptAt: now,
          deadAt: null,
          leaseOwner: null,
          leaseToken: null,
          leaseUntil: EPOCH,
          updatedAt: now,
        },
        $inc: { replays: 1, version: 1 },
      }),
    );
    if (res.modifiedCount > 0) {
      this.#log.info("webhook dead letters replayed", { count: res.modifiedCount });
      this.#wake?.();
    }
    return res.modifiedCount;
  }

  /** Counts for metrics (e.g. a `dialmesh_webhook_backlog{status}` gauge). */
  async backlog(now: Date = this.#clock()): Promise<WebhookBacklog> {
    await this.init();
    const D = this.#models.Delivery;
    const [pending, due, dead, delivered, oldest] = await Promise.all([
      D.countDocuments({ status: "PENDING" }),
      D.countDocuments({ status: "PENDING", nextAttemptAt: { $lte: now } }),
      D.countDocuments({ status: "DEAD" }),
      D.countDocuments({ status: "DELIVERED" }),
      D.findOne({ status: "PENDING" }, { createdAt: 1 }).sort({ createdAt: 1 }).lean(),
    ]);
    const oldestPendingAgeSeconds = oldest ? Math.max(0, (now.getTime() - oldest.createdAt.getTime()) / 1000) : 0;
    return { pending, due, dead, delivered, oldestPendingAgeSeconds };
  }

  /** Deletes DELIVERED rows delivered before `before` (no TTL index on FerretDB). */
  async purgeDelivered(before: Date): Promise<number> {
    await this.init();
    const res = await this.#models.Delivery.deleteMany({ status: "DELIVERED", deliveredAt: { $lt: before } });
    // Claims are only needed while their lease runs.
    await this.#models.Claim.deleteMany({ leaseUntil: { $lt: new Date(this.#clock().getTime() - 3600_000) } });
    return res.deletedCount;
  }

  // -------------------------------------------------------------------------------------------
  // Loop

  /** Starts the delivery loop: runs `deliverDue` until nothing is due, then waits `pollIntervalMs`. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Stops the loop and waits for the attempts in flight. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#wake?.();
    await this.#loop;
    this.#loop = undefined;
  }

  get running(): boolean {
    return this.#running;
  }

  async #run(): Promise<void> {
    while (this.#running) {
      let busy = false;
      try {
        const summary = await this.deliverDue({ limit: this.#batchSize });
        busy = summary.claimed >= this.#batchSize;
        await this.#maybePurge();
      } catch (err) {
        this.#log.error("webhook delivery loop error", { error: isError(err) ? err.message : String(err) });
      }
      if (!this.#running) break;
      if (!busy) await this.#sleep(this.#pollIntervalMs);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(this.#timer);
        this.#timer = undefined;
        this.#wake = undefined;
        resolve();
      };
      this.#wake = done;
      this.#timer = setTimeout(done, ms);
    });
  }

  async #maybePurge(): Promise<void> {
    if (this.#retainDeliveredMs <= 0) return;
    const now = this.#clock().getTime();
    if (now - this.#lastPurge < Math.min(3600_000, this.#retainDeliveredMs)) return;
    this.#lastPurge = now;
    const purged = await this.purgeDelivered(new Date(now - this.#retainDeliveredMs));
    if (purged > 0) this.#log.info("webhook deliveries purged", { count: purged });
  }
}

function deliveryView(d: DeliveryRecord): DeliveryView {
  return {
    id: d._id.toString(),
    subscriptionId: d.subscriptionId.toString(),
    eventId: d.eventId,
    event: d.event,
    occurredAt: d.occurredAt.toISOString(),
    status: d.status,
    attempts: d.attempts,
    nextAttemptAt: d.status === "PENDING" ? iso(d.nextAttemptAt) : null,
    lastError: d.lastError,
    lastStatusCode: d.lastStatusCode,
    lastAttemptAt: iso(d.lastAttemptAt),
    deliveredAt: iso(d.deliveredAt),
    deadAt: iso(d.deadAt),
    replays: d.replays ?? 0,
    createdAt: d.createdAt.toISOString(),
    payload: JSON.parse(d.body) as WebhookPayload,
  };
}
