/**
 * What erasure leaves of a record that other records or counters still need: ids, dates,
 * statuses and reason codes stay; names, addresses, attributes, message content, vendor raw
 * results and free-text reasons (which quote addresses) go; the customer id becomes its keyed
 * hash (keyed-hash.ts), so a kept objection can still be found by it. Pure.
 */
import type { ActivityDoc, AttemptDoc, TimelineEventDoc } from "../store/models.ts";
import type { KeyedHash } from "./keyed-hash.ts";

/** The customer whose data is erased: the values no collection may hold afterwards. */
export interface ErasureSubject {
  customerId: string;
  /** Normalised (lower-case) emails. */
  emails: string[];
  /** E.164 numbers. */
  phones: string[];
}

export const addressesOf = (s: ErasureSubject): string[] => [...s.emails, ...s.phones];

function redactAttempt(a: AttemptDoc): AttemptDoc {
  const { address: _address, raw: _raw, reason: _reason, unstored: _unstored, ...kept } = a;
  return kept;
}

/** The `$set` that erases an activity's personal data and stops whatever it still had to do. */
export function redactedActivity(a: ActivityDoc, hash: KeyedHash): Partial<ActivityDoc> {
  return {
    customer: { id: hash(a.customer.id) },
    content: {},
    // The key a client chose often names the customer ("crm-42-renewal"); hashed, it stays unique.
    idempotencyKey: hash(a.idempotencyKey),
    requestHash: "erased",
    attempts: a.attempts.filter((t) => !t.unstored).map(redactAttempt),
    status: a.status === "SCHEDULED" || a.status === "DISPATCHING" ? "CANCELLED" : a.status,
    nextRunAt: null,
  };
}

/** Timeline fields that carry what the customer wrote or where they wrote from. */
export const TIMELINE_PERSONAL_FIELDS = [
  "text",
  "media",
  "address",
  "raw",
  "reason",
] as const satisfies readonly (keyof TimelineEventDoc)[];

/** Fields of a webhook event's `data` that are ids, codes or numbers, kept after erasure. */
const WEBHOOK_KEPT = new Set([
  "activityId",
  "conversationId",
  "campaignId",
  "attemptId",
  "channel",
  "pluginId",
  "vendorId",
  "status",
  "reasonCode",
  "talkSeconds",
]);

/**
 * The id an erased customer's conversation moves to: campaign and inbound conversation ids are
 * plain hashes of the customer id or the address (domain/ids.ts stableId), which trying every
 * phone number reverses; the keyed hash of the old id cannot be.
 */
export const erasedConversationId = (id: string, hash: KeyedHash): string => `cv_e${hash(id).slice(3, 27)}`;

/**
 * The body of a stored webhook delivery (kept for replay) without the customer's data; its
 * conversation id as `rekey` moved it.
 */
export function redactedWebhookBody(
  body: string,
  hash: KeyedHash,
  rekey: ReadonlyMap<string, string> = new Map(),
): string {
  let payload: { id?: unknown; event?: unknown; occurredAt?: unknown; data?: unknown };
  try {
    payload = JSON.parse(body) as typeof payload;
  } catch {
    payload = {};
  }
  const data = payload.data && typeof payload.data === "object" ? (payload.data as Record<string, unknown>) : {};
  const kept: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data)) if (WEBHOOK_KEPT.has(k)) kept[k] = v;
  if (typeof data.customerId === "string") kept.customerId = hash(data.customerId);
  if (typeof data.conversationId === "string")
    kept.conversationId = rekey.get(data.conversationId) ?? data.conversationId;
  return JSON.stringify({
    id: payload.id,
    event: payload.event,
    occurredAt: payload.occurredAt,
    data: { ...kept, erased: true },
  });
}

/** Whether a webhook body is one `redactedWebhookBody` wrote. */
export function isRedactedWebhookBody(body: string): boolean {
  try {
    const payload = JSON.parse(body) as { data?: { erased?: unknown } };
    return payload.data?.erased === true;
  } catch {
    return false;
  }
}

/** Whether a JSON text holds one of `values` as a whole string (quoted, so "42" is not in "420"). */
export function mentionsAny(json: string, values: readonly string[]): boolean {
  return values.some((v) => json.includes(JSON.stringify(v)));
}

/**
 * Whether a rejected import row is the subject's: a cell is their id or email, or its digits end
 * a phone number of theirs (files hold national forms: "212 555 0100" for +12125550100). A row
 * rejected for a bad id is only found by its other cells: best effort, by design of the file.
 */
export function rowMentions(cells: readonly string[], s: ErasureSubject): boolean {
  const phoneDigits = s.phones.map((p) => p.replace(/\D/g, ""));
  return cells.some((raw) => {
    const cell = raw.trim();
    if (!cell) return false;
    if (cell === s.customerId || s.emails.includes(cell.toLowerCase())) return true;
    const digits = cell.replace(/\D/g, "");
    return digits.length >= 7 && /^[\d\s()+.\-/]+$/.test(cell) && phoneDigits.some((p) => p.endsWith(digits));
  });
}
