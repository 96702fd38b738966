/**
 * A local UCCX server speaking the parts of the Admin API (outbound campaign contacts) that the
 * `cisco-uccx` plugin uses, for plugin and end-to-end tests: point the plugin's `baseUrl` at
 * `server.baseUrl`.
 *
 * - HTTP Basic auth (401 with `<apiErrors>` otherwise); campaigns must exist (404 otherwise).
 * - `POST /adminapi/campaign/<id>/contacts`: `<campaignContacts><campaign><refURL>` (must name
 *   this campaign), `<allowDuplicateContacts>`, `<csvdata>` (first non-empty line the header,
 *   headers case-insensitive: Account Number, First Name, Last Name, Phone1..Phone3, Dial
 *   Time; Phone1 required). 503 when more than `maxQueued` appends are being processed; 400
 *   naming every bad row (nothing appended then); 200 with the documented echo otherwise, or
 *   202 with `Location: .../contacts/status` when `answerAccepted` is set.
 * - `GET .../contacts[?q=STATUS]`: `<campaignContacts><csvdata>` with the documented result
 *   columns (`call result`, `call status`, `call result 01..03`, `calls made to phone 01..03`,
 *   ...), at most 10,000 records.
 * - `GET .../contacts/status`: the last import's `<statusDetails>`.
 * - `DELETE .../contacts`: removes every contact of the campaign.
 *
 * Test hooks: `injectUnavailable(n)`, `injectListUnavailable(n)`, `dropNextAnswer(n)` (applied,
 * then the connection cut), `cutNextRequest(n)` (cut before applying), `rejectNext()`,
 * `rejectAccounts(...)`, `setResult(...)` and `dialAll(...)` (the simulated dialer), `appends`,
 * `rowCount(accountNumber)`.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { csvField, escapeXml, readBody, sendApiErrors, sendXml, unescapeXml } from "./http-vendor.ts";
import {
  CiscoVendorServer,
  sendRowComplaints,
  type CiscoVendorServerOptions,
  type RecordedAppend,
  type RowComplaint,
} from "./cisco-vendor-server.ts";

export interface CiscoUccxServerOptions extends CiscoVendorServerOptions {
  /** Campaign ids that exist. Default [200]. `maxQueued` defaults to 5. */
  campaigns?: number[];
  /** How long one append takes to process, in ms. Default 0. */
  appendDelayMs?: number;
  /** Records one GET lists at most. Default 10,000 (UCCX's 3 MB limit). */
  maxListed?: number;
}

/** The statuses UCCX's `?q=` filter names, and ACTIVE / CLOSED. */
export type UccxServerCallStatus =
  "PENDING" | "ACTIVE" | "CALLBACK" | "RETRY" | "RETRIES_WITH_DELAY" | "MAX_CALLS" | "CLOSED" | "UNKNOWN";

export interface UccxServerContact {
  accountNumber: string;
  firstName: string;
  lastName: string;
  phones: string[];
  callStatus: UccxServerCallStatus;
  callResult: number;
  /** Per phone: the last result and the calls made to it. */
  phoneResults: number[];
  callsMade: number[];
}

const PHONE_COLUMNS = ["phone1", "phone2", "phone3"];
const KNOWN_COLUMNS = new Set(["account number", "first name", "last name", ...PHONE_COLUMNS, "dial time"]);
const LIST_HEADER = [
  "account number",
  "first name",
  "last name",
  "phone1",
  "phone2",
  "phone3",
  "dial time",
  "call result",
  "callback number",
  "call status",
  "call result 01",
  "call result 02",
  "call result 03",
  "last number dialled",
  "calls made to phone 01",
  "calls made to phone 02",
  "calls made to phone 03",
  "retry",
  "num missed call back",
].join(", ");

