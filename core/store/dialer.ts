/**
 * The dialer's collections: campaigns, contacts and agents, and the unique inserts that make its
 * decisions exactly-once across nodes (FerretDB has no compare-and-swap; see claims.ts):
 * - `campaign:<id>:<term>`: the node that inserts term k runs the campaign's pulse until its
 *   lease on the campaign passes; another node may only try k+1 after that.
 * - `dial:<contactId>:<generation>`: a contact is dialled once per generation (a generation
 *   ends only when the contact goes back to pending without a call, e.g. a gateway down).
 * - `seize:<agentId>:<generation>`: an agent is seized by one campaign at a time.
 */
import type { Collection, Connection } from "mongoose";
import type { KeyedHash } from "../privacy/keyed-hash.ts";
import type { AgentPresence, AgentRecord } from "../dialer/agents.ts";
import type { CampaignState, DialerCampaignSpec } from "../dialer/campaign.ts";
import { CONTROL_TRANSITIONS, type ContactStatus, type DialerContact } from "../dialer/contacts.ts";
import { DialerQueue, queueKey } from "./dialer-queue.ts";
import { ORPHAN_GRACE_MS } from "./due-index.ts";
import { NumberHistory, type NumberHistoryView } from "./number-history.ts";
import { isDuplicateKey } from "./write-errors.ts";

export interface DialerCampaignDoc {
  _id: string;
  spec: DialerCampaignSpec;
  state: CampaignState;
  createdAt: Date;
  updatedAt: Date;
  ownerNode?: string | null;
  ownerTerm: number;
  ownerUntil?: Date | null;
}

/** Inbound work waiting in a queue, as the inbound side reports it (call blending). */
export interface QueueInboundDoc {
  _id: string;
  waiting: number;
  /** Inbound calls waiting from which outbound gives agents back. */
  seizeThreshold: number;
  updatedAt: Date;
}

interface ClaimDoc {
  _id: string;
  owner: string;
  createdAt: Date;
}

export type StoredContact = DialerContact & { dialGeneration: number };

/**
 * A contact as its end needs it: its number (an abandoned call goes into the number's history)
 * and, while it may still be queued, its queue entry's parts.
 */
export type ContactRef = Pick<DialerContact, "_id" | "phone"> &
  Partial<Pick<DialerContact, "campaignId" | "earliestAt">>;

/** Rounds of queue reads per pulse when entries turn out stale. */
const DUE_READ_ROUNDS = 4;

export class DialerStore {
  private readonly campaigns: Collection<DialerCampaignDoc>;
  private readonly contacts: Collection<StoredContact>;
  private readonly agents: Collection<AgentRecord>;
  private readonly claims: Collection<ClaimDoc>;
  private readonly queues: Collection<QueueInboundDoc>;
  private readonly queue: DialerQueue;
  private readonly history: NumberHistory;

  /** `hash`: the keyed hash numbers are kept under in their dial history. */
  constructor(conn: Connection, hash: KeyedHash) {
    this.queue = new DialerQueue(conn);
    this.history = new NumberHistory(conn, hash);
    this.campaigns = conn.collection<DialerCampaignDoc>("dialer_campaigns");
    this.contacts = conn.collection<StoredContact>("dialer_contacts");
    this.agents = conn.collection<AgentRecord>("dialer_agents");
    this.claims = conn.collection<ClaimDoc>("dialer_claims");
    this.queues = conn.collection<QueueInboundDoc>("dialer_queues");
  }

  /** Indexes for MongoDB, and the queue and number history of a store written before they existed. */
  async ensureIndexes(): Promise<void> {
    await this.contacts.createIndex({ campaignId: 1, status: 1 });
    await this.agents.createIndex({ queues: 1 });
    await this.queue.backfillOnce(() =>
      this.contacts.find({ status: "pending" }, { projection: { campaignId: 1, earliestAt: 1 } }),
    );
    await this.history.backfillOnce(() =>
      this.contacts.find(
        { dialedAt: { $ne: null } },
        { projection: { phone: 1, dialedAt: 1, outcome: 1, endedAt: 1 } },
      ),
    );
  }

