/**
 * Private to the five9 plugin: what Five9 says, in the hub's vocabulary. Pure, no I/O.
 *
 * - dispositions (Web Connector `disposition`) -> canonical call results;
 * - SOAP faults -> retryable or not;
 * - the record sent to a list (fields and their mapping, key = the attemptId);
 * - the Web Connector's fields;
 * - the domain's call counters -> whether an operation may run now.
 */
import { VOICE_OUTCOMES, type CanonicalEvent, type SendRequest, type VoiceOutcome } from "@dialmesh/sdk";

// ---------------------------------------------------------------------------------------------
// Dispositions

/** What a disposition may be mapped to (options.dispositionMap values). */
export const DISPOSITION_TARGETS = [...VOICE_OUTCOMES, "OPTED_OUT", "CALLBACK_REQUESTED", "BLOCKED"] as const;
export type DispositionTarget = (typeof DISPOSITION_TARGETS)[number];

export function isDispositionTarget(value: string): value is DispositionTarget {
  return (DISPOSITION_TARGETS as readonly string[]).includes(value);
}

/**
 * Five9's system dispositions (and the usual names of their custom equivalents), lower case.
 * Any other disposition was set by an agent who spoke to the customer (Sale, Not Interested,
 * ...): `unknownDisposition`, CONNECTED by default.
 */
export const FIVE9_DISPOSITIONS: Record<string, DispositionTarget> = {
  "no answer": "NO_ANSWER",
  busy: "BUSY",
  "answering machine": "ANSWERING_MACHINE",
  "left message": "ANSWERING_MACHINE",
  abandon: "ABANDONED",
  abandoned: "ABANDONED",
  fax: "FAX",
  "wrong number": "INVALID_NUMBER",
  "invalid number": "INVALID_NUMBER",
  "bad number": "INVALID_NUMBER",
  "operator intercept": "INVALID_NUMBER",
  "dial error": "NETWORK_ERROR",
  "do not call": "OPTED_OUT",
  "added to dnc": "OPTED_OUT",
  dnc: "OPTED_OUT",
  callback: "CALLBACK_REQUESTED",
  "call back": "CALLBACK_REQUESTED",
  "customer callback": "CALLBACK_REQUESTED",
  "transferred to 3rd party": "CONNECTED",
  sale: "CONNECTED",
  contacted: "CONNECTED",
};

/** The hub's event for a disposition, without vendorId/at (the caller adds them). */
export type DispositionResult =
  | { kind: "call-result"; outcome: VoiceOutcome; reasonCode?: string; reason: string }
  | { kind: "status"; status: "BLOCKED"; reasonCode: string; reason: string; optOut: boolean };

/** Normalises a disposition name for lookups: trimmed, lower case, single spaces. */
export function dispositionKey(name: string): string {
  return name.trim().replace(/\s+/g, " ").toLowerCase();
}

/**
 * The target of a disposition: the instance's own map first (custom dispositions, overrides),
 * then Five9's system dispositions, else `unknown`.
 */
export function dispositionTarget(
  name: string,
  custom: Readonly<Record<string, DispositionTarget>> = {},
  unknown: DispositionTarget = "CONNECTED",
): { target: DispositionTarget; known: boolean } {
  const key = dispositionKey(name);
  for (const [customName, target] of Object.entries(custom)) {
    if (dispositionKey(customName) === key) return { target, known: true };
  }
  const system = FIVE9_DISPOSITIONS[key];
  return system ? { target: system, known: true } : { target: unknown, known: false };
}

/**
 * CALLBACK_REQUESTED is a customer event, not a call outcome: the customer was reached
 * (CONNECTED) and asked to be called back (reasonCode). A Do Not Call disposition ends the
 * attempt BLOCKED and records an opt-out of the number; BLOCKED alone (a DNC scrub) does not.
 */
export function dispositionResult(name: string, target: DispositionTarget, known: boolean): DispositionResult {
  const reason = `Five9 disposition "${name}"${known ? "" : " (not in the disposition map)"}`;
  switch (target) {
    case "CALLBACK_REQUESTED":
      return { kind: "call-result", outcome: "CONNECTED", reasonCode: "CALLBACK_REQUESTED", reason };
    case "OPTED_OUT":
      return { kind: "status", status: "BLOCKED", reasonCode: "OPTED_OUT", reason, optOut: true };
    case "BLOCKED":
      return { kind: "status", status: "BLOCKED", reasonCode: "DNC", reason, optOut: false };
    default:
      return known
        ? { kind: "call-result", outcome: target, reason }
        : { kind: "call-result", outcome: target, reasonCode: "UNMAPPED_DISPOSITION", reason };
  }
}

