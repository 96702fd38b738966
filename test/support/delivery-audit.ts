/**
 * Checks that what an SMTP server received matches what the hub recorded: every activity SENT
 * with exactly one attempt, one Message-ID per attempt (`<attemptId@dialmesh>`), each received
 * at the activity's own address, and no message received twice unless it is the resend of an
 * attempt interrupted by a node that died (same attempt, same Message-ID).
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
  /**
   * Activities `node` holds a lease on: claimed and not yet started, or with a send in flight
   * (then `attemptId` is its DISPATCHING attempt).
   */
  held(node: string): Promise<{ activityId: string; attemptId?: string }[]>;
  /** Until the activities `ids` are all SENT; the time it took, in ms. */
  waitSent(ids: string[], timeoutMs: number): Promise<number>;
  /**
   * Until every one of `count` activities is SENT. Rejects with the counts when no activity became
   * SENT for `stallMs`: a loaded machine is slow, a stalled hub makes no progress.
   */
  waitAllSent(count: number, stallMs: number): Promise<void>;
  close(): Promise<void>;
}

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
      const docs = await store.models.Activity.find({ leaseOwner: node }, { attempts: 1 }).lean<
        Pick<ActivityDoc, "_id" | "attempts">[]
      >();
      return docs.map((d) => {
        const last = d.attempts.at(-1);
        return last && last.node === node && last.status === "DISPATCHING"
          ? { activityId: d._id, attemptId: last.id }
          : { activityId: d._id };
      });
    },
    async waitSent(ids, timeoutMs) {
      const started = Date.now();
      let sent = 0;
      while (Date.now() - started < timeoutMs) {
        sent = await store.models.Activity.countDocuments({ _id: { $in: ids }, status: "SENT" });
        if (sent === ids.length) return Date.now() - started;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`${sent} of ${ids.length} activities SENT after ${timeoutMs} ms`);
    },
    async waitAllSent(count, stallMs) {
      let counts: Record<string, number> = {};
      let lastSent = -1;
      let progressAt = Date.now();
      while (Date.now() - progressAt < stallMs) {
        counts = await statusCounts();
        if (counts.SENT === count) return;
        if ((counts.SENT ?? 0) > lastSent) {
          lastSent = counts.SENT ?? 0;
          progressAt = Date.now();
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error(`no activity became SENT for ${stallMs} ms, short of all ${count}: ${JSON.stringify(counts)}`);
    },
    close: () => store.close(),
  };
}

/**
 * `resendableNodes`: nodes that were killed; only attempts they started may be received twice
 * (their resend), and never more than twice.
 */
export function auditDeliveries(
  activities: ActivityDoc[],
  messages: ReceivedMail[],
  opts: { resendableNodes?: string[] } = {},
): DeliveryAudit {
  const problems: string[] = [];
  const note = (p: string) => {
    if (problems.length < 30) problems.push(p);
    else if (problems.length === 30) problems.push("...");
  };
  const perNode: Record<string, number> = {};
  const byMessageId = new Map<string, { activity: ActivityDoc; node: string | undefined }>();

  for (const a of activities) {
    if (a.status !== "SENT") note(`${a._id}: status ${a.status}, expected SENT`);
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
  for (const a of activities) {
    const last = a.attempts.at(-1);
    if (last && !counts.has(`<${last.id}@dialmesh>`)) note(`${a._id}: attempt ${last.id} was never received`);
  }

  const resendable = new Set(opts.resendableNodes ?? []);
  const repeated: DeliveryAudit["repeated"] = [];
  for (const [messageId, count] of counts) {
    if (count < 2) continue;
    const owner = byMessageId.get(messageId);
    repeated.push({ messageId, count, node: owner?.node, activityId: owner?.activity._id ?? "?" });
    if (count > 2) note(`Message-ID ${messageId} received ${count} times`);
    else if (!owner?.node || !resendable.has(owner.node)) {
      note(
        `Message-ID ${messageId} received twice, but its attempt was started by ${owner?.node ?? "?"}, a node that did not die`,
      );
    }
  }

  return {
    activities: activities.length,
    receipts: messages.length,
    distinctMessageIds: counts.size,
    repeated,
    perNode,
    problems,
  };
}
