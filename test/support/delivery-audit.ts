/**
 * Checks that what an SMTP server received matches what the hub recorded: every activity SENT
 * with exactly one attempt, one Message-ID per attempt (`<attemptId@dialmesh>`), each received
 * at the activity's own address, and no message received twice. The one exception to SENT: an
 * attempt a killed node had in flight is FAILED with OUTCOME_UNKNOWN (email is not idempotent,
 * so it is not resent); it may or may not have been received, once at most.
 */
import { openStore } from "../../core/store/connection.ts";
import type { ActivityDoc } from "../../core/store/models.ts";
import type { ReceivedMail } from "../vendors/smtp-server.ts";

export interface DeliveryAudit {
  activities: number;
  receipts: number;
  distinctMessageIds: number;
  /** Message-IDs received more than once, with the node that started the attempt. */
  repeated: { messageId: string; count: number; node: string | undefined; activityId: string }[];
  /** Attempts a killed node left unknown (FAILED, OUTCOME_UNKNOWN), and whether the server got them. */
  unknown: { activityId: string; attemptId: string; node: string | undefined; received: boolean }[];
  /** Attempts per node (attempt.node). */
  perNode: Record<string, number>;
  /** Everything that is wrong; empty when the run was exactly once. */
  problems: string[];
}

/** Reads the hub's database directly, on one connection. */
export interface ActivityReader {
  /** Counts of activities by status (one aggregation). */
  statusCounts(): Promise<Record<string, number>>;
  /** All activities (one query). */
  activities(): Promise<ActivityDoc[]>;
  /** Activities matching a MongoDB filter. */
  count(filter: Record<string, unknown>): Promise<number>;
  /** Activities `node` has a send in flight for: started (DISPATCHING) and not recorded. */
  held(node: string): Promise<{ activityId: string; attemptId?: string }[]>;
  /** Until the activities `ids` are all settled (SENT or FAILED); the time it took, in ms. */
  waitSettled(ids: string[], timeoutMs: number): Promise<number>;
  /**
   * Until every one of `count` activities is settled (SENT or FAILED). Rejects with the counts
   * when none settled for `stallMs`: a loaded machine is slow, a stalled hub makes no progress.
   */
  waitAllSettled(count: number, stallMs: number): Promise<void>;
  close(): Promise<void>;
}

/** Settled: SENT, or FAILED with no retry or fallback left to run (no next run). */
const SETTLED: ActivityDoc["status"][] = ["SENT", "FAILED"];
const settledFilter = { status: { $in: SETTLED }, nextRunAt: null };