export class CiscoUccxServer extends CiscoVendorServer {
  readonly maxListed: number;
  appendDelayMs: number;
  /** 202 Accepted (import in the background) instead of 200. */
  answerAccepted = false;
  /** Every append that passed authentication, in arrival order. */
  readonly appends: RecordedAppend[] = [];
  private readonly contacts = new Map<number, UccxServerContact[]>();
  private readonly lastImport = new Map<number, { result: string; imported: number; at: number }>();

  get appendLog(): readonly RecordedAppend[] {
    return this.appends;
  }

  constructor(opts: CiscoUccxServerOptions = {}) {
    super(opts, { username: "uccx-admin", maxQueued: 5 });
    this.maxListed = opts.maxListed ?? 10_000;
    this.appendDelayMs = opts.appendDelayMs ?? 0;
    for (const id of opts.campaigns ?? [200]) this.contacts.set(id, []);
  }

  /** The contacts of a campaign (live objects). */
  campaignContacts(campaignId: number): UccxServerContact[] {
    return this.contacts.get(campaignId) ?? [];
  }

  /** How many times a contact with this account number was appended, over every campaign. */
  rowCount(accountNumber: string): number {
    let n = 0;
    for (const list of this.contacts.values()) n += list.filter((c) => c.accountNumber === accountNumber).length;
    return n;
  }

  /** Appends applied (answered 2xx, or cut after being applied). */
  appliedAppends(campaignId?: number): RecordedAppend[] {
    return this.appends.filter(
      (a) =>
        (a.status === 200 || a.status === 202 || a.status === 0) &&
        (campaignId === undefined || a.campaignId === campaignId),
    );
  }

  /** One dialer attempt on the contact's phone (default Phone1): its result and the new status. */
  setResult(
    campaignId: number,
    accountNumber: string,
    result: { callResult: number; callStatus: UccxServerCallStatus; phone?: number },
  ): void {
    const contact = this.campaignContacts(campaignId).find((c) => c.accountNumber === accountNumber);
    if (!contact) throw new Error(`no contact ${accountNumber} in UCCX campaign ${campaignId}`);
    const phone = (result.phone ?? 1) - 1;
    contact.phoneResults[phone] = result.callResult;
    contact.callsMade[phone] = (contact.callsMade[phone] ?? 0) + 1;
    contact.callResult = result.callResult;
    contact.callStatus = result.callStatus;
  }

  /** The simulated dialer works every contact not yet closed once, as `decide` says. */
  dialAll(
    campaignId: number,
    decide: (contact: UccxServerContact) => { callResult: number; callStatus: UccxServerCallStatus },
  ): void {
    for (const contact of this.campaignContacts(campaignId)) {
      if (contact.callStatus === "CLOSED" || contact.callStatus === "MAX_CALLS") continue;
      this.setResult(campaignId, contact.accountNumber, decide(contact));
    }
  }

