/**
 * Private to the cisco-uccx plugin: the UCCX Admin API calls it makes (HTTP Basic, XML,
 * through ../cisco-common/http.ts): append contacts to a campaign, list them with their call
 * results, delete them, read the last import's status.
 *
 * The contact list comes as CSV inside `<campaignContacts><csvdata>`; its header names the
 * columns (case-insensitive), so the columns are looked up by name, not by position.
 */
import { CiscoApiError, CiscoHttp } from "../cisco-common/http.ts";
import { child, childText, descendants, escapeXml, parseXml, toInt } from "../cisco-common/xml.ts";

export interface UccxContact {
  accountNumber: string;
  /** `call status` as UCCX lists it (e.g. PENDING, CLOSED, MAX_CALLS). */
  callStatus: string;
  /** `call result`: the contact's last result. */
  callResult: number;
  /** `call result 01..03`, one per phone column present. */
  phoneResults: number[];
  /** `calls made to phone 01..03`, summed. */
  callsMade: number;
}

export interface UccxContactList {
  contacts: UccxContact[];
  /** UCCX answers at most this many records (its 3 MB limit): a list this long may be cut. */
  mayBeTruncated: boolean;
}

export interface ImportStatus {
  importType: string;
  result: string;
  numContactsImported?: number;
}

export interface UccxAdminClientOptions {
  baseUrl: string;
  username: string;
  password: string;
  timeoutMs: number;
}

/** The most records one GET of a campaign's contacts returns. */
export const MAX_LISTED = 10_000;

/** The documented request body: the campaign by refURL, the CSV in `csvdata`. */
export function appendBody(campaignUrl: string, csv: string): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?><campaignContacts><campaign><refURL>${escapeXml(campaignUrl)}</refURL>` +
    // Duplicates are about numbers: two hub activities may call the same number. The hub's
    // own guard against appending one contact twice is the account number (see the batcher).
    `</campaign><allowDuplicateContacts>true</allowDuplicateContacts><csvdata>${escapeXml(csv)}</csvdata></campaignContacts>`
  );
}

function splitLine(line: string): string[] {
  return line.split(",").map((field) => field.trim());
}

/** The contacts of a `<campaignContacts>` answer; throws when its CSV has no account number column. */
export function parseContactList(xml: string): UccxContactList {
  const csv = childText(child(parseXml(xml), "campaignContacts"), "csvdata") ?? "";
  const lines = csv
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  // Cisco's own example wraps the header: a line ending in a comma goes on.
  let headerLine = lines.shift();
  while (headerLine?.endsWith(",") && lines.length > 0) headerLine += ` ${lines.shift() ?? ""}`;
  if (headerLine === undefined) return { contacts: [], mayBeTruncated: false };
  const header = splitLine(headerLine).map((h) => h.toLowerCase().replace(/\s+/g, " "));
  const column = (name: string): number => header.indexOf(name);
  const accountColumn = column("account number");
  if (accountColumn < 0) {
    throw new CiscoApiError("other", `the UCCX contact list has no "account number" column (header: ${headerLine})`);
  }
  const phoneColumns = ["01", "02", "03"].map((n) => column(`call result ${n}`)).filter((i) => i >= 0);
  const callsColumns = ["01", "02", "03"].map((n) => column(`calls made to phone ${n}`)).filter((i) => i >= 0);
  const contacts = lines.map((line): UccxContact => {
    const fields = splitLine(line);
    const at = (i: number): string => (i >= 0 ? (fields[i] ?? "") : "");
    return {
      accountNumber: at(accountColumn),
      callStatus: at(column("call status")),
      callResult: toInt(at(column("call result")), 0),
      phoneResults: phoneColumns.map((i) => toInt(at(i), 0)),
      callsMade: callsColumns.reduce((total, i) => total + toInt(at(i), 0), 0),
    };
  });
  return { contacts, mayBeTruncated: contacts.length >= MAX_LISTED };
}

/** `<statusDetails><importStatus><status importType>` items. */
export function parseImportStatus(xml: string): ImportStatus[] {
  return descendants(parseXml(xml), "status").map((status) => {
    const imported = childText(status, "numContactsImported");
    return {
      importType: status.attributes.importType ?? "",
      result: childText(status, "result") ?? "",
      ...(imported !== undefined ? { numContactsImported: toInt(imported, 0) } : {}),
    };
  });
}

export class UccxAdminClient {
  private readonly http: CiscoHttp;

  constructor(opts: UccxAdminClientOptions) {
    this.http = new CiscoHttp({ ...opts, serverName: "UCCX server" });
  }

  campaignUrl(campaignId: number): string {
    return `${this.http.baseUrl}/adminapi/campaign/${campaignId}`;
  }

  /** Appends the contacts of `csv` (200, or 202 when UCCX imports them in the background). */
  async appendContacts(campaignId: number, csv: string, timeoutMs?: number): Promise<void> {
    await this.http.request("POST", `${this.campaignUrl(campaignId)}/contacts`, "append", {
      body: appendBody(this.campaignUrl(campaignId), csv),
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    });
  }

  /** The campaign's contacts with their call status and results. */
  async listContacts(campaignId: number, timeoutMs?: number): Promise<UccxContactList> {
    const url = `${this.campaignUrl(campaignId)}/contacts`;
    return parseContactList(await this.http.request("GET", url, "list", timeoutMs !== undefined ? { timeoutMs } : {}));
  }

  /** Deletes every contact of the campaign (UCCX has no single-contact delete). */
  async deleteContacts(campaignId: number): Promise<void> {
    await this.http.request("DELETE", `${this.campaignUrl(campaignId)}/contacts`, "flush");
  }

  /** The status of the campaign's last imports (`.../contacts/status`). */
  async importStatus(campaignId: number): Promise<ImportStatus[]> {
    const url = `${this.campaignUrl(campaignId)}/contacts/status`;
    return parseImportStatus(await this.http.request("GET", url, "import status"));
  }
}
