/**
 * A local Cisco AW speaking the parts of the Unified Config API (UCCE/PCCE Outbound Option)
 * that the `cisco-cce` plugin uses, for plugin and end-to-end tests: point the plugin's
 * `baseUrl` at `server.baseUrl`.
 *
 * - HTTP Basic auth (401 with `<apiErrors>` otherwise); campaigns must exist (404
 *   CceDBDataNotFoundException otherwise, as for campaigns not made through the API).
 * - `POST /unifiedconfig/config/campaign/<id>/import`: `<import><fileContent>` (CSV, CDATA),
 *   `<delimiter>`, `<overwriteData>`; at most 10,000 records; 503 "Request processing queue is
 *   at capacity" when more than `maxQueued` (30) imports are being processed; 400 naming every
 *   bad row (nothing is imported then); 200 otherwise. `overwriteData` true replaces the
 *   campaign's contacts, false appends.
 * - `GET .../import?startIndex=&resultsPerPage=`: `<results><pageInfo>` and `importContact`
 *   items (`accountNumber`, `callStatus` letter, `callsMade`, `callResultOverall`, per-phone
 *   `callResult`); pages of at most 100.
 * - `DELETE .../import`: removes every imported contact of the campaign.
 * - `GET .../runtimestats`: counters computed from the contacts.
 *
 * Test hooks: `injectUnavailable(n)` (the next n imports get 503), `dropNextAnswer(n)` (the
 * next n imports are applied, then the connection is cut before the answer), `rejectNext()`
 * (every row of the next import is refused), `setResult(...)` and `dialAll(...)` (the
 * simulated dialer), `imports`, `rowCount(accountNumber)`.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  csvField,
  escapeXml as escape,
  readBody,
  sendApiErrors,
  sendXml,
  unescapeXml as unescape,
} from "./http-vendor.ts";
import {
  CiscoVendorServer,
  sendRowComplaints,
  type CiscoVendorServerOptions,
  type RecordedAppend,
  type RowComplaint,
} from "./cisco-vendor-server.ts";

export interface CiscoAwServerOptions extends CiscoVendorServerOptions {
  /** Campaign ids that exist (made through the Outbound Campaign API). Default [5001]. */
  campaigns?: number[];
  /** `maxQueued`: imports processed at once before 503, default 30 (Cisco's documented queue). */
  /** How long one import takes to process, in ms. Default 0. */
  importDelayMs?: number;
}

export interface ServerContact {
  id: number;
  accountNumber: string;
  firstName: string;
  lastName: string;
  importDate: string;
  phones: { number: string; callResult: number; gmtOffset: string; dstObserved: string }[];
  callsMade: number;
  /** A active, B callback, C closed, J agent rejected, M max attempts, P pending, R retry, S personal callback, U unknown. */
  callStatus: string;
  callResultOverall: number;
}

export interface RecordedImport extends RecordedAppend {
  overwriteData: boolean;
}

const MAX_RECORDS = 10_000;
const MAX_PAGE = 100;
const KNOWN_COLUMNS = new Set([
  "accountnumber",
  "firstname",
  "lastname",
  ...Array.from({ length: 10 }, (_, i) => `phone${String(i + 1).padStart(2, "0")}`),
  "timezonebias",
  "dstobserved",
]);

export class CiscoAwServer extends CiscoVendorServer {
  importDelayMs: number;
  /** Every import request that passed authentication, in arrival order. */
  readonly imports: RecordedImport[] = [];
  private readonly contacts = new Map<number, ServerContact[]>();
  private nextId = 1;

  get appendLog(): readonly RecordedImport[] {
    return this.imports;
  }

  constructor(opts: CiscoAwServerOptions = {}) {
    super(opts, { username: "administrator@example.com", maxQueued: 30 });
    this.importDelayMs = opts.importDelayMs ?? 0;
    for (const id of opts.campaigns ?? [5001]) this.contacts.set(id, []);
  }

  addCampaign(id: number): void {
    if (!this.contacts.has(id)) this.contacts.set(id, []);
  }

