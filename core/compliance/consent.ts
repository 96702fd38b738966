/**
 * Consent and objections (GDPR art. 6 and 21): what a customer agreed to, per channel and
 * purpose, and whether they objected to direct marketing. Records are a history: the latest
 * consent per (channel, purpose) is the one that counts; an objection is absolute and kept,
 * so no later consent lifts it. Pure: the store (core/store/consent.ts) supplies the records.
 */
import type { ValidationDetail } from "../validation/json-schema.ts";

/** The closed list of purposes; also the enum of `purpose` in schemas/activity.schema.json (a test keeps them equal). */
export const PURPOSES = ["marketing", "service", "transactional", "research"] as const;
export type Purpose = (typeof PURPOSES)[number];

export const isPurpose = (value: unknown): value is Purpose => PURPOSES.includes(value as Purpose);

export interface ConsentRecord {
  kind: "consent";
  channel: string;
  purpose: Purpose;
  granted: boolean;
  source: string;
  /** Free text or a URL: the form, the call recording, the signed paper. */
  evidence?: string;
  at: Date;
}

/** An objection to direct marketing: it blocks every `marketing` attempt on every channel. */
export interface ObjectionRecord {
  kind: "objection";
  purpose: "marketing";
  source: string;
  evidence?: string;
  at: Date;
}

export type CustomerConsentRecord = ConsentRecord | ObjectionRecord;

/** What an activity declares. */
export interface ConsentNeed {
  purpose?: Purpose;
  requiresConsent?: boolean;
}

export type ConsentBlock = { reasonCode: "NO_CONSENT" | "OBJECTION"; reason: string };

/** The latest consent per `<purpose>/<channel>`; records in storage order break ties of `at`. */
export function currentConsents(records: readonly CustomerConsentRecord[]): Map<string, ConsentRecord> {
  const current = new Map<string, ConsentRecord>();
  for (const r of records) {
    if (r.kind !== "consent") continue;
    const key = `${r.purpose}/${r.channel}`;
    const seen = current.get(key);
    if (!seen || seen.at.getTime() <= r.at.getTime()) current.set(key, r);
  }
  return current;
}

/**
 * Undefined when the attempt may go; otherwise why not. An objection blocks marketing whether
 * or not the activity asks for consent; an activity that requires consent without naming a
 * purpose is blocked (no consent can be for it).
 */
export function consentBlock(
  need: ConsentNeed,
  channel: string,
  records: readonly CustomerConsentRecord[],
): ConsentBlock | undefined {
  if (need.purpose === "marketing" && records.some((r) => r.kind === "objection"))
    return { reasonCode: "OBJECTION", reason: "OBJECTION:marketing" };
  if (!need.requiresConsent) return undefined;
  const key = `${need.purpose ?? "unspecified"}/${channel}`;
  const latest = currentConsents(records).get(key);
  if (!latest) return { reasonCode: "NO_CONSENT", reason: `NO_CONSENT:${key}` };
  return latest.granted ? undefined : { reasonCode: "NO_CONSENT", reason: `CONSENT_WITHDRAWN:${key}` };
}

const CHANNEL = /^[a-z][a-z0-9-]*$/;
const MAX_TEXT = 2000;

function text(body: Record<string, unknown>, key: string, required: boolean, details: ValidationDetail[]) {
  const value = body[key];
  if (value === undefined && !required) return undefined;
  if (typeof value !== "string" || !value.trim() || value.length > MAX_TEXT) {
    details.push({
      path: `/${key}`,
      message: `${required ? "is required: " : "must be "}a non-empty string of at most ${MAX_TEXT} characters`,
    });
    return undefined;
  }
  return value.trim();
}

function unknownFields(body: Record<string, unknown>, known: readonly string[], what: string): ValidationDetail[] {
  return Object.keys(body)
    .filter((k) => !known.includes(k))
    .map((k) => ({ path: `/${k}`, message: `is not a field of ${what} (${known.join(", ")})` }));
}

/** A consent as `POST /customers/:id/consents` sends it, or one detail per bad field. */
export function parseConsent(
  body: Record<string, unknown>,
  at: Date,
): { record: ConsentRecord } | { details: ValidationDetail[] } {
  const details = unknownFields(body, ["channel", "purpose", "granted", "source", "evidence"], "a consent");
  const { channel, purpose, granted } = body;
  if (typeof channel !== "string" || !CHANNEL.test(channel))
    details.push({ path: "/channel", message: 'is required: a channel name such as "email", "sms" or "voice"' });
  if (!isPurpose(purpose)) details.push({ path: "/purpose", message: `is required: one of ${PURPOSES.join(", ")}` });
  if (typeof granted !== "boolean")
    details.push({ path: "/granted", message: "is required: true (given) or false (withdrawn or refused)" });
  const source = text(body, "source", true, details);
  const evidence = text(body, "evidence", false, details);
  if (details.length) return { details };
  return {
    record: {
      kind: "consent",
      channel: channel as string,
      purpose: purpose as Purpose,
      granted: granted as boolean,
      source: source!,
      ...(evidence ? { evidence } : {}),
      at,
    },
  };
}

/** An objection as `POST /customers/:id/objections` sends it: only to direct marketing. */
export function parseObjection(
  body: Record<string, unknown>,
  at: Date,
): { record: ObjectionRecord } | { details: ValidationDetail[] } {
  const details = unknownFields(body, ["purpose", "source", "evidence"], "an objection");
  if (body.purpose !== "marketing")
    details.push({
      path: "/purpose",
      message: 'is required: "marketing" (an objection to direct marketing, GDPR art. 21)',
    });
  const source = text(body, "source", true, details);
  const evidence = text(body, "evidence", false, details);
  if (details.length) return { details };
  return {
    record: { kind: "objection", purpose: "marketing", source: source!, ...(evidence ? { evidence } : {}), at },
  };
}
