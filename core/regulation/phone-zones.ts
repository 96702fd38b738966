/**
 * Where a called party may be: the country and (for +1 numbers) the state or province of
 * the area code, and the candidate time zones. libphonenumber-js has no zone data, hence
 * the table. A stored customer zone overrides the candidates.
 */
import { parsePhoneNumberFromString } from "libphonenumber-js";
import type { PhoneZoneTable } from "./types.ts";

export interface CalledPartyLocation {
  /** ISO 3166-1 country of the number, when known. */
  country: string | undefined;
  /** ISO 3166-2 subdivision (US-FL) for North American numbers, when known. */
  region: string | undefined;
  /** Every zone the called party may be in; empty when nothing is known. */
  zones: string[];
  /** "customer" when a stored zone decided, else "number". */
  zoneSource: "customer" | "number";
}

/** Index area code -> region for a table (built once per table). */
const areaCodeIndex = new WeakMap<PhoneZoneTable, Map<string, string>>();

function regionOfAreaCode(table: PhoneZoneTable, areaCode: string): string | undefined {
  let index = areaCodeIndex.get(table);
  if (!index) {
    index = new Map();
    for (const [region, entry] of Object.entries(table.nanp))
      for (const code of entry.areaCodes) index.set(code, region);
    areaCodeIndex.set(table, index);
  }
  return index.get(areaCode);
}

/**
 * Locates the called party of `phone` (E.164, or national with `defaultCountry`).
 * `customerZone`, when given, is the only candidate zone.
 */
export function locateCalledParty(table: PhoneZoneTable, phone: string, customerZone?: string): CalledPartyLocation {
  const parsed = parsePhoneNumberFromString(phone);
  // Numbers in unassigned or shared ranges have no single country; take the calling
  // code's main country (listed first), e.g. GB for +44.
  let country: string | undefined = parsed?.country ?? parsed?.getPossibleCountries()[0];
  let region: string | undefined;
  let zones: string[] = [];
  if (parsed && parsed.countryCallingCode === "1") {
    const areaCode = parsed.nationalNumber.slice(0, 3);
    region = regionOfAreaCode(table, areaCode);
    if (region) {
      const entry = table.nanp[region];
      zones = entry?.areaCodeZones?.[areaCode] ?? entry?.zones ?? [];
      country = region.slice(0, 2);
    }
  }
  if (zones.length === 0 && country) zones = table.countries[country] ?? [];
  if (customerZone) return { country, region, zones: [customerZone], zoneSource: "customer" };
  return { country, region, zones: [...zones], zoneSource: "number" };
}
