/**
 * Do-not-contact lists: parsing their entries (E.164 numbers, emails, number prefixes such as
 * `+1415555*`), matching an address against the lists an activity names, and list freshness
 * (the US national DNC rule: a list scrubbed more than 31 days ago may not be relied on).
 * Pure: the store (core/store/dnc.ts) supplies the lists and which exact entries exist.
 */
import { normalizeEmail, normalizePhone } from "@dialmesh/sdk";
import type { CountryCode } from "libphonenumber-js";
import type { ValidationDetail } from "../validation/json-schema.ts";

/** One entry as stored: `value` normalised; a prefix keeps its digits without the `*`. */
export interface DncEntry {
  value: string;
  prefix: boolean;
}

/** What matching needs of a list. */
export interface DncListState {
  id: string;
  /** Null while the list has never been loaded. */
  lastRefreshedAt: Date | null;
  /** The list's prefix entries (digits with their `+`). */
  prefixes: readonly string[];
}

/** A list that blocks an attempt: the address is on it, or it is too old where that is not allowed. */
export type DncBlock = { reasonCode: "DNC"; reason: string; list: string };

export interface DncVerdict {
  block?: DncBlock;
  /** Stale lists that did not block (no jurisdiction of the address requires a fresh one). */
  warnings: string[];
}

/** A prefix: `+`, a first digit 1-9, then up to 13 more digits, then `*`. */
const PREFIX = /^\+[1-9]\d{0,13}\*$/;

/** The list's default freshness limit when no jurisdiction sets one (the US national DNC rule). */
export const DEFAULT_DNC_MAX_AGE_DAYS = 31;

const DAY_MS = 86_400_000;

/**
 * An entry as stored, or why `raw` is not one. A national number needs `defaultRegion` (as a
 * customer's phone does); a prefix is always international.
 */
export function parseDncEntry(raw: unknown, defaultRegion?: CountryCode): DncEntry | { error: string } {
  if (typeof raw !== "string" || !raw.trim())
    return { error: "must be a phone number (+14155550123), an email address or a number prefix (+1415555*)" };
  const text = raw.trim();
  if (text.endsWith("*")) {
    const compact = text.replace(/[\s().-]/g, "");
    return PREFIX.test(compact)
      ? { value: compact.slice(0, -1), prefix: true }
      : { error: `"${raw}" is not a number prefix: expected "+" and 1 to 14 digits, then "*" (e.g. +1415555*)` };
  }
  if (text.includes("@")) {
    const email = normalizeEmail(text);
    return email ? { value: email, prefix: false } : { error: `"${raw}" is not an email address` };
  }
  const phone = normalizePhone(text, defaultRegion);
  if (phone) return { value: phone, prefix: false };
  return {
    error: defaultRegion
      ? `"${raw}" is not a phone number of ${defaultRegion} nor one in international form (e.g. +14155550123)`
      : `"${raw}" is not a phone number in international form (e.g. +14155550123)`,
  };
}

/** All entries of a request, or one detail per bad entry (`/entries/<index>`): all or nothing. */
export function parseDncEntries(raw: unknown): { entries: DncEntry[] } | { details: ValidationDetail[] } {
  if (!Array.isArray(raw) || raw.length === 0)
    return { details: [{ path: "/entries", message: "must be a non-empty array of numbers, emails or prefixes" }] };
  const entries: DncEntry[] = [];
  const details: ValidationDetail[] = [];
  raw.forEach((item, i) => {
    const parsed = parseDncEntry(item);
    if ("error" in parsed) details.push({ path: `/entries/${i}`, message: parsed.error });
    else entries.push(parsed);
  });
  return details.length ? { details } : { entries };
}

/** How an entry is written in the API and in its key (`+1415555*` for a prefix). */
export const entryText = (e: DncEntry): string => (e.prefix ? `${e.value}*` : e.value);

/** The stored entry's `_id`: unique per list, so adding an entry twice stores it once. */
export const entryKey = (list: string, e: DncEntry): string => `${list}:${entryText(e)}`;

/** The exact-entry keys to look up for `addresses` on `lists` (see firstListing). */
export function listingKeys(lists: readonly DncListState[], addresses: readonly string[]): string[] {
  return lists.flatMap((l) => addresses.map((a) => entryKey(l.id, { value: a, prefix: false })));
}

/**
 * The first of `lists` (in order) that has one of `addresses`, exactly (`exact` holds the
 * keys of listingKeys that exist) or by a prefix of a number, with the address; or undefined.
 * Freshness is not judged here: a scrub reports what the lists hold.
 */
