/**
 * Private to the cisco-cce plugin: a hub send request as one row of the Outbound Option
 * import CSV (`AccountNumber, FirstName, LastName, Phone01, TimeZoneBias, DstObserved`).
 */
import { DateTime } from "luxon";
import { parsePhoneNumberFromString, type CountryCode } from "libphonenumber-js";
import { PluginError, type SendRequest } from "@dialmesh/sdk";

export const CSV_COLUMNS = [
  "AccountNumber",
  "FirstName",
  "LastName",
  "Phone01",
  "TimeZoneBias",
  "DstObserved",
] as const;

export interface ContactRow {
  accountNumber: string;
  firstName: string;
  lastName: string;
  phone01: string;
  /** Minutes east of UTC in the zone's standard time, as Cisco's examples give it (India 330). */
  timeZoneBias: string;
  dstObserved: string;
}

/** Cisco's AccountNumber column holds at most 30 characters. */
const MAX_ACCOUNT_NUMBER = 30;

/**
 * Names go into a plain delimited file: Cisco's import splits on the delimiter and does not
 * document quoting, so delimiters, quotes and line breaks are replaced by spaces.
 */
function plainField(value: string | undefined, max: number): string {
  return (value ?? "")
    .replace(/[,"\r\n;|\t]/g, " ")
    .trim()
    .slice(0, max);
}

/**
 * The number as the dialer dials it: national digits for a number of `defaultRegion` (the
 * dialer's own dialing rules add prefixes), otherwise the international digits without `+`.
 */
export function dialerNumber(phone: string, defaultRegion: CountryCode): string | undefined {
  const parsed = parsePhoneNumberFromString(phone.trim(), defaultRegion);
  if (!parsed?.isValid()) return undefined;
  return parsed.country === defaultRegion ? parsed.nationalNumber : parsed.number.slice(1);
}

/**
 * Standard-time offset and whether the zone observes daylight saving, from the offsets of
 * mid-January and mid-July of `year` (the smaller one is standard time in both hemispheres).
 */
export function zoneBias(timezone: string, year: number): { timeZoneBias: string; dstObserved: string } | undefined {
  const january = DateTime.fromObject({ year, month: 1, day: 15 }, { zone: timezone });
  const july = DateTime.fromObject({ year, month: 7, day: 15 }, { zone: timezone });
  if (!january.isValid || !july.isValid) return undefined;
  const standard = Math.min(january.offset, july.offset);
  return { timeZoneBias: String(standard), dstObserved: String(january.offset !== july.offset) };
}

/** The row for `request`; throws a non-retryable PluginError when Cisco could not dial it. */
export function contactRow(request: SendRequest, defaultRegion: CountryCode, now: Date): ContactRow {
  const accountNumber = request.attemptId;
  if (accountNumber.length > MAX_ACCOUNT_NUMBER || /[,"\r\n]/.test(accountNumber)) {
    throw new PluginError(
      "INVALID_ACCOUNT_NUMBER",
      "the attempt id does not fit Cisco's AccountNumber (30 characters)",
    );
  }
  const phone = request.customer.phone ? dialerNumber(request.customer.phone, defaultRegion) : undefined;
  if (!phone) {
    throw new PluginError(
      "INVALID_NUMBER",
      request.customer.phone ? "the customer's phone number is not a valid number" : "the customer has no phone number",
    );
  }
  // Without a zone Cisco applies the campaign's default time zone (the import rule's).
  const zone = request.customer.timezone ? zoneBias(request.customer.timezone, now.getUTCFullYear()) : undefined;
  return {
    accountNumber,
    firstName: plainField(request.customer.firstName, 50),
    lastName: plainField(request.customer.lastName, 50),
    phone01: phone,
    timeZoneBias: zone?.timeZoneBias ?? "",
    dstObserved: zone?.dstObserved ?? "",
  };
}

/** The CSV file of `rows`, header first. */
export function contactsCsv(rows: readonly ContactRow[]): string {
  const lines = [CSV_COLUMNS.join(",")];
  for (const r of rows) {
    lines.push([r.accountNumber, r.firstName, r.lastName, r.phone01, r.timeZoneBias, r.dstObserved].join(","));
  }
  return `${lines.join("\n")}\n`;
}
