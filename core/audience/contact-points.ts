/**
 * Phones and emails as customers keep them: E.164 (libphonenumber-js, with a default region for
 * national numbers), each phone with its label and the time zones its number may be in (the
 * dialer's table, core/regulation/phone-zones.ts); emails trimmed and lower-cased. Pure.
 */
import type { CountryCode } from "libphonenumber-js";
import { getCountries } from "libphonenumber-js";
import { normalizeEmail, normalizePhone } from "@dialmesh/sdk";
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

/** One phone, normalised with its zones, or undefined when it is not a valid number. */
export function normalizeCustomerPhone(
  input: string,
  label: string,
  defaultRegion: CountryCode | undefined,
  zones: PhoneZoneTable,
): CustomerPhone | undefined {
  const number = normalizePhone(input, defaultRegion);
  if (!number) return undefined;
  return { number, label, zones: locateCalledParty(zones, number).zones };
}

export { normalizeEmail };