export function firstListing(
  lists: readonly DncListState[],
  addresses: readonly string[],
  exact: ReadonlySet<string>,
): { list: string; address: string } | undefined {
  for (const list of lists) {
    const [address] = listedAddresses(list, addresses, exact);
    if (address !== undefined) return { list: list.id, address };
  }
  return undefined;
}

/** Those of `addresses` that `list` has, exactly (`exact`, keys of listingKeys) or by a prefix. */
export function listedAddresses(
  list: DncListState,
  addresses: readonly string[],
  exact: ReadonlySet<string>,
): string[] {
  return addresses.filter(
    (a) =>
      exact.has(entryKey(list.id, { value: a, prefix: false })) ||
      (a.startsWith("+") && list.prefixes.some((p) => a.startsWith(p))),
  );
}

/** Age of the list's last refresh in whole days, or null when it was never loaded. */
export function listAgeDays(list: Pick<DncListState, "lastRefreshedAt">, now: Date): number | null {
  return list.lastRefreshedAt ? Math.floor((now.getTime() - list.lastRefreshedAt.getTime()) / DAY_MS) : null;
}

/** Older than `maxAgeDays` (or never loaded). */
export function isStale(list: Pick<DncListState, "lastRefreshedAt">, now: Date, maxAgeDays: number): boolean {
  return !list.lastRefreshedAt || now.getTime() - list.lastRefreshedAt.getTime() > maxAgeDays * DAY_MS;
}

export function staleWarning(list: Pick<DncListState, "id" | "lastRefreshedAt">, maxAgeDays: number): string {
  return list.lastRefreshedAt
    ? `DNC list ${list.id} was last refreshed ${list.lastRefreshedAt.toISOString()}, more than ${maxAgeDays} days ago`
    : `DNC list ${list.id} has never been loaded`;
}

/**
 * The first of `lists` (in the activity's order) that blocks `address`: it has the address
 * (`exact` holds the lists with an exact entry for it) or a prefix of it, or it is stale
 * while `requiredMaxAgeDays` (the strictest limit of the address's jurisdictions) is set.
 * Stale lists that do not block are warnings.
 */
export function dncVerdict(
  address: string,
  lists: readonly DncListState[],
  exact: ReadonlySet<string>,
  now: Date,
  requiredMaxAgeDays: number | undefined,
): DncVerdict {
  const warnings: string[] = [];
  for (const list of lists) {
    const listed = exact.has(list.id) || (address.startsWith("+") && list.prefixes.some((p) => address.startsWith(p)));
    if (listed) return { block: { reasonCode: "DNC", reason: `DNC:${list.id}`, list: list.id }, warnings };
    const maxAge = requiredMaxAgeDays ?? DEFAULT_DNC_MAX_AGE_DAYS;
    if (!isStale(list, now, maxAge)) continue;
    if (requiredMaxAgeDays === undefined) {
      warnings.push(staleWarning(list, maxAge));
      continue;
    }
    return {
      block: {
        reasonCode: "DNC",
        reason: `DNC:${list.id} is stale: ${staleWarning(list, maxAge)}, and the called party's jurisdiction requires a fresher list`,
        list: list.id,
      },
      warnings,
    };
  }
  return { warnings };
}

/** The strictest `dncMaxAgeDays` of the jurisdictions that apply, or undefined when none sets one. */
export function requiredDncMaxAge(jurisdictions: readonly { dncMaxAgeDays?: number }[]): number | undefined {
  const limits = jurisdictions.flatMap((j) => (j.dncMaxAgeDays !== undefined ? [j.dncMaxAgeDays] : []));
  return limits.length ? Math.min(...limits) : undefined;
}

/** The list ids an activity names that do not exist, as details at `<at>/dncLists/<index>`. */
export function unknownListDetails(
  named: readonly string[],
  known: ReadonlySet<string>,
  at: string,
): ValidationDetail[] {
  return named.flatMap((id, i) =>
    known.has(id)
      ? []
      : [{ path: `${at}/dncLists/${i}`, message: `"${id}" is not a DNC list (PUT /api/v1/dnc-lists/${id} first)` }],
  );
}

/**
 * Whether a warning is logged now: the first time, then once per `intervalMs` (every attempt
 * or dial checks against the same stale list; one line a minute says it as well as thousands).
 */
export class WarningThrottle {
  private readonly last = new Map<string, number>();
  private readonly intervalMs: number;

  constructor(intervalMs: number) {
    this.intervalMs = intervalMs;
  }

  shouldLog(key: string, nowMs: number): boolean {
    const last = this.last.get(key);
    if (last !== undefined && nowMs - last < this.intervalMs) return false;
    this.last.set(key, nowMs);
    return true;
  }
}