  // ------------------------------------------------------------------------------------------

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = (await readBody(req)).toString("utf8");
    const url = new URL(req.url ?? "/", this.baseUrl);
    const record = (status: number): void => {
      this.requests.push({ method: req.method ?? "", path: `${url.pathname}${url.search}`, status });
    };
    if (!this.authorized(req)) {
      res.setHeader("www-authenticate", 'Basic realm="adminapi"');
      return sendApiErrors(res, 401, [{ type: "UNAUTHORIZED", message: "Unauthorized" }]);
    }
    const match = /^\/adminapi\/campaign\/(\d+)\/contacts(\/status)?$/.exec(url.pathname);
    if (!match) {
      record(404);
      return sendApiErrors(res, 404, [{ type: "NOT_FOUND", message: `no resource ${url.pathname}` }]);
    }
    const campaignId = Number(match[1]);
    const list = this.contacts.get(campaignId);
    if (!list) {
      record(404);
      return sendApiErrors(res, 404, [{ type: "NOT_FOUND", message: `campaign ${campaignId} does not exist` }]);
    }
    if (match[2] && req.method === "GET") {
      record(200);
      return sendXml(res, 200, this.statusDetails(campaignId));
    }
    if (!match[2] && req.method === "GET") {
      if (this.takeListUnavailable()) {
        record(503);
        return sendApiErrors(res, 503, [{ type: "SERVICE_UNAVAILABLE", message: "Service Unavailable" }]);
      }
      record(200);
      return sendXml(res, 200, this.contactList(campaignId, list, url.searchParams.get("q")));
    }
    if (!match[2] && req.method === "DELETE") {
      list.length = 0;
      record(200);
      res.writeHead(200).end();
      return;
    }
    if (!match[2] && req.method === "POST") return this.handleAppend(campaignId, list, raw, req, res);
    record(405);
    return sendApiErrors(res, 405, [{ type: "METHOD_NOT_ALLOWED", message: `${req.method ?? ""} not allowed` }]);
  }

  private async handleAppend(
    campaignId: number,
    list: UccxServerContact[],
    body: string,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const record = (status: number, accountNumbers: string[]): void => {
      this.appends.push({ campaignId, accountNumbers, status });
      this.requests.push({ method: "POST", path: req.url ?? "", status });
    };
    if (this.refuseWhenBusy(res, "Too many requests are being processed; try again later.")) {
      record(503, []);
      return;
    }
    if (this.takeCut()) {
      record(-1, []);
      req.socket.destroy();
      return;
    }
    return this.inQueue(this.appendDelayMs, async () => {
      const parsed = parseAppend(body, `${this.baseUrl}/adminapi/campaign/${campaignId}`);
      if ("error" in parsed) {
        record(400, []);
        return sendApiErrors(res, 400, [{ type: "INVALID_INPUT", message: parsed.error }]);
      }
      const accountNumbers = parsed.rows.map((r) => csvField(parsed.header, r, "account number"));
      const complaints = this.withInjectedComplaints(
        accountNumbers,
        "Phone1",
        validateRows(parsed.header, parsed.rows),
      );
      if (complaints.length > 0) {
        record(400, accountNumbers);
        return sendRowComplaints(res, "INVALID_INPUT", complaints);
      }
      for (const r of parsed.rows) list.push(contactFrom(parsed.header, r));
      this.lastImport.set(campaignId, { result: "SUCCESS", imported: parsed.rows.length, at: Date.now() });
      if (this.takeDroppedAnswer()) {
        record(0, accountNumbers);
        req.socket.destroy();
        return;
      }
      const status = this.answerAccepted ? 202 : 200;
      record(status, accountNumbers);
      const self = `${this.baseUrl}/adminapi/campaign/${campaignId}`;
      if (status === 202) res.setHeader("location", `${self}/contacts/status`);
      sendXml(
        res,
        status,
        `<?xml version="1.0" encoding="UTF-8"?><campaignContacts><campaign><refURL>${self}</refURL></campaign><csvdata/></campaignContacts>`,
      );
    });
  }

  private contactList(campaignId: number, list: UccxServerContact[], q: string | null): string {
    const wanted = q?.trim().toUpperCase();
    const rows = list
      .filter((c) => !wanted || c.callStatus === wanted)
      .slice(0, this.maxListed)
      .map((c) =>
        [
          c.accountNumber,
          c.firstName,
          c.lastName,
          c.phones[0] ?? "",
          c.phones[1] ?? "",
          c.phones[2] ?? "",
          "",
          c.callResult,
          "",
          c.callStatus,
          ...[0, 1, 2].map((i) => c.phoneResults[i] ?? 0),
          c.phones.find((_, i) => (c.callsMade[i] ?? 0) > 0) ?? "",
          ...[0, 1, 2].map((i) => c.callsMade[i] ?? 0),
          c.callStatus === "RETRY" || c.callStatus === "RETRIES_WITH_DELAY",
          0,
        ].join(", "),
      );
    return (
      `<?xml version="1.0" encoding="UTF-8"?><campaignContacts><campaign>` +
      `<refURL>${this.baseUrl}/adminapi/campaign/${campaignId}</refURL></campaign>` +
      `<csvdata>${escapeXml([LIST_HEADER, ...rows].join("\n"))}\n</csvdata></campaignContacts>`
    );
  }

  private statusDetails(campaignId: number): string {
    const last = this.lastImport.get(campaignId);
    const status = last
      ? `<status importType="MANUAL"><result>${last.result}</result><startTime>${last.at}</startTime>` +
        `<numContactsImported>${last.imported}</numContactsImported></status>`
      : "";
    return (
      `<?xml version="1.0" encoding="UTF-8"?><statusDetails><self>${this.baseUrl}/adminapi/campaign/${campaignId}</self>` +
      `<campaignId>${campaignId}</campaignId><importStatus>${status}</importStatus></statusDetails>`
    );
  }
}

