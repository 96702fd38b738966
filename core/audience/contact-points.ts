/**
 * Phones and emails as customers keep them: E.164 (libphonenumber-js, with a default region for
 * national numbers), each phone with its label and the time zones its number may be in (the
 * dialer's table, core/regulation/phone-zones.ts); emails trimmed and lower-cased. Pure.
 */
import type { CountryCode, PhoneNumber } from "libphonenumber-js";
import { getCountries, parsePhoneNumberFromString } from "libphonenumber-js";
import { normalizeEmail } from "@dialmesh/sdk";
import { locateCalledParty } from "../regulation/phone-zones.ts";
import type { PhoneZoneTable } from "../regulation/types.ts";

export interface CustomerPhone {
  /** E.164. */
  number: string;
  /** Where it came from: "Phone 1", "Mobile", or "phone 1" when the API caller gave none. */
  label: string;
  /** Candidate IANA zones of the number (empty when the table knows nothing of it). */
  zones: string[];
}

const REGIONS = new Set<string>(getCountries());

export function isRegion(value: unknown): value is CountryCode {
  return typeof value === "string" && REGIONS.has(value);
}

/** Zones by (calling code, country, NANP area code), per table: see zonesOf. */
const zoneCache = new WeakMap<PhoneZoneTable, Map<string, readonly string[]>>();

/**
 * The zones locateCalledParty gives for a valid parsed number, without parsing it again: they
 * depend only on its country (which libphonenumber-js derives from the calling code and the
 * national number, with or without a default region) and, for +1, its area code. An import
 * normalises millions of phones from a few thousand such keys.
 */
function zonesOf(table: PhoneZoneTable, parsed: PhoneNumber): string[] {
  let cache = zoneCache.get(table);
  if (!cache) zoneCache.set(table, (cache = new Map()));
  const cc = parsed.countryCallingCode;
  const key = `${cc}|${parsed.country ?? ""}|${cc === "1" ? parsed.nationalNumber.slice(0, 3) : ""}`;
  let zones = cache.get(key);
  if (!zones) cache.set(key, (zones = locateCalledParty(table, parsed.number).zones));
  return [...zones];
}

/** E.164 of `input` (as @dialmesh/sdk normalizePhone gives it), parsed once. */
function parseValid(input: string, defaultRegion: CountryCode | undefined): PhoneNumber | undefined {
  const parsed = parsePhoneNumberFromString(input.trim().replace(/^whatsapp:/i, ""), defaultRegion);
  return parsed?.isValid() ? parsed : undefined;
}

/** One phone, normalised with its zones, or undefined when it is not a valid number. */
export function normalizeCustomerPhone(
  input: string,
  label: string,
  defaultRegion: CountryCode | undefined,
  zones: PhoneZoneTable,
): CustomerPhone | undefined {
  const parsed = parseValid(input, defaultRegion);
  if (!parsed) return undefined;
  return { number: parsed.number, label, zones: zonesOf(zones, parsed) };
}

export { normalizeEmail };
