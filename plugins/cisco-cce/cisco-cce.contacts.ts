/**
 * Private to the cisco-cce plugin: a hub send request as one row of the Outbound Option
 * import CSV (`AccountNumber, FirstName, LastName, Phone01, TimeZoneBias, DstObserved`).
 */
import type { CountryCode } from "libphonenumber-js";
import type { SendRequest } from "@dialmesh/sdk";
import { accountNumberOf, plainField, requireDialerNumber, zoneBias } from "../cisco-common/contacts.ts";

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

/** The row for `request`; throws a non-retryable PluginError when Cisco could not dial it. */
export function contactRow(request: SendRequest, defaultRegion: CountryCode, now: Date): ContactRow {
  const accountNumber = accountNumberOf(request, MAX_ACCOUNT_NUMBER);
  const phone = requireDialerNumber(request, defaultRegion);
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
