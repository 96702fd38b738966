/**
 * Private to the cisco-cce plugin: what the shared result poller (../cisco-common/poller.ts)
 * needs of the import list: its pages, which contacts Cisco closed (`C`, `M`), and the final
 * event of one.
 */
import type { CanonicalEvent } from "@dialmesh/sdk";
import type { ResultSource } from "../cisco-common/poller.ts";
import { closedContactEvent, decidingCode as decidingCodeOf } from "../cisco-common/results.ts";
import type { CiscoAwClient, ImportedContact } from "./cisco-cce.api.ts";
import { isClosedCallStatus, mapCallResult } from "./cisco-cce.mapping.ts";

/** The code that decided the contact: the overall result, else the last phone's. */
export function decidingCode(contact: ImportedContact): number {
  return decidingCodeOf(contact.callResultOverall, contact.phoneResults);
}

/** The final event of a closed contact (vendorId = AccountNumber, raw = the CallResult code). */
export function resultEvent(contact: ImportedContact, at: Date): CanonicalEvent {
  const code = decidingCode(contact);
  const detail = `Cisco callStatus ${contact.callStatus}, ${contact.callsMade} call(s)`;
  return closedContactEvent(mapCallResult(code), { accountNumber: contact.accountNumber, code, detail }, at);
}

/** The import list as the shared poller reads it. */
export function importListSource(client: CiscoAwClient): ResultSource<ImportedContact> {
  return {
    pages: (campaignId) => client.contactPages(campaignId),
    accountNumber: (contact) => contact.accountNumber,
    isClosed: (contact) => isClosedCallStatus(contact.callStatus),
    event: resultEvent,
  };
}
