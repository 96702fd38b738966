/**
 * Private to the cisco-uccx plugin: a hub send request as one row of the `csvdata` UCCX
 * imports (`Account Number, First Name, Last Name, Phone1`; Phone1 is required).
 *
 * UCCX's CSV has no time-zone column: UCCX dials within the campaign's own calling hours.
 */
import type { CountryCode } from "libphonenumber-js";
import type { SendRequest } from "@dialmesh/sdk";
import { accountNumberOf, plainField, requireDialerNumber } from "../cisco-common/contacts.ts";

export const CSV_COLUMNS = ["Account Number", "First Name", "Last Name", "Phone1"] as const;

export interface UccxContactRow {
  accountNumber: string;
  firstName: string;
  lastName: string;
  phone1: string;
}

/** The account number as the dialing list keeps it (the same 30 as UCCE's AccountNumber). */
const MAX_ACCOUNT_NUMBER = 30;

/** The row for `request`; throws a non-retryable PluginError when UCCX could not dial it. */
export function contactRow(request: SendRequest, defaultRegion: CountryCode): UccxContactRow {
  return {
    accountNumber: accountNumberOf(request, MAX_ACCOUNT_NUMBER),
    firstName: plainField(request.customer.firstName, 50),
    lastName: plainField(request.customer.lastName, 50),
    phone1: requireDialerNumber(request, defaultRegion),
  };
}

/** The `csvdata` of `rows`, header first. */
export function contactsCsv(rows: readonly UccxContactRow[]): string {
  const lines = [CSV_COLUMNS.join(",")];
  for (const r of rows) lines.push([r.accountNumber, r.firstName, r.lastName, r.phone1].join(","));
  return `${lines.join("\n")}\n`;
}
