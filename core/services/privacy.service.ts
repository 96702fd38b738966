/**
 * `privacy`: erasure (`POST /api/v1/customers/:id/erase`), portability
 * (`GET /api/v1/customers/:id/export`), both admin only, and the retention purge, which one node
 * runs per interval (core/privacy/retention.ts). Logs carry counts and the first characters of
 * the customer id's keyed hash (which matches the erasure's record), never the id or any
 * address: an id is often an account number.
 */
import { type Context, type ServiceSchema, Service, type ServiceBroker } from "moleculer";
import { ConfigError } from "../config/load.ts";
import { purgePlan, purgeSlot, retentionPolicy, type PurgeKind } from "../privacy/retention.ts";
import { PrivacyStore, type CustomerExport } from "../store/privacy.ts";
import { customerView } from "./customers.service.ts";
import { activityView } from "./scheduler.service.ts";
import { ConflictError, NotFoundError } from "./errors.ts";
import { runtimeOf, type HubRuntime } from "./runtime.ts";

/** What the API shows of an export: the same views as the API's other reads. */
function exportView(customerId: string, x: CustomerExport, now: Date) {
  return {
    customerId,
    exportedAt: now,
    customer: x.customer ? customerView(x.customer) : null,
    consents: x.consents.map(({ _id, customerId: _c, ...r }) => ({ id: _id, ...r })),
    activities: x.activities.map((a) => ({ ...activityView(a), customer: a.customer, content: a.content })),
    conversations: x.conversations.map(({ _id, timeline, ...c }) => ({
      id: _id,
      ...c,
      timeline: timeline.map(({ _id: eventId, conversationId: _c, ...e }) => ({ id: eventId, ...e })),
    })),
    suppressions: x.suppressions.map((d) => ({
      address: d._id,
      reason: d.reason,
      source: d.source,
      since: d.createdAt,
      ...(d.purposes ? { purposes: d.purposes } : {}),
    })),
    importRejects: x.importRejects.map(({ _id: _r, ...r }) => r),
  };
}

export function privacyService(runtime: HubRuntime): ServiceSchema {
  const hash = runtime.secrets.keyedHash;
  const store = new PrivacyStore(runtime.store.conn, runtime.store.models, runtime.activities, hash);
  const checked = retentionPolicy(runtime.config.retention);
  if ("details" in checked) throw new ConfigError("configuration", checked.details);
  const policy = checked.policy;
  /** A log's handle on a customer: matches the erasure record, reveals nothing. */
  const subject = (id: string) => hash(id).slice(0, 15);
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;

  /** One purge, if this node wins its slot; the counts per kind, or null when another node runs it. */
  async function purgeOnce(this: Service, now: Date): Promise<Partial<Record<PurgeKind, number>> | null> {
    const steps = purgePlan(policy, now);
    if (!steps.length) return {};
    const slot = purgeSlot(policy, now);
    if (!(await store.claimRun(slot, runtime.nodeId, now))) return null;
    const counts: Partial<Record<PurgeKind, number>> = {};
    for (const step of steps) counts[step.kind] = await store.purge(step, policy.batchSize, now);
    await store.finishRun(slot, counts, new Date());
    this.logger.info("retention purge", { slot, counts });
    return counts;
  }

  return {
    name: "privacy",
    actions: {
      async erase(this: Service, ctx: Context<{ id: string }>) {
        const id = ctx.params.id;
        const result = await store.erase(id, runtime.nodeId, new Date());
        switch (result.outcome) {
          case "unknown":
            throw new NotFoundError(`customer ${id}`);
          case "busy":
            this.logger.info("customer erasure deferred", { subject: subject(id), busy: result.activities.length });
            throw new ConflictError(
              `${result.activities.length} activities of this customer are being sent now: retry the erasure in a few seconds (it is idempotent)`,
              { activities: result.activities },
            );
          case "already-erased":
            return { customerId: id, result: "already-erased", erasedAt: result.erasedAt };
          case "erased":
            this.logger.info("customer erased", { subject: subject(id), counts: result.counts });
            return { customerId: id, result: "erased", counts: result.counts };
        }
      },
      async export(this: Service, ctx: Context<{ id: string }>) {
        const now = new Date();
        const found = await store.export(ctx.params.id);
        if (!found) throw new NotFoundError(`customer ${ctx.params.id}`);
        this.logger.info("customer exported", {
          subject: subject(ctx.params.id),
          activities: found.activities.length,
          conversations: found.conversations.length,
        });
        return exportView(ctx.params.id, found, now);
      },
      /** Runs a purge now (tests, admin): null when another node has this interval's run. */
      async purge(this: Service, ctx: Context<{ at?: string }>) {
        return { counts: await purgeOnce.call(this, ctx.params.at ? new Date(ctx.params.at) : new Date()) };
      },
    },
    async started(this: Service) {
      await store.ensureIndexes();
      if (!purgePlan(policy, new Date()).length) return;
      timer = setInterval(() => {
        if (running) return;
        running = purgeOnce
          .call(this, new Date())
          .catch((err: Error) => this.logger.warn("retention purge failed", { error: err.message }))
          .finally(() => (running = undefined));
      }, policy.purgeIntervalMs);
      timer.unref();
    },
    async stopped() {
      if (timer) clearInterval(timer);
      await running;
    },
  };
}

/** The service as startHub and moleculer-runner create it, with the node's runtime from its broker. */
export default class PrivacyService extends Service {
  constructor(broker: ServiceBroker) {
    super(broker);
    this.parseServiceSchema(privacyService(runtimeOf(broker)));
  }
}