  /** The imported contacts of a campaign (live objects). */
  campaignContacts(campaignId: number): ServerContact[] {
    return this.contacts.get(campaignId) ?? [];
  }

  /** How many times a contact with this AccountNumber was imported, over every campaign. */
  rowCount(accountNumber: string): number {
    let n = 0;
    for (const list of this.contacts.values()) n += list.filter((c) => c.accountNumber === accountNumber).length;
    return n;
  }

  /** Imports applied (answered 200, or cut after being applied). */
  appliedImports(campaignId?: number): RecordedImport[] {
    return this.imports.filter(
      (i) => (i.status === 200 || i.status === 0) && (campaignId === undefined || i.campaignId === campaignId),
    );
  }

  /** One dialer attempt on the contact: sets the phone's and the overall result. */
  setResult(
    campaignId: number,
    accountNumber: string,
    result: { callResult: number; callStatus: string; phone?: number },
  ): void {
    const contact = this.campaignContacts(campaignId).find((c) => c.accountNumber === accountNumber);
    if (!contact) throw new Error(`no contact ${accountNumber} in campaign ${campaignId}`);
    const phone = contact.phones[(result.phone ?? 1) - 1];
    if (phone) phone.callResult = result.callResult;
    contact.callsMade += 1;
    contact.callResultOverall = result.callResult;
    contact.callStatus = result.callStatus;
  }

  /** The simulated dialer works every contact not yet closed once, as `decide` says. */
  dialAll(campaignId: number, decide: (contact: ServerContact) => { callResult: number; callStatus: string }): void {
    for (const contact of this.campaignContacts(campaignId)) {
      if (contact.callStatus === "C" || contact.callStatus === "M") continue;
      this.setResult(campaignId, contact.accountNumber, decide(contact));
    }
  }

