/**
 * Retention: how long each kind of data is kept, and what a purge run deletes. Pure: the purge
 * job (core/services/privacy.service.ts) gives the clock and does the deleting.
 *
 * Kinds (config `retention.<kind>`, an ISO-8601 duration such as "P365D"; absent or null keeps
 * the data until it is erased):
 * - `activities`: closed activities (no next run, no lease, not SCHEDULED/DISPATCHING), with their
 *   attempts, attempt start records and dialer contacts, by creation date. Open ones are never
 *   purged, however old.
 * - `conversations`: conversations whose last event is older, with their timeline, unless an
 *   open activity still belongs to them.
 * - `callResults`: the call metadata of voice attempts (CALL_RESULT timeline events: talk time,
 *   agent, vendor result), which a contact centre often keeps for less time than the rest.
 * - `importRejects`: the rejected rows (copies of the file's cells) of finished import jobs.
 */
import type { ActivityStatus } from "@dialmesh/sdk";
import { Duration } from "luxon";
import type { ValidationDetail } from "../validation/json-schema.ts";

export const RETENTION_KINDS = ["activities", "conversations", "callResults", "importRejects"] as const;
export type RetentionKind = (typeof RETENTION_KINDS)[number];

/**
 * The dialer's number history (hashed numbers and dial times) is kept as long as the rules read
 * it back (attempt limits, the UK's 72 hours: at most a month) and no longer; not configurable,
 * since less would break the rules and more is not needed.
 */
export const DIAL_HISTORY_KEEP_MS = 31 * 86_400_000;
export type PurgeKind = RetentionKind | "dialHistory";

export interface RetentionConfig {
  /** How often the purge runs (one node per run). */
  purgeIntervalMs: number;
  /** Documents deleted per batch (one query each), so a run never holds the database long. */
  batchSize: number;
  activities?: string | null;
  conversations?: string | null;
  callResults?: string | null;
  importRejects?: string | null;
}

export interface RetentionPolicy {
  purgeIntervalMs: number;
  batchSize: number;
  /** Milliseconds each configured kind is kept. */
  keepMs: Partial<Record<RetentionKind, number>>;
}

/** Shorter than a day is a typo (PT1H for P1D), and would purge what is still being worked on. */
const MIN_KEEP_MS = 86_400_000;

/** The policy of `config.retention`, or one detail (JSON pointer, what was expected) per bad key. */
export function retentionPolicy(
  config: RetentionConfig,
): { policy: RetentionPolicy } | { details: ValidationDetail[] } {
  const details: ValidationDetail[] = [];
  const keepMs: Partial<Record<RetentionKind, number>> = {};
  for (const kind of RETENTION_KINDS) {
    const value = config[kind];
    if (value === undefined || value === null) continue;
    const d = Duration.fromISO(value);
    const ms = d.isValid ? d.as("milliseconds") : NaN;
    if (!Number.isFinite(ms) || ms < MIN_KEEP_MS)
      details.push({
        path: `/retention/${kind}`,
        message: `"${value}" must be an ISO-8601 duration of at least one day, e.g. "P365D"`,
      });
    else keepMs[kind] = ms;
  }
  if (!Number.isInteger(config.purgeIntervalMs) || config.purgeIntervalMs < 1000)
    details.push({ path: "/retention/purgeIntervalMs", message: "must be an integer of at least 1000 (ms)" });
  if (!Number.isInteger(config.batchSize) || config.batchSize < 1 || config.batchSize > 1000)
    details.push({ path: "/retention/batchSize", message: "must be an integer from 1 to 1000" });
  if (details.length) return { details };
  return { policy: { purgeIntervalMs: config.purgeIntervalMs, batchSize: config.batchSize, keepMs } };
}

export interface PurgeStep {
  kind: PurgeKind;
  /** Data of this kind dated before this is deleted. */
  before: Date;
}

/** What a purge run at `now` deletes: one cutoff per configured kind in a fixed order, then the dial history. */
export function purgePlan(policy: RetentionPolicy, now: Date): PurgeStep[] {
  const configured: PurgeStep[] = RETENTION_KINDS.filter((k) => policy.keepMs[k] !== undefined).map((kind) => ({
    kind,
    before: new Date(now.getTime() - policy.keepMs[kind]!),
  }));
  return [...configured, { kind: "dialHistory", before: new Date(now.getTime() - DIAL_HISTORY_KEEP_MS) }];
}

/**
 * The run a purge at `now` belongs to: nodes that tick in the same interval compete for the same
 * slot, and the one whose unique insert of it wins runs it (see claims.ts: FerretDB's conditional
 * updates are not atomic, its unique inserts are).
 */
export function purgeSlot(policy: RetentionPolicy, now: Date): string {
  return `purge:${Math.floor(now.getTime() / policy.purgeIntervalMs)}`;
}

export interface ActivityState {
  status: ActivityStatus;
  nextRunAt: Date | null;
  leaseUntil?: Date | null;
}

/** Still being worked on: waiting for a run, being sent, or held by a node. Never purged. */
export function isOpenActivity(a: ActivityState, now: Date): boolean {
  if (a.status === "SCHEDULED" || a.status === "DISPATCHING") return true;
  if (a.nextRunAt !== null && a.nextRunAt !== undefined) return true;
  return !!a.leaseUntil && new Date(a.leaseUntil).getTime() > now.getTime();
}