// ---------------------------------------------------------------------------------------------
// The Web Connector's POST

/** The fields of a Web Connector request the plugin reads (aliases: Five9 variable names). */
export interface DispositionFields {
  key: string;
  disposition: string;
  activityId?: string;
  number?: string;
  callId?: string;
  listName?: string;
  campaignName?: string;
  talkSeconds?: number;
}

function first(fields: Readonly<Record<string, string>>, names: readonly string[]): string | undefined {
  for (const name of names) {
    const value = fields[name] ?? fields[name.toLowerCase()];
    if (value !== undefined && value.trim() !== "") return value.trim();
  }
  return undefined;
}

/**
 * Reads a Web Connector request's fields (query and form merged). The connector's parameters
 * are named by the administrator; the names of docs/plugins.md (five9) are read first, then
 * Five9's own variable names (`call.disposition_name`, `contact.<field>`, ...).
 */
export function readDispositionFields(
  fields: Readonly<Record<string, string>>,
  keyField: string,
  activityField: string,
): { ok: true; value: DispositionFields } | { ok: false; error: string } {
  const key = first(fields, [keyField, `contact.${keyField}`]);
  const disposition = first(fields, ["disposition", "disposition_name", "call.disposition_name", "call.disposition"]);
  const missing = [
    ...(key === undefined ? [`${keyField} (the record key the hub put in the list)`] : []),
    ...(disposition === undefined ? ["disposition (the disposition name)"] : []),
  ];
  if (key === undefined || disposition === undefined) {
    return { ok: false, error: `five9 web connector request: missing ${missing.join(" and ")}` };
  }
  const activityId = first(fields, [activityField, `contact.${activityField}`]);
  const number = first(fields, ["number1", "number", "call.number", "dnis"]);
  const callId = first(fields, ["call_id", "call.call_id", "session_id", "call.session_id"]);
  const listName = first(fields, ["list_name", "call.list_name"]);
  const campaignName = first(fields, ["campaign_name", "call.campaign_name"]);
  const length = first(fields, ["length", "call.length", "talk_time"]);
  const talkSeconds = length !== undefined ? parseSeconds(length) : undefined;
  return {
    ok: true,
    value: {
      key,
      disposition,
      ...(activityId !== undefined ? { activityId } : {}),
      ...(number !== undefined ? { number } : {}),
      ...(callId !== undefined ? { callId } : {}),
      ...(listName !== undefined ? { listName } : {}),
      ...(campaignName !== undefined ? { campaignName } : {}),
      ...(talkSeconds !== undefined ? { talkSeconds } : {}),
    },
  };
}

/** Seconds from `37` or `00:00:37` (Five9 reports durations either way); undefined if neither. */
export function parseSeconds(value: string): number | undefined {
  if (/^\d+$/.test(value)) return Number(value);
  const parts = /^(\d+):(\d{2}):(\d{2})$/.exec(value);
  if (!parts) return undefined;
  return Number(parts[1]) * 3600 + Number(parts[2]) * 60 + Number(parts[3]);
}

/**
 * The canonical events of one disposition. Five9's campaign owns its redials, so a result is
 * final for the hub (not retryable): the journey moves to its next step.
 */
export function dispositionEvents(
  fields: DispositionFields,
  custom: Readonly<Record<string, DispositionTarget>>,
  unknown: DispositionTarget,
  at: Date,
): CanonicalEvent[] {
  const { target, known } = dispositionTarget(fields.disposition, custom, unknown);
  const result = dispositionResult(fields.disposition, target, known);
  const where = [fields.listName && `list ${fields.listName}`, fields.callId && `call ${fields.callId}`]
    .filter(Boolean)
    .join(", ");
  const reason = where ? `${result.reason} (${where})` : result.reason;
  const base = {
    vendorId: fields.key,
    ...(fields.activityId !== undefined ? { activityId: fields.activityId } : {}),
    raw: fields.disposition,
    reason,
    retryable: false,
    at,
  };
  if (result.kind === "call-result") {
    return [
      {
        kind: "call-result",
        ...base,
        outcome: result.outcome,
        ...(result.reasonCode !== undefined ? { reasonCode: result.reasonCode } : {}),
        ...(fields.talkSeconds !== undefined && result.outcome === "CONNECTED"
          ? { talkSeconds: fields.talkSeconds }
          : {}),
      },
    ];
  }
  const events: CanonicalEvent[] = [{ kind: "status", ...base, status: result.status, reasonCode: result.reasonCode }];
  const address = fields.number !== undefined ? e164(fields.number) : undefined;
  if (result.optOut && address) {
    events.push({ kind: "opt-out", channel: "voice", address, reason, at });
  }
  return events;
}

