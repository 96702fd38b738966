/**
 * Shared by the Cisco plugins: the fields of a contact row that do not depend on the dialer:
 * the account number, the number as the dialer dials it, names fit for a plain delimited file,
 * and the customer's zone as a standard offset.
 */
import { DateTime } from "luxon";
import { parsePhoneNumberFromString, type CountryCode } from "libphonenumber-js";
import { PluginError, type SendRequest } from "@dialmesh/sdk";

/**
 * Names go into a plain delimited file: Cisco's imports split on the delimiter and do not
 * document quoting, so delimiters, quotes and line breaks are replaced by spaces.
 */
export function plainField(value: string | undefined, max: number): string {
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

/** The customer's number for the dialer; a non-retryable INVALID_NUMBER when there is none. */
export function requireDialerNumber(request: SendRequest, defaultRegion: CountryCode): string {
  const phone = request.customer.phone ? dialerNumber(request.customer.phone, defaultRegion) : undefined;
  if (!phone) {
    throw new PluginError(
      "INVALID_NUMBER",
      request.customer.phone ? "the customer's phone number is not a valid number" : "the customer has no phone number",
    );
  }
  return phone;
}

/** The attempt id as the account number (what results refer to); refused when it cannot be one. */
export function accountNumberOf(request: SendRequest, maxLength: number): string {
  const accountNumber = request.attemptId;
  if (accountNumber.length > maxLength || /[,"\r\n]/.test(accountNumber)) {
    throw new PluginError(
      "INVALID_ACCOUNT_NUMBER",
      `the attempt id does not fit Cisco's AccountNumber (${maxLength} characters)`,
    );
  }
  return accountNumber;
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