  // ------------------------------------------------------------------------------------------

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = (await readBody(req)).toString("utf8");
    const url = new URL(req.url ?? "/", this.baseUrl);
    const record = (status: number): void => {
      this.requests.push({ method: req.method ?? "", path: url.pathname, status });
    };
    if (!this.authorized(req)) {
      res.setHeader("www-authenticate", 'Basic realm="unifiedconfig"');
      return sendApiErrors(res, 401, [{ type: "authorization", message: "Unauthorized" }]);
    }
    const match = /^\/unifiedconfig\/config\/campaign\/(\d+)\/(import|runtimestats)$/.exec(url.pathname);
    if (!match) {
      record(404);
      return sendApiErrors(res, 404, [{ type: "notFound", message: `no resource ${url.pathname}` }]);
    }
    const campaignId = Number(match[1]);
    const list = this.contacts.get(campaignId);
    if (!list) {
      record(404);
      return sendApiErrors(res, 404, [
        { type: "CceDBDataNotFoundException", message: `campaign ${campaignId} was not created through the API` },
      ]);
    }
    const resource = match[2];
    if (resource === "runtimestats" && req.method === "GET") {
      record(200);
      return sendXml(res, 200, this.runtimeStats(list));
    }
    if (resource === "import" && req.method === "GET") {
      if (this.takeListUnavailable()) {
        record(503);
        return sendApiErrors(res, 503, [{ type: "serviceUnavailable", message: "Service Unavailable" }]);
      }
      record(200);
      return sendXml(res, 200, this.listPage(list, url.searchParams));
    }
    if (resource === "import" && req.method === "DELETE") {
      list.length = 0;
      record(200);
      res.writeHead(200).end();
      return;
    }
    if (resource === "import" && req.method === "POST") return this.handleImport(campaignId, list, raw, req, res);
    record(405);
    return sendApiErrors(res, 405, [{ type: "methodNotAllowed", message: `${req.method ?? ""} not allowed` }]);
  }

  private async handleImport(
    campaignId: number,
    list: ServerContact[],
    body: string,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const record = (status: number, accountNumbers: string[], overwriteData: boolean): void => {
      this.imports.push({ campaignId, accountNumbers, overwriteData, status });
      this.requests.push({ method: "POST", path: req.url ?? "", status });
    };
    if (this.refuseWhenBusy(res, "Request processing queue is at capacity.")) {
      record(503, [], false);
      return;
    }
    if (this.takeCut()) {
      record(-1, [], false);
      req.socket.destroy();
      return;
    }
    return this.inQueue(this.importDelayMs, async () => {
      const parsed = parseImport(body);
      if ("error" in parsed) {
        record(400, [], false);
        return sendApiErrors(res, 400, [{ type: "invalidInput", message: parsed.error }]);
      }
      const accountNumbers = parsed.rows.map((r) => csvField(parsed.header, r, "accountnumber"));
      const complaints = this.withInjectedComplaints(
        accountNumbers,
        "Phone01",
        validateRows(parsed.header, parsed.rows),
      );
      if (complaints.length > 0) {
        record(400, accountNumbers, parsed.overwriteData);
        return sendRowComplaints(res, "invalidInput.fieldValue", complaints);
      }
      if (parsed.overwriteData) list.length = 0;
      const importDate = new Date().toISOString().slice(0, 19);
      for (const r of parsed.rows) list.push(this.contactFrom(parsed.header, r, importDate));
      if (this.takeDroppedAnswer()) {
        record(0, accountNumbers, parsed.overwriteData);
        req.socket.destroy();
        return;
      }
      record(200, accountNumbers, parsed.overwriteData);
      res.writeHead(200, { "content-type": "application/xml" }).end();
    });
  }

  private contactFrom(header: string[], row: string[], importDate: string): ServerContact {
    const phones: ServerContact["phones"] = [];
    for (let i = 1; i <= 10; i++) {
      const number = csvField(header, row, `phone${String(i).padStart(2, "0")}`);
      if (number) {
        phones.push({
          number,
          callResult: 0,
          gmtOffset: csvField(header, row, "timezonebias"),
          dstObserved: csvField(header, row, "dstobserved"),
        });
      }
    }
    const id = this.nextId++;
    return {
      id,
      accountNumber: csvField(header, row, "accountnumber"),
      firstName: csvField(header, row, "firstname"),
      lastName: csvField(header, row, "lastname"),
      importDate,
      phones,
      callsMade: 0,
      callStatus: "P",
      callResultOverall: 0,
    };
  }

  private listPage(list: ServerContact[], query: URLSearchParams): string {
    const startIndex = Math.max(0, Number.parseInt(query.get("startIndex") ?? "0", 10) || 0);
    const asked = Number.parseInt(query.get("resultsPerPage") ?? "25", 10) || 25;
    const resultsPerPage = Math.min(Math.max(asked, 1), MAX_PAGE);
    const page = list.slice(startIndex, startIndex + resultsPerPage);
    const items = page
      .map((c) => {
        const phones = c.phones
          .map((p, i) => {
            const tag = `phone${String(i + 1).padStart(2, "0")}`;
            return `<${tag}><callResult>${p.callResult}</callResult><dstObserved>${escape(p.dstObserved)}</dstObserved><gmtOffset>${escape(p.gmtOffset)}</gmtOffset><number>${escape(p.number)}</number></${tag}>`;
          })
          .join("");
        return (
          `<importContact><refURL>/unifiedconfig/config/campaign/import/${c.id}</refURL>` +
          `<accountNumber>${escape(c.accountNumber)}</accountNumber><callsMade>${c.callsMade}</callsMade>` +
          `<callStatus>${c.callStatus}</callStatus><callResultOverall>${c.callResultOverall}</callResultOverall>` +
          `<firstName>${escape(c.firstName)}</firstName><lastName>${escape(c.lastName)}</lastName>` +
          `<importDate>${c.importDate}</importDate>${phones}</importContact>`
        );
      })
      .join("");
    return (
      `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><results><pageInfo>` +
      `<resultsPerPage>${resultsPerPage}</resultsPerPage><startIndex>${startIndex}</startIndex>` +
      `<totalResults>${list.length}</totalResults></pageInfo><importContacts>${items}</importContacts></results>`
    );
  }

  private runtimeStats(list: ServerContact[]): string {
    const count = (codes: number[]): number => list.filter((c) => codes.includes(c.callResultOverall)).length;
    const attempted = list.filter((c) => c.callsMade > 0).length;
    return (
      `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><runtimeStats>` +
      `<attemptedCount>${attempted}</attemptedCount><voiceCount>${count([10])}</voiceCount>` +
      `<busyCount>${count([9])}</busyCount><answeringMachineCount>${count([12, 22])}</answeringMachineCount>` +
      `<abandonDetectCount>${count([16, 21])}</abandonDetectCount><noAnswerCount>${count([8])}</noAnswerCount>` +
      `<pendingCount>${list.filter((c) => c.callStatus === "P").length}</pendingCount></runtimeStats>`
    );
  }
}

