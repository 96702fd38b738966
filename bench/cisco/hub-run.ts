/**
 * One bridge plugin through a hub node in its own process (test/support/node-process.ts):
 * `total` voice activities of campaign "bulk" POSTed through the REST API, then the caller's
 * `settle` waits until the vendor holds them all. Reports intake-to-QUEUED wall time per
 * activity (read back through the API: the activity's createdAt to its attempt's QUEUED) and
 * the CPU of the hub and FerretDB per contact (/proc, sampled every 0.5 s), with what both
 * spend idle for comparison.
 */
import { MongoClient, type Db } from "mongodb";
import { startNodeProcess, type HubNodeProcess } from "../../test/support/node-process.ts";
import { benchPhone } from "./plugin-alone.ts";
import { cpuMsOf, spread } from "./report.ts";

export interface HubRunOptions {
  dbUrl: string;
  dbPid: number;
  /** Database and node name. */
  name: string;
  /** The plugin's entry of the hub's `plugins` (its campaign/list map names "bulk"). */
  plugin: Record<string, unknown>;
  total: number;
  perRequest: number;
  /** scheduler.concurrency: the sends in flight. */
  concurrency: number;
  /** Called after the idle measurement, right before the first POST (a fault burst is injected here). */
  beforePosting(): void;
  /** Waits until the vendor holds every contact; returns named moments (Date.now()) to report. */
  settle(db: Db): Promise<Record<string, number>>;
  log(line: string): void;
}

interface Sample {
  t: number;
  hubCpuMs: number;
  dbCpuMs: number;
  benchCpuMs: number;
}

export interface BenchActivity {
  id: string;
  status: string;
  createdAt: string;
  attempts: { id: string; status: string; vendorId?: string; dispatchedAt: string; updatedAt: string }[];
}

async function allActivities(hub: HubNodeProcess): Promise<BenchActivity[]> {
  const out: BenchActivity[] = [];
  let after: string | null = null;
  do {
    const res = await hub.api("GET", `/api/v1/activities?campaignId=bulk&limit=500${after ? `&after=${after}` : ""}`);
    if (res.status !== 200) throw new Error(`listing activities: ${res.status} ${res.text.slice(0, 300)}`);
    const page = res.body as { activities: BenchActivity[]; next: string | null };
    out.push(...page.activities);
    after = page.next;
  } while (after);
  return out;
}