/** Starts a UCCX stand-in on an ephemeral port. */
export async function startCiscoUccxServer(opts: CiscoUccxServerOptions = {}): Promise<CiscoUccxServer> {
  return new CiscoUccxServer(opts).start();
}

function parseAppend(body: string, campaignUrl: string): { header: string[]; rows: string[][] } | { error: string } {
  if (!/<campaignContacts[\s>][\s\S]*<\/campaignContacts>\s*$/.test(body))
    return { error: "the body is no <campaignContacts>" };
  const refUrl = /<campaign[^>]*>\s*<refURL>([^<]*)<\/refURL>/.exec(body)?.[1];
  if (refUrl === undefined) return { error: "campaign refURL is required" };
  if (unescapeXml(refUrl).replace(/\/+$/, "") !== campaignUrl) {
    return { error: `campaign refURL ${refUrl} is not ${campaignUrl}` };
  }
  const csvdata = /<csvdata>([\s\S]*?)<\/csvdata>/.exec(body);
  if (!csvdata) return { error: "csvdata is required" };
  const lines = unescapeXml(csvdata[1] ?? "")
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  const [headerLine, ...dataLines] = lines;
  if (!headerLine) return { error: "csvdata has no header line" };
  const header = headerLine.split(",").map((h) => h.trim().toLowerCase().replace(/\s+/g, " "));
  const unknown = header.filter((h) => !KNOWN_COLUMNS.has(h));
  if (unknown.length > 0) return { error: `unsupported header(s): ${unknown.join(", ")}` };
  if (!header.includes("phone1")) return { error: "Phone1 is mandatory and must be specified" };
  return { header, rows: dataLines.map((l) => l.split(",").map((v) => v.trim())) };
}

function validateRows(header: string[], rows: string[][]): RowComplaint[] {
  const complaints: RowComplaint[] = [];
  rows.forEach((row, i) => {
    const accountNumber = csvField(header, row, "account number");
    const complain = (fieldName: string, message: string): void => {
      complaints.push({ row: i + 1, accountNumber, field: fieldName, message: `Row ${i + 1}: ${message}` });
    };
    if (row.length !== header.length) return complain("row", `${row.length} fields, the header has ${header.length}`);
    if (accountNumber.length > 30) complain("Account Number", "Account Number is longer than 30 characters");
    if (!csvField(header, row, "phone1")) complain("Phone1", "Phone1 is mandatory");
    for (const p of PHONE_COLUMNS.map((h) => csvField(header, row, h))) {
      if (p && !/^\d{3,20}$/.test(p)) complain("Phone1", `phone number ${p} is not digits`);
    }
  });
  return complaints;
}

function contactFrom(header: string[], row: string[]): UccxServerContact {
  const phones = PHONE_COLUMNS.map((h) => csvField(header, row, h)).filter((p) => p.length > 0);
  return {
    accountNumber: csvField(header, row, "account number"),
    firstName: csvField(header, row, "first name"),
    lastName: csvField(header, row, "last name"),
    phones,
    callStatus: "PENDING",
    callResult: 0,
    phoneResults: phones.map(() => 0),
    callsMade: phones.map(() => 0),
  };
}