export async function openActivityReader(mongoUrl: string): Promise<ActivityReader> {
  const store = await openStore(mongoUrl);
  const statusCounts = async () => {
    const rows = await store.models.Activity.aggregate<{ _id: string; n: number }>([
      { $group: { _id: "$status", n: { $sum: 1 } } },
    ]);
    return Object.fromEntries(rows.map((r) => [r._id, r.n]));
  };
  return {
    statusCounts,
    activities: () => store.models.Activity.find({}).lean<ActivityDoc[]>(),
    count: (filter) => store.models.Activity.countDocuments(filter),
    async held(node) {
      // A send in flight is a start record (an attempt reservation carrying the attempt, see
      // core/store/claims.ts) whose attempt is not in its activity yet.
      const starts = await store.conn
        .collection<{ _id: string; owner: string; attempt?: { id: string } }>("activity_claims")
        .find({ owner: node, attempt: { $exists: true } })
        .toArray();
      const at = (id: string) => {
        const m = /^(.*)#attempt-(\d+)\.\d+$/.exec(id);
        return m ? { activityId: m[1]!, index: Number(m[2]) } : undefined;
      };
      const keyed = starts.flatMap((s) => {
        const k = at(s._id);
        return k ? [{ ...k, attemptId: s.attempt!.id }] : [];
      });
      const docs = await store.models.Activity.find(
        { _id: { $in: keyed.map((k) => k.activityId) } },
        { attempts: 1 },
      ).lean<Pick<ActivityDoc, "_id" | "attempts">[]>();
      const recorded = new Map(docs.map((d) => [d._id, d.attempts.length]));
      return keyed
        .filter((k) => (recorded.get(k.activityId) ?? 0) <= k.index)
        .map((k) => ({ activityId: k.activityId, attemptId: k.attemptId }));
    },
    async waitSettled(ids, timeoutMs) {
      const started = Date.now();
      let settled = 0;
      while (Date.now() - started < timeoutMs) {
        settled = await store.models.Activity.countDocuments({ _id: { $in: ids }, ...settledFilter });
        if (settled === ids.length) return Date.now() - started;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`${settled} of ${ids.length} activities settled after ${timeoutMs} ms`);
    },
    async waitAllSettled(count, stallMs) {
      let counts: Record<string, number> = {};
      let lastSettled = -1;
      let progressAt = Date.now();
      while (Date.now() - progressAt < stallMs) {
        counts = await statusCounts();
        const settled = await store.models.Activity.countDocuments(settledFilter);
        if (settled === count) return;
        if (settled > lastSettled) {
          lastSettled = settled;
          progressAt = Date.now();
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error(`no activity settled for ${stallMs} ms, short of all ${count}: ${JSON.stringify(counts)}`);
    },
    close: () => store.close(),
  };
}

/** `killedNodes`: nodes that were killed; only attempts they started may be left OUTCOME_UNKNOWN. */
export function auditDeliveries(
  activities: ActivityDoc[],
  messages: ReceivedMail[],
  opts: { killedNodes?: string[] } = {},
): DeliveryAudit {
  const killed = new Set(opts.killedNodes ?? []);
  const isUnknown = (t: ActivityDoc["attempts"][number]) =>
    t.status === "FAILED" && t.reasonCode === "OUTCOME_UNKNOWN" && killed.has(t.node ?? "");
  const problems: string[] = [];
  const note = (p: string) => {
    if (problems.length < 30) problems.push(p);
    else if (problems.length === 30) problems.push("...");
  };
  const perNode: Record<string, number> = {};
  const byMessageId = new Map<string, { activity: ActivityDoc; node: string | undefined }>();

  for (const a of activities) {
    const last = a.attempts.at(-1);
    if (a.status !== "SENT" && !(last && isUnknown(last)))
      note(`${a._id}: status ${a.status} (${last?.reasonCode ?? "-"}), expected SENT`);
    if (a.attempts.length !== 1) {
      note(
        `${a._id}: ${a.attempts.length} attempts (${a.attempts.map((t) => `${t.id}:${t.status}`).join(", ")}), expected 1`,
      );
    }
    for (const t of a.attempts) {
      const node = t.node ?? "?";
      perNode[node] = (perNode[node] ?? 0) + 1;
      const expected = `<${t.id}@dialmesh>`;
      if (t.status === "SENT" && t.vendorId !== expected)
        note(`${a._id}: attempt ${t.id} vendorId ${t.vendorId}, expected ${expected}`);
      byMessageId.set(expected, { activity: a, node: t.node });
    }
  }

  const counts = new Map<string, number>();
  for (const m of messages) {
    const id = m.messageId ?? "(none)";
    counts.set(id, (counts.get(id) ?? 0) + 1);
    const owner = byMessageId.get(id);
    if (!owner) {
      note(`received Message-ID ${id} (to ${m.envelope.rcptTo.join(",")}) that no recorded attempt has`);
      continue;
    }
    const want = owner.activity.customer.email;
    if (m.envelope.rcptTo.length !== 1 || m.envelope.rcptTo[0] !== want) {
      note(
        `Message-ID ${id} went to ${m.envelope.rcptTo.join(",")}, its activity ${owner.activity._id} is for ${want}`,
      );
    }
  }
  const unknown: DeliveryAudit["unknown"] = [];
  for (const a of activities) {
    const last = a.attempts.at(-1);
    if (!last) continue;
    const received = counts.has(`<${last.id}@dialmesh>`);
    if (isUnknown(last)) unknown.push({ activityId: a._id, attemptId: last.id, node: last.node, received });
    else if (!received) note(`${a._id}: attempt ${last.id} was never received`);
  }

  const repeated: DeliveryAudit["repeated"] = [];
  for (const [messageId, count] of counts) {
    if (count < 2) continue;
    const owner = byMessageId.get(messageId);
    repeated.push({ messageId, count, node: owner?.node, activityId: owner?.activity._id ?? "?" });
    note(`Message-ID ${messageId} received ${count} times (attempt started by ${owner?.node ?? "?"})`);
  }

  return {
    activities: activities.length,
    receipts: messages.length,
    distinctMessageIds: counts.size,
    repeated,
    unknown,
    perNode,
    problems,
  };
}