  /** Writes what is buffered (queue entries to drop); for an orderly stop. */
  async flush(): Promise<void> {
    this.queue.stop();
    await this.queue.flush();
  }

  /** True for exactly one caller per id. */
  private async claim(id: string, owner: string, now: Date): Promise<boolean> {
    try {
      await this.claims.insertOne({ _id: id, owner, createdAt: now });
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  // --- campaigns -----------------------------------------------------------------------------

  async putCampaign(
    id: string,
    spec: DialerCampaignSpec,
    now: Date,
  ): Promise<{ created: boolean; doc: DialerCampaignDoc }> {
    const res = await this.campaigns.findOneAndUpdate(
      { _id: id },
      { $set: { spec, updatedAt: now }, $setOnInsert: { state: "stopped", ownerTerm: 0, createdAt: now } },
      { upsert: true, returnDocument: "after", includeResultMetadata: true },
    );
    return { created: !res.lastErrorObject?.updatedExisting, doc: res.value! };
  }

  getCampaign(id: string): Promise<DialerCampaignDoc | null> {
    return this.campaigns.findOne({ _id: id });
  }

  listCampaigns(): Promise<DialerCampaignDoc[]> {
    return this.campaigns.find({}).sort({ _id: 1 }).toArray();
  }

  runningCampaigns(): Promise<DialerCampaignDoc[]> {
    return this.campaigns.find({ state: "running" }).toArray();
  }

  /**
   * Start or stop: the campaign's state and its contacts (stopped -> pending, pending -> stopped).
   * The state is written last, so a failure half-way leaves the campaign as it was and a retry
   * completes it.
   */
  async control(id: string, action: keyof typeof CONTROL_TRANSITIONS, now: Date): Promise<number> {
    const { from, to } = CONTROL_TRANSITIONS[action];
    // Stopped contacts go back into the queue before they are pending; a stop leaves the
    // entries, which are dropped as they are read.
    if (action === "start")
      await this.queue.add(
        await this.contacts
          .find({ campaignId: id, status: from }, { projection: { campaignId: 1, earliestAt: 1 } })
          .toArray(),
      );
    const res = await this.contacts.updateMany({ campaignId: id, status: from }, { $set: { status: to } });
    await this.campaigns.updateOne(
      { _id: id },
      { $set: { state: action === "start" ? "running" : "stopped", updatedAt: now } },
    );
    return res.modifiedCount;
  }

  /** Removes the campaign's pending (and stopped) contacts; returns them. */
  async purge(id: string): Promise<StoredContact[]> {
    const doomed = await this.contacts.find({ campaignId: id, status: { $in: ["pending", "stopped"] } }).toArray();
    if (doomed.length > 0)
      await this.contacts.deleteMany({
        _id: { $in: doomed.map((c) => c._id) },
        status: { $in: ["pending", "stopped"] },
      });
    this.queue.drop(doomed.map(queueKey));
    return doomed;
  }

  async contactCounts(id: string): Promise<Record<ContactStatus, number>> {
    const rows = await this.contacts
      .aggregate<{ _id: ContactStatus; n: number }>([
        { $match: { campaignId: id } },
        { $group: { _id: "$status", n: { $sum: 1 } } },
      ])
      .toArray();
    const counts: Record<ContactStatus, number> = {
      pending: 0,
      agent_pending: 0,
      dialed: 0,
      ended: 0,
      stopped: 0,
      failed: 0,
    };
    for (const r of rows) counts[r._id] = r.n;
    return counts;
  }

  /**
   * Tries to take term `term + 1` of the campaign (its current term is `term`, whose lease has
   * passed or was never taken). The winner writes its lease.
   */
  async acquireTerm(id: string, term: number, node: string, now: Date, leaseMs: number): Promise<boolean> {
    if (!(await this.claim(`campaign:${id}:${term + 1}`, node, now))) return false;
    await this.campaigns.updateOne(
      { _id: id },
      { $set: { ownerNode: node, ownerTerm: term + 1, ownerUntil: new Date(now.getTime() + leaseMs) } },
    );
    return true;
  }

  /** Renews the holder's lease; false when the term is no longer this node's. */
  async renewTerm(id: string, term: number, node: string, until: Date): Promise<boolean> {
    const res = await this.campaigns.updateOne(
      { _id: id, ownerTerm: term, ownerNode: node },
      { $set: { ownerUntil: until } },
    );
    return res.matchedCount === 1;
  }

  async releaseTerm(id: string, term: number, node: string): Promise<void> {
    await this.campaigns.updateOne({ _id: id, ownerTerm: term, ownerNode: node }, { $set: { ownerUntil: null } });
  }

  // --- contacts ------------------------------------------------------------------------------

  /** Stores a contact; false when it was already there (a repeated hand-over of the attempt). */
  async enqueue(contact: DialerContact): Promise<boolean> {
    if (contact.status === "pending") await this.queue.add([contact]);
    try {
      await this.contacts.insertOne({ ...contact, dialGeneration: 0 });
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  getContact(id: string): Promise<StoredContact | null> {
    return this.contacts.findOne({ _id: id });
  }

  /**
   * Up to `limit` pending contacts due at `now`, in dialling order (FIFO or LIFO by earliest dial
   * time), read through the queue. Entries that no longer match their contact are dropped; one
   * whose contact is not stored yet is an enqueue in progress, kept for a while.
   */
  async dueContacts(campaignId: string, now: Date, limit: number, order: "FIFO" | "LIFO"): Promise<StoredContact[]> {
    const found: StoredContact[] = [];
    let after: string | undefined;
    for (let round = 0; round < DUE_READ_ROUNDS && found.length < limit; round++) {
      const want = limit - found.length;
      const entries = await this.queue.due(campaignId, now, want, order, after);
      if (entries.length === 0) break;
      after = entries[entries.length - 1]!.key;
      const live = entries.filter((e) => !this.queue.dropping(e.key));
      const stored = live.length
        ? await this.contacts.find({ _id: { $in: live.map((e) => e.contactId) } }).toArray()
        : [];
      const byId = new Map(stored.map((c) => [c._id, c]));
      const stale: string[] = [];
      for (const e of live) {
        const c = byId.get(e.contactId);
        if (c && c.status === "pending" && queueKey(c) === e.key) found.push(c);
        else if (c || now.getTime() - e.writtenAt.getTime() > ORPHAN_GRACE_MS) stale.push(e.key);
      }
      this.queue.drop(stale);
      if (entries.length < want) break;
    }
    return found;
  }

  /**
   * What the rules need of a number's history: when it was dialled before (any campaign: the
   * regulators' limits are per number), and when a call to it was last abandoned.
   */
  numberHistory(phone: string, since: Date): Promise<NumberHistoryView> {
    return this.history.since(phone, since);
  }

  /** The right to dial this contact's current generation: true for exactly one caller. */
  claimDial(contact: StoredContact, node: string, now: Date): Promise<boolean> {
    return this.claim(`dial:${contact._id}:${contact.dialGeneration}`, node, now);
  }

  /**
   * A dial claim whose holder never marked the contact dialled: it died between the claim and
   * that write, before any originate (which comes after it). Once the claim is older than
   * `staleBefore`, the contact moves to its next generation and can be dialled again.
   */
  async retireStaleDialClaim(contact: StoredContact, staleBefore: Date): Promise<boolean> {
    const claim = await this.claims.findOne({ _id: `dial:${contact._id}:${contact.dialGeneration}` });
    if (!claim || claim.createdAt >= staleBefore) return false;
    const res = await this.contacts.updateOne(
      { _id: contact._id, status: "pending", dialGeneration: contact.dialGeneration },
      { $inc: { dialGeneration: 1 } },
    );
    return res.modifiedCount === 1;
  }

  /** Before the originate: the dial goes into the number's history and the contact out of the queue. */
  async markDialing(
    contact: StoredContact,
    set: { callId: string; node: string; term: number; agentId?: string },
    now: Date,
  ): Promise<void> {
    await Promise.all([
      this.history.record(contact.phone, now, "dialed", contact._id),
      this.contacts.updateOne({ _id: contact._id }, { $set: { status: "dialed", dialedAt: now, ...set } }),
    ]);
    this.queue.drop([queueKey(contact)]);
  }

  /** Preview: reserves the contact for an agent (agent_pending) and records the offer on both. */
  async offer(contact: StoredContact, agentId: string, term: number, node: string, now: Date): Promise<void> {
    await this.contacts.updateOne(
      { _id: contact._id, status: "pending" },
      { $set: { status: "agent_pending", agentId, offeredAt: now, previewChoice: null, term, node } },
    );
    this.queue.drop([queueKey(contact)]);
    await this.agents.updateOne({ _id: agentId }, { $set: { previewContactId: contact._id } });
  }

  /** Preview: the agent's choice, from the API (any node); the pacing node acts on it. */
  async choose(agentId: string, contactId: string, choice: "dial" | "skip"): Promise<boolean> {
    const res = await this.contacts.updateOne(
      { _id: contactId, agentId, status: "agent_pending" },
      { $set: { previewChoice: choice } },
    );
    return res.matchedCount === 1;
  }

  /** The contacts offered to agents of a campaign, not dialled yet. */
  offered(campaignId: string): Promise<StoredContact[]> {
    return this.contacts.find({ campaignId, status: "agent_pending" }).toArray();
  }

  /** A skipped offer: back to the end of the pending queue; the agent counts one more skip. */
  async skip(contact: StoredContact, now: Date): Promise<void> {
    await this.queue.add([{ ...contact, earliestAt: now }]);
    await this.contacts.updateOne(
      { _id: contact._id, status: "agent_pending" },
      {
        $set: {
          status: "pending",
          agentId: null,
          offeredAt: null,
          previewChoice: null,
          receivedAt: now,
          earliestAt: now,
        },
      },
    );
    if (contact.agentId)
      await this.agents.updateOne(
        { _id: contact.agentId },
        { $set: { previewContactId: null }, $inc: { skipsUsed: 1 } },
      );
  }

  /** The offer became a call: the agent's preview ends and its skips start over. */
  async endOffer(agentId: string): Promise<void> {
    await this.agents.updateOne({ _id: agentId }, { $set: { previewContactId: null, skipsUsed: 0 } });
  }

  async finish(
    contact: ContactRef,
    status: "ended" | "failed",
    set: Pick<DialerContact, "outcome" | "resultDescription"> & { agentId?: string | null },
    now: Date,
  ): Promise<void> {
    await Promise.all([
      set.outcome === "ABANDONED" ? this.history.record(contact.phone, now, "abandoned", contact._id) : undefined,
      this.contacts.updateOne({ _id: contact._id }, { $set: { status, endedAt: now, ...set } }),
    ]);
    if (contact.campaignId && contact.earliestAt)
      this.queue.drop([queueKey({ _id: contact._id, campaignId: contact.campaignId, earliestAt: contact.earliestAt })]);
  }

  /** Back to pending without a call (gateway down): a new dial generation, queued again at `retryAt`. */
  async backToPending(contact: StoredContact, retryAt: Date): Promise<void> {
    await this.queue.add([{ ...contact, earliestAt: retryAt }]);
    await this.contacts.updateOne(
      { _id: contact._id },
      {
        $set: { status: "pending", earliestAt: retryAt, callId: null, node: null, agentId: null },
        $inc: { dialGeneration: 1 },
      },
    );
    const old = queueKey(contact);
    if (old !== queueKey({ ...contact, earliestAt: retryAt })) this.queue.drop([old]);
  }

  /** Contacts an earlier term dialled and never finished (its node died): never dialled again. */
  orphans(campaignId: string, term: number): Promise<StoredContact[]> {
    return this.contacts.find({ campaignId, status: "dialed", term: { $lt: term } }).toArray();
  }

  /** Offers an earlier term made and never dialled: back to pending (nothing was dialled). */
  async returnOrphanOffers(campaignId: string, term: number): Promise<void> {
    const offers = await this.contacts.find({ campaignId, status: "agent_pending", term: { $lt: term } }).toArray();
    await this.queue.add(offers);
    for (const c of offers) {
      await this.contacts.updateOne(
        { _id: c._id, status: "agent_pending" },
        { $set: { status: "pending", agentId: null, offeredAt: null, previewChoice: null } },
      );
      if (c.agentId)
        await this.agents.updateOne({ _id: c.agentId, previewContactId: c._id }, { $set: { previewContactId: null } });
    }
  }

  // --- queues (inbound blending) -------------------------------------------------------------

  async setInbound(queue: string, waiting: number, seizeThreshold: number, now: Date): Promise<QueueInboundDoc> {
    const doc = { _id: queue, waiting, seizeThreshold, updatedAt: now };
    await this.queues.replaceOne({ _id: queue }, doc, { upsert: true });
    return doc;
  }

  inbound(queues: string[]): Promise<QueueInboundDoc[]> {
    return this.queues.find({ _id: { $in: queues } }).toArray();
  }

  // --- agents --------------------------------------------------------------------------------

  async putAgent(id: string, endpoint: string, queues: string[], now: Date): Promise<{ created: boolean }> {
    const res = await this.agents.updateOne(
      { _id: id },
      { $set: { endpoint, queues, updatedAt: now }, $setOnInsert: { presence: "LOGGED_OUT", seizeGeneration: 0 } },
      { upsert: true },
    );
    return { created: res.upsertedCount === 1 };
  }

  getAgent(id: string): Promise<AgentRecord | null> {
    return this.agents.findOne({ _id: id });
  }

  listAgents(): Promise<AgentRecord[]> {
    return this.agents.find({}).sort({ _id: 1 }).toArray();
  }

  agentsOfQueues(queues: string[]): Promise<AgentRecord[]> {
    return this.agents.find({ queues: { $in: queues } }).toArray();
  }

  async setPresence(id: string, presence: AgentPresence, now: Date): Promise<boolean> {
    const set: Partial<AgentRecord> = { presence, updatedAt: now };
    // An agent that says it is available again ends its wrap-up early.
    if (presence === "AVAILABLE") set.wrapUntil = null;
    const res = await this.agents.updateOne({ _id: id }, { $set: set });
    return res.matchedCount === 1;
  }

  /** Seizes an agent for a campaign: true for exactly one campaign per generation. */
  async seize(agent: AgentRecord, campaignId: string, node: string, now: Date): Promise<boolean> {
    const generation = (agent.seizeGeneration ?? 0) + 1;
    if (!(await this.claim(`seize:${agent._id}:${generation}`, node, now))) return false;
    await this.agents.updateOne({ _id: agent._id }, { $set: { seizedBy: campaignId, seizeGeneration: generation } });
    return true;
  }

  async release(agentId: string, campaignId: string): Promise<void> {
    await this.agents.updateOne({ _id: agentId, seizedBy: campaignId }, { $set: { seizedBy: null } });
  }

  async agentOnCall(agentId: string, callId: string | null, wrapUntil?: Date): Promise<void> {
    await this.agents.updateOne({ _id: agentId }, { $set: { callId, ...(wrapUntil ? { wrapUntil } : {}) } });
  }
}