/** Five9 reports North American numbers as 10 digits: back to E.164. */
export function e164(number: string): string | undefined {
  const digits = number.replace(/\D/g, "");
  if (number.trim().startsWith("+")) return digits.length >= 8 ? `+${digits}` : undefined;
  if (digits.length === 10) return `+1${digits}`;
  if (digits.length === 11 && digits.startsWith("1")) return `+${digits}`;
  return digits.length >= 8 ? `+${digits}` : undefined;
}

// ---------------------------------------------------------------------------------------------
// Faults

/** Faults after which the same request may succeed later. */
const RETRYABLE_FAULTS = new Set(["OperationsLimitExceeded", "ConcurrentModification", "ServiceUnavailable"]);

/** A fault's name from its detail element (`OperationsLimitExceededFault` -> `OperationsLimitExceeded`). */
export function faultName(detailElement: string | undefined): string | undefined {
  if (!detailElement) return undefined;
  const local = detailElement.includes(":") ? detailElement.slice(detailElement.indexOf(":") + 1) : detailElement;
  return local.endsWith("Fault") ? local.slice(0, -"Fault".length) : local;
}

export function isRetryableFault(name: string | undefined): boolean {
  return name !== undefined && RETRYABLE_FAULTS.has(name);
}

/** The PluginError code of a fault that fails the activity. */
export function faultCode(name: string | undefined): string {
  if (name === "ListNotFound") return "FIVE9_LIST_NOT_FOUND";
  if (name === undefined) return "FIVE9_FAULT";
  return `FIVE9_${name.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase()}`;
}

/** Backoff after the `attempt`-th retryable fault (0-based): base * 2^attempt, capped. */
export function backoffMs(attempt: number, baseMs: number, maxMs = 10_000): number {
  return Math.min(baseMs * 2 ** attempt, maxMs);
}

// ---------------------------------------------------------------------------------------------
// Records

/** Contact fields of the record, in column order; `key` marks the record key. */
export interface RecordLayout {
  fieldsMapping: { columnNumber: number; fieldName: string; key: boolean }[];
}

export function recordLayout(keyField: string, activityField: string): RecordLayout {
  const names = ["number1", "first_name", "last_name", keyField, activityField];
  return {
    fieldsMapping: names.map((fieldName, i) => ({ columnNumber: i + 1, fieldName, key: fieldName === keyField })),
  };
}

/**
 * The record of a send, in the layout's column order: number1 in national format for North
 * American numbers (Five9 lists take 10 digits with countryCode), the attemptId as the key.
 */
export function recordValues(request: SendRequest): string[] {
  const phone = request.customer.phone ?? "";
  return [
    five9Number(phone),
    request.customer.firstName ?? "",
    request.customer.lastName ?? "",
    request.attemptId,
    request.activityId,
  ];
}

/** +14155550101 -> 4155550101; other countries keep their full digits. */
export function five9Number(phone: string): string {
  const digits = phone.replace(/\D/g, "");
  return phone.startsWith("+1") && digits.length === 11 ? digits.slice(1) : digits;
}

// ---------------------------------------------------------------------------------------------
// Call counters

export interface CallCounter {
  operationType: string;
  limit: number;
  value: number;
  /** The counter's window, in seconds. */
  windowSeconds: number;
}

/**
 * Whether the domain's counters leave room for one more list import. Counters are per domain,
 * so they hold what every hub node (and every other client of the domain) did. Import counters
 * are recognised by name (Five9's operation types name imports and records); a full one
 * blocks until its window may have moved on: the answer is the wait in ms, 0 for "go".
 */
export function importWaitMs(counters: readonly CallCounter[], op: "single" | "async"): number {
  const relevant = counters.filter((c) => {
    const name = c.operationType.toLowerCase();
    if (!/import|record|list/.test(name)) return false;
    const isAsync = /async|multi|bulk/.test(name);
    return op === "async" ? isAsync : !isAsync;
  });
  const full = relevant.filter((c) => c.limit > 0 && c.value >= c.limit);
  if (full.length === 0) return 0;
  return Math.max(...full.map((c) => Math.min(c.windowSeconds, 60) * 1000));
}