/** Starts a Cisco AW stand-in on an ephemeral port. */
export async function startCiscoAwServer(opts: CiscoAwServerOptions = {}): Promise<CiscoAwServer> {
  return new CiscoAwServer(opts).start();
}

function parseImport(body: string): { header: string[]; rows: string[][]; overwriteData: boolean } | { error: string } {
  if (!/^\s*(<\?xml[^>]*\?>\s*)?<import>[\s\S]*<\/import>\s*$/.test(body)) return { error: "the body is no <import>" };
  const content = /<fileContent>\s*(?:<!\[CDATA\[([\s\S]*?)\]\]>|([^<]*))\s*<\/fileContent>/.exec(body);
  if (!content) return { error: "fileContent is required" };
  const csv = content[1] ?? unescape(content[2] ?? "");
  const delimiter = unescape(/<delimiter>([^<]*)<\/delimiter>/.exec(body)?.[1] ?? ",") || ",";
  const overwriteData = /<overwriteData>\s*true\s*<\/overwriteData>/.test(body);
  const lines = csv
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  const [headerLine, ...dataLines] = lines;
  if (!headerLine) return { error: "fileContent has no header line" };
  const header = headerLine.split(delimiter).map((h) => h.trim().toLowerCase());
  const unknown = header.filter((h) => !KNOWN_COLUMNS.has(h));
  if (unknown.length > 0) return { error: `unknown column(s): ${unknown.join(", ")}` };
  if (!header.includes("accountnumber")) return { error: "the AccountNumber column is required" };
  if (!header.some((h) => h.startsWith("phone"))) return { error: "at least one phone column is required" };
  if (dataLines.length > MAX_RECORDS) return { error: `at most ${MAX_RECORDS} records per request` };
  return { header, rows: dataLines.map((l) => l.split(delimiter).map((v) => v.trim())), overwriteData };
}

function validateRows(header: string[], rows: string[][]): RowComplaint[] {
  const complaints: RowComplaint[] = [];
  rows.forEach((row, i) => {
    const accountNumber = csvField(header, row, "accountnumber");
    const complain = (fieldName: string, message: string): void => {
      complaints.push({ row: i + 1, accountNumber, field: fieldName, message: `Row ${i + 1}: ${message}` });
    };
    if (row.length !== header.length) return complain("row", `${row.length} fields, the header has ${header.length}`);
    if (!accountNumber) complain("AccountNumber", "AccountNumber is required");
    else if (accountNumber.length > 30) complain("AccountNumber", "AccountNumber is longer than 30 characters");
    const phones = header.filter((h) => h.startsWith("phone")).map((h) => csvField(header, row, h));
    if (!phones.some((p) => p)) complain("Phone01", "at least one phone number is required");
    for (const p of phones) if (p && !/^\d{3,20}$/.test(p)) complain("Phone01", `phone number ${p} is not digits`);
    const bias = csvField(header, row, "timezonebias");
    if (bias && !/^-?\d{1,4}$/.test(bias)) complain("TimeZoneBias", `TimeZoneBias ${bias} is not minutes`);
    const dst = csvField(header, row, "dstobserved");
    if (dst && !/^(true|false)$/i.test(dst)) complain("DstObserved", `DstObserved ${dst} is not true or false`);
  });
  return complaints;
}