export async function runThroughHub(opts: HubRunOptions) {
  const { total } = opts;
  const mongoUrl = `${opts.dbUrl}/${opts.name}`;
  const mongo = await MongoClient.connect(mongoUrl);
  const hub = await startNodeProcess({
    nodeId: opts.name,
    mongoUrl,
    smtpPort: 1,
    config: {
      // The dialer bench's scheduler: a lease long enough for claim rounds on a busy FerretDB.
      scheduler: { pollIntervalMs: 100, batchSize: 500, concurrency: opts.concurrency, leaseMs: 30_000 },
      plugins: [opts.plugin],
      routing: {},
    },
  });
  try {
    const cpu = (): Omit<Sample, "t"> => {
      const own = process.cpuUsage();
      return { hubCpuMs: cpuMsOf(hub.pid), dbCpuMs: cpuMsOf(opts.dbPid), benchCpuMs: (own.user + own.system) / 1000 };
    };
    // What the idle hub and FerretDB spend (scheduler polls, flusher ticks), to tell from the run's.
    const idle0 = { ...cpu(), t: Date.now() };
    await new Promise((r) => setTimeout(r, 10_000));
    const idle1 = { ...cpu(), t: Date.now() };
    const idleCoreShare = {
      hub: (idle1.hubCpuMs - idle0.hubCpuMs) / (idle1.t - idle0.t),
      db: (idle1.dbCpuMs - idle0.dbCpuMs) / (idle1.t - idle0.t),
    };

    opts.beforePosting();
    const samples: Sample[] = [];
    const sample = () => samples.push({ t: Date.now(), ...cpu() });
    sample();
    const sampler = setInterval(sample, 500);
    const t0 = Date.now();
    opts.log(`posting ${total} voice activities in requests of ${opts.perRequest}`);
    const postMs: number[] = [];
    for (let from = 0; from < total; from += opts.perRequest) {
      const started = performance.now();
      const res = await hub.api("POST", "/api/v1/activities", {
        activities: Array.from({ length: Math.min(opts.perRequest, total - from) }, (_, k) => ({
          customer: { id: `bulk-${from + k}`, phone: benchPhone(from + k) },
          channel: "voice",
          campaignId: "bulk",
          content: {},
          idempotencyKey: `${opts.name}-${from + k}`,
        })),
      });
      if (res.status !== 202) throw new Error(`POST activities: ${res.status} ${res.text.slice(0, 500)}`);
      postMs.push(performance.now() - started);
    }
    const postedAt = Date.now();
    opts.log(`posted in ${((postedAt - t0) / 1000).toFixed(1)} s; waiting for the vendor`);
    const moments = await opts.settle(mongo.db());
    const settledAt = Date.now();
    clearInterval(sampler);
    sample();

    const activities = await allActivities(hub);
    const queued = activities.filter((a) => a.status === "QUEUED" && a.attempts[0]?.status === "QUEUED");
    const queuedSet = new Set(queued);
    const ms = (iso: string) => new Date(iso).getTime();
    const first = (a: BenchActivity) => a.attempts[0]!;
    const lastQueuedAt = Math.max(...queued.map((a) => ms(first(a).updatedAt)));
    // CPU at a moment: the first sample at or after it (samples every 0.5 s).
    const at = (t: number): Sample => samples.find((s) => s.t >= t) ?? samples.at(-1)!;
    const base = samples[0]!;
    const per = (end: Sample) => ({
      seconds: (end.t - base.t) / 1000,
      hubCpuMsPerContact: (end.hubCpuMs - base.hubCpuMs) / total,
      dbCpuMsPerContact: (end.dbCpuMs - base.dbCpuMs) / total,
      benchCpuMsPerContact: (end.benchCpuMs - base.benchCpuMs) / total,
      hubCoreShare: (end.hubCpuMs - base.hubCpuMs) / (end.t - base.t),
      dbCoreShare: (end.dbCpuMs - base.dbCpuMs) / (end.t - base.t),
    });
    const sinceT0 = (t: number) => (t - t0) / 1000;
    return {
      t0,
      activities: activities.length,
      queued: queued.length,
      /** The attempts' vendorIds (the vendor's account numbers or record keys). */
      vendorIds: queued.map((a) => first(a).vendorId ?? first(a).id),
      notQueued: activities
        .filter((a) => !queuedSet.has(a))
        .slice(0, 5)
        .map((a) => ({ id: a.id, status: a.status, attempts: a.attempts })),
      postMs: spread(postMs),
      intake: {
        postSeconds: sinceT0(postedAt),
        toLastQueuedSeconds: sinceT0(lastQueuedAt),
        activitiesPerSecond: Math.round(total / sinceT0(lastQueuedAt)),
        ...Object.fromEntries(Object.entries(moments).map(([name, t]) => [`${name}Seconds`, sinceT0(t)])),
        settledSeconds: sinceT0(settledAt),
      },
      intakeToQueuedMs: spread(queued.map((a) => ms(first(a).updatedAt) - ms(a.createdAt))),
      createdToDispatchedMs: spread(queued.map((a) => ms(first(a).dispatchedAt) - ms(a.createdAt))),
      dispatchedToQueuedMs: spread(queued.map((a) => ms(first(a).updatedAt) - ms(first(a).dispatchedAt))),
      cpu: { untilLastQueued: per(at(lastQueuedAt)), untilSettled: per(at(settledAt)), idleCoreShare },
    };
  } finally {
    await hub.stop();
    await mongo.close();
  }
}

export type HubRunResult = Awaited<ReturnType<typeof runThroughHub>>;
