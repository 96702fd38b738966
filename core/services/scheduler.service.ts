/**
 * `scheduler`: accepts activities (validated, idempotent) and dispatches them when due.
 * Every node polls; the atomic claim in the store gives each due activity to exactly one
 * node, and its lease hands work of a node that died to another.
 */
import { type Context, type ServiceSchema, Service, type ServiceBroker } from "moleculer";
import {
  customerIdsToLookUp,
  normalizeActivity,
  splitBatch,
  type NormalizedActivity,
} from "../domain/activity-input.ts";
import { CustomerStore } from "../store/customers.ts";
import type { ValidationDetail } from "../validation/json-schema.ts";
import { ACTIVITY_STATUSES } from "@dialmesh/sdk";
import { parseLimit } from "./query.ts";
import { unknownListDetails } from "../compliance/dnc.ts";
import type { ActivityDoc } from "../store/models.ts";
import { ConflictError, NotFoundError, ValidationError, type HttpMeta } from "./errors.ts";
import { runtimeOf, type HubRuntime } from "./runtime.ts";
import type { PluginRegistry } from "../plugins/registry.ts";
import { Slots } from "./slots.ts";

/** The activity as the API shows it. */
export function activityView(a: ActivityDoc): Record<string, unknown> {
  return {
    id: a._id,
    status: a.status,
    channel: a.channel,
    customerId: a.customer.id,
    conversationId: a.conversationId,
    campaignId: a.campaignId,
    dncLists: a.dncLists,
    purpose: a.purpose,
    requiresConsent: a.requiresConsent,
    idempotencyKey: a.idempotencyKey.startsWith("auto:") ? undefined : a.idempotencyKey,
    dueAt: a.dueAt,
    expiresAt: a.expiresAt,
    window: a.window,
    fallbackPolicy: a.fallbackPolicy,
    chain: a.chain,
    nextRunAt: a.nextRunAt,
    attempts: a.attempts.map((t) => ({
      id: t.id,
      step: t.step,
      retry: t.retry,
      channel: t.channel,
      pluginId: t.pluginId,
      ...(t.passedOver?.length ? { passedOver: t.passedOver } : {}),
      vendorId: t.vendorId,
      status: t.status,
      reasonCode: t.reasonCode,
      reason: t.reason,
      retryable: t.retryable,
      ...(t.raw !== undefined ? { raw: t.raw } : {}),
      ...(t.talkSeconds !== undefined ? { talkSeconds: t.talkSeconds } : {}),
      ...(t.agentId !== undefined ? { agentId: t.agentId } : {}),
      node: t.node,
      dispatchedAt: t.dispatchedAt,
      updatedAt: t.updatedAt,
    })),
    createdAt: a.createdAt,
    updatedAt: a.updatedAt,
  };
}

