/**
 * Private to the cisco-cce plugin: the Unified Config API calls it makes at the AW (HTTP
 * Basic, XML, through ../cisco-common/http.ts): import contacts, list them, delete them, read
 * runtime stats.
 */
import { CiscoHttp } from "../cisco-common/http.ts";
import { child, childText, descendants, escapeXml, parseXml, toInt, type XmlElement } from "../cisco-common/xml.ts";

export interface ImportedContact {
  accountNumber: string;
  callStatus: string;
  callsMade: number;
  callResultOverall: number;
  /** `callResult` of phone01..phone10, those present, in order. */
  phoneResults: number[];
}

export interface ContactPage {
  contacts: ImportedContact[];
  startIndex: number;
  resultsPerPage: number;
  totalResults: number;
}

export interface CiscoAwClientOptions {
  baseUrl: string;
  username: string;
  password: string;
  timeoutMs: number;
}

/** The largest page the Unified Config API serves. */
export const MAX_RESULTS_PER_PAGE = 100;

export function importBody(csv: string): string {
  // A CDATA section cannot hold "]]>"; the CSV fields never do (contacts.ts strips them).
  const content = csv.includes("]]>") ? escapeXml(csv) : `<![CDATA[${csv}]]>`;
  return `<import><fileContent>${content}</fileContent><delimiter>,</delimiter><overwriteData>false</overwriteData></import>`;
}

function readContact(item: XmlElement): ImportedContact {
  const phoneResults: number[] = [];
  for (let i = 1; i <= 10; i++) {
    const phone = child(item, `phone${String(i).padStart(2, "0")}`);
    const result = childText(phone, "callResult");
    if (result !== undefined) phoneResults.push(toInt(result, 0));
  }
  return {
    accountNumber: childText(item, "accountNumber") ?? "",
    callStatus: childText(item, "callStatus") ?? "",
    callsMade: toInt(childText(item, "callsMade"), 0),
    callResultOverall: toInt(childText(item, "callResultOverall"), 0),
    phoneResults,
  };
}

export function parseContactPage(xml: string): ContactPage {
  const doc = parseXml(xml);
  const results = child(doc, "results");
  const pageInfo = child(results, "pageInfo");
  const contacts = descendants(doc, "importContact").map(readContact);
  return {
    contacts,
    startIndex: toInt(childText(pageInfo, "startIndex"), 0),
    resultsPerPage: toInt(childText(pageInfo, "resultsPerPage"), contacts.length),
    totalResults: toInt(childText(pageInfo, "totalResults"), contacts.length),
  };
}

export class CiscoAwClient {
  private readonly http: CiscoHttp;

  constructor(opts: CiscoAwClientOptions) {
    this.http = new CiscoHttp({ ...opts, serverName: "Cisco AW" });
  }

  private campaignPath(campaignId: number, tail: string): string {
    return `${this.http.baseUrl}/unifiedconfig/config/campaign/${campaignId}/${tail}`;
  }

  /** Appends the contacts of `csv` to the campaign (`overwriteData` false). */
  async importContacts(campaignId: number, csv: string, timeoutMs?: number): Promise<void> {
    await this.http.request("POST", this.campaignPath(campaignId, "import"), "import", {
      body: importBody(csv),
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    });
  }

  async listContacts(
    campaignId: number,
    startIndex: number,
    resultsPerPage: number,
    timeoutMs?: number,
  ): Promise<ContactPage> {
    const query = `?startIndex=${startIndex}&resultsPerPage=${resultsPerPage}`;
    const url = this.campaignPath(campaignId, `import${query}`);
    return parseContactPage(await this.http.request("GET", url, "list", timeoutMs !== undefined ? { timeoutMs } : {}));
  }

  /** The campaign's imported contacts, a page of 100 at a time along `pageInfo`. */
  async *contactPages(campaignId: number, timeoutMs?: number): AsyncGenerator<ImportedContact[]> {
    for (let start = 0; ;) {
      const page = await this.listContacts(campaignId, start, MAX_RESULTS_PER_PAGE, timeoutMs);
      yield page.contacts;
      start += page.contacts.length;
      if (page.contacts.length === 0 || start >= page.totalResults) return;
    }
  }

  /** Deletes every imported contact of the campaign (Cisco has no single-record delete). */
  async deleteContacts(campaignId: number): Promise<void> {
    await this.http.request("DELETE", this.campaignPath(campaignId, "import"), "flush");
  }

  /** The campaign's runtime counters (`attemptedCount`, `voiceCount`, ...). */
  async runtimeStats(campaignId: number): Promise<Record<string, number>> {
    const doc = parseXml(
      await this.http.request("GET", this.campaignPath(campaignId, "runtimestats"), "runtime stats"),
    );
    const stats: Record<string, number> = {};
    const root = doc.children[0];
    for (const c of root?.children ?? []) {
      const n = Number(c.text.trim());
      if (c.children.length === 0 && Number.isFinite(n)) stats[c.name] = n;
    }
    return stats;
  }
}