export function schedulerService(runtime: HubRuntime, registry: PluginRegistry): ServiceSchema {
  const { config, activities } = runtime;
  const customers = new CustomerStore(runtime.store.conn);
  let timer: NodeJS.Timeout | undefined;
  let stopping = false;
  let running: Promise<void> | undefined;
  let housekeeping: NodeJS.Timeout | undefined;
  /** The node's sends in flight, from claim rounds and from timers alike. */
  const slots = new Slots(config.scheduler.concurrency);
  /** Activities claimed ahead of their time, each waiting on its timer (see tick). */
  const ahead = new Map<string, { activity: ActivityDoc; timer: NodeJS.Timeout }>();
  const aheadSends = new Set<Promise<void>>();

  async function dispatch(svc: Service, activity: ActivityDoc): Promise<void> {
    try {
      await svc.broker.call("ccm.dispatch", { activity });
    } catch (err) {
      // The lease expires and another round (or node) picks it up.
      svc.logger.error("dispatch failed", { activityId: activity._id, error: (err as Error).message });
    }
  }

  /** Dispatches a claimed activity at its due time, on a timer, whatever round is running then. */
  function dispatchAt(svc: Service, activity: ActivityDoc, at: Date): void {
    // A timer may fire a millisecond early (libuv's loop time lags the clock): wait the rest.
    const wait = at.getTime() - Date.now();
    if (wait <= 0) {
      ahead.delete(activity._id);
      const send = slots.run(() => dispatch(svc, activity)).finally(() => aheadSends.delete(send));
      aheadSends.add(send);
      return;
    }
    ahead.set(activity._id, { activity, timer: setTimeout(() => dispatchAt(svc, activity, at), wait) });
  }

  /**
   * One round: claims due work and dispatches it `concurrency` at a time, claiming the next
   * batch while the current one is sent (when half of it is left), until nothing more is due.
   * Work due within `claimAheadMs` is claimed too and sent on a timer at its time, so that an
   * activity does not wait for the next poll. At most a batch is held ahead, so that one node does not take
   * all of a burst due together from the others.
   */
  async function tick(svc: Service): Promise<void> {
    const { batchSize, concurrency, leaseMs } = config.scheduler;
    const aheadMs = config.scheduler.claimAheadMs; // at most leaseMs / 4 (core/config/load.ts)
    const queue: ActivityDoc[] = [];
    let more = true;
    let claiming: Promise<void> | undefined;
    const claim = (): Promise<void> => {
      if (claiming) return claiming;
      const now = new Date();
      const horizon = ahead.size < batchSize ? new Date(now.getTime() + aheadMs) : now;
      return (claiming = activities
        .claimDue(runtime.nodeId, now, batchSize, leaseMs, horizon)
        .then((claimed) => {
          for (const a of claimed) {
            const at = a.nextRunAt ? new Date(a.nextRunAt) : now;
            if (at > now) dispatchAt(svc, a, at);
            else queue.push(a);
          }
          if (claimed.length < batchSize) more = false;
        })
        .finally(() => {
          claiming = undefined;
        }));
    };
    await claim();
    const worker = async (): Promise<void> => {
      for (;;) {
        if (stopping) return;
        if (more && queue.length <= batchSize / 2 && !claiming) {
          claim().catch((err: Error) => {
            more = false;
            svc.logger.warn("claim round failed; retrying at the next poll", { error: err.message });
          });
        }
        const activity = queue.shift();
        if (!activity) {
          if (!claiming) return;
          await claiming.catch(() => undefined);
          continue;
        }
        await slots.run(() => dispatch(svc, activity));
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  }

  function schedule(svc: Service): void {
    if (stopping) return;
    timer = setTimeout(() => {
      running = tick(svc)
        .catch((err: Error) => svc.logger.warn("scheduler round failed; retrying", { error: err.message }))
        .finally(() => schedule(svc));
    }, config.scheduler.pollIntervalMs);
  }

  return {
    name: "scheduler",
    actions: {
      /** POST /api/v1/activities: one activity or {activities: [...]}. */
      async schedule(ctx: Context<unknown, HttpMeta>) {
        const { items, prefix, batch, problem } = splitBatch(ctx.params);
        if (problem) throw new ValidationError("Unexpected body", [{ path: "", message: problem }]);
        if (batch && items.length === 0) {
          throw new ValidationError("No activities", [{ path: "/activities", message: "must be a non-empty array" }]);
        }
        if (items.length > config.api.maxBatch) {
          throw new ValidationError(
            `Too many activities`,
            [{ path: "/activities", message: `has ${items.length} items; at most ${config.api.maxBatch} per request` }],
            413,
          );
        }
        const now = new Date();
        // Activities naming a stored customer without its address: one lookup for the request.
        const lookUp = customerIdsToLookUp(items);
        const intake = {
          channels: registry.channels(),
          instances: registry.instances(),
          fallbacks: config.fallbacks,
          now,
          ...(lookUp.length ? { storedCustomers: await customers.contactsOf(lookUp) } : {}),
        };
        const details: ValidationDetail[] = [];
        const normalized: NormalizedActivity[] = [];
        const named: { at: string; lists: string[] }[] = [];
        items.forEach((item, i) => {
          const r = normalizeActivity(item, intake, prefix(i));
          if (r.ok) normalized.push(r.value);
          else details.push(...r.details);
          if (r.ok && r.value.dncLists) named.push({ at: prefix(i), lists: r.value.dncLists });
        });
        if (named.length > 0) {
          const known = await runtime.dnc.existing(named.flatMap((n) => n.lists));
          for (const n of named) details.push(...unknownListDetails(n.lists, known, n.at));
        }
        // All or nothing: a batch with one bad item stores none, so a corrected resend is simple.
        if (details.length > 0) {
          throw new ValidationError(
            `${details.length} problem(s) in the request; nothing was stored`,
            details.slice(0, 1000),
          );
        }
        const accepted = await activities.accept(normalized, now);
        const conflicts = accepted.filter((a) => a.conflict);
        if (!batch && conflicts.length) {
          throw new ConflictError("idempotencyKey was used before with a different request", { id: conflicts[0]!.id });
        }
        const created = accepted.filter((a) => a.created).length;
        accepted.forEach((a, i) => a.created && runtime.metrics.statusChange(normalized[i]!.channel, "SCHEDULED"));
        ctx.meta.$statusCode = 202;
        if (!batch) {
          const one = accepted[0]!;
          return { id: one.id, status: one.status, ...(one.created ? {} : { duplicate: true }) };
        }
        return {
          accepted: accepted.length,
          created,
          activities: accepted.map((a) => ({
            id: a.id,
            status: a.status,
            ...(a.created ? {} : { duplicate: true }),
            ...(a.conflict ? { conflict: true } : {}),
          })),
        };
      },
      /** GET /api/v1/activities: filtered, in id order (creation time first), paged by cursor. */
      async list(ctx: Context<Record<string, unknown>>) {
        const q = ctx.params;
        const details: ValidationDetail[] = [];
        const date = (name: string): Date | undefined => {
          const v = q[name];
          if (v === undefined) return undefined;
          const d = typeof v === "string" && /^\d{4}-\d{2}-\d{2}T/.test(v) ? new Date(v) : new Date(NaN);
          if (Number.isNaN(d.getTime()))
            details.push({
              path: `/query/${name}`,
              message: "must be an ISO-8601 date-time, e.g. 2026-12-01T00:00:00Z",
            });
          return d;
        };
        const status = q.status as string | undefined;
        if (status !== undefined && !(ACTIVITY_STATUSES as readonly string[]).includes(status))
          details.push({ path: "/query/status", message: `must be one of ${ACTIVITY_STATUSES.join(", ")}` });
        const after = q.after as string | undefined;
        if (after !== undefined && !/^act_[0-9a-z]+$/.test(after))
          details.push({ path: "/query/after", message: "must be the id of the last activity of the previous page" });
        const since = date("since");
        const until = date("until");
        const limit = parseLimit(q.limit, { default: 50, max: 500 });
        if (details.length) throw new ValidationError("Invalid query parameters", details);
        const { docs, read, lastId } = await activities.list(
          {
            ...(status ? { status } : {}),
            ...(typeof q.channel === "string" ? { channel: q.channel } : {}),
            ...(typeof q.campaignId === "string" ? { campaignId: q.campaignId } : {}),
            ...(typeof q.customerId === "string" ? { customerId: q.customerId } : {}),
            ...(since ? { since } : {}),
            ...(until ? { until } : {}),
          },
          after,
          limit,
        );
        // A full page read may have more after it, even when some of it did not match the status.
        return { activities: docs.map(activityView), next: read === limit ? lastId! : null };
      },
      async get(ctx: Context<{ id: string }>) {
        const a = await activities.get(ctx.params.id);
        if (!a) throw new NotFoundError(`activity ${ctx.params.id}`);
        return activityView(a);
      },
      async cancel(ctx: Context<{ id: string }>) {
        const { cancelled, activity } = await activities.cancel(ctx.params.id, runtime.nodeId, new Date());
        if (!activity) throw new NotFoundError(`activity ${ctx.params.id}`);
        if (!cancelled && activity.status !== "CANCELLED") {
          throw new ConflictError(`activity ${ctx.params.id} can no longer be cancelled (status ${activity.status})`, {
            status: activity.status,
          });
        }
        if (cancelled) {
          await ctx.call("webhooks.publish", {
            id: `activity.status:${activity._id}:activity:CANCELLED`,
            name: "activity.status",
            occurredAt: new Date(),
            data: {
              activityId: activity._id,
              conversationId: activity.conversationId,
              customerId: activity.customer.id,
              campaignId: activity.campaignId,
              status: "CANCELLED",
            },
          });
        }
        return activityView(activity);
      },
      /** Runs one claim round now (tests, admin). */
      async tick(this: Service) {
        await tick(this);
        return { ok: true };
      },
    },
    started(this: Service) {
      stopping = false;
      // Dispatch only once this node's plugins are loaded: an attempt routed to an instance that
      // is still loading would otherwise fail with NO_PLUGIN and spend a retry.
      registry.loaded.then(
        () =>
          activities
            .backfillDueIndex()
            .catch((err: Error) => this.logger.warn("due index backfill failed", { error: err.message }))
            .finally(() => schedule(this)),
        () => undefined,
      );
      // Purge jobs in place of TTL indexes (FerretDB has none); every node may run them.
      housekeeping = setInterval(() => {
        const hourAgo = new Date(Date.now() - 3600_000);
        Promise.all([activities.purgeClaims(hourAgo), runtime.rateLimiter.purge(new Date())]).catch((err: Error) =>
          this.logger.warn("purge failed", { error: err.message }),
        );
      }, 60_000);
      housekeeping.unref();
      return Promise.resolve();
    },
    async stopped() {
      stopping = true;
      if (timer) clearTimeout(timer);
      if (housekeeping) clearInterval(housekeeping);
      await running;
      // Claimed ahead and not sent: released, so that they need not wait for their leases.
      const waiting = [...ahead.values()];
      ahead.clear();
      for (const w of waiting) clearTimeout(w.timer);
      await Promise.all([
        ...waiting.map((w) => activities.release(w.activity, {}, new Date()).catch(() => false)),
        ...aheadSends,
      ]);
      await activities.flushDueIndex().catch(() => undefined);
    },
  };
}

/** The service as startHub and moleculer-runner create it, with the node's runtime from its broker. */
export default class SchedulerService extends Service {
  constructor(broker: ServiceBroker) {
    super(broker);
    const runtime = runtimeOf(broker);
    this.parseServiceSchema(schedulerService(runtime, runtime.registry));
  }
}
