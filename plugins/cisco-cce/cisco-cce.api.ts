/**
 * Private to the cisco-cce plugin: the Unified Config API calls it makes at the AW (HTTP
 * Basic, XML): import contacts, list them, delete them, read runtime stats. Errors come back
 * as a CiscoApiError whose `kind` says what the caller may do next; the credentials are only
 * ever in the Authorization header.
 */
import { child, childText, descendants, escapeXml, parseXml, type XmlElement } from "./cisco-cce.xml.ts";

export type CiscoErrorKind =
  /** 503 (queue at capacity) or another 5xx: nothing was applied, try again later. */
  | "unavailable"
  /** The request never left (refused, no route): nothing was applied. */
  | "not-sent"
  /** The request went out but no answer came back: Cisco may have applied it. */
  | "answer-lost"
  | "auth"
  | "not-found"
  /** 400: the body names what was wrong. */
  | "rejected"
  | "other";

/** A 400's complaint about one data row (1-based, the header not counted). */
export interface RowError {
  row?: number;
  accountNumber?: string;
  message: string;
}

export class CiscoApiError extends Error {
  readonly kind: CiscoErrorKind;
  readonly httpStatus: number | undefined;
  readonly retryAfterMs: number | undefined;
  readonly rowErrors: RowError[];

  constructor(
    kind: CiscoErrorKind,
    message: string,
    opts: { httpStatus?: number; retryAfterMs?: number; rowErrors?: RowError[] } = {},
  ) {
    super(message);
    this.name = "CiscoApiError";
    this.kind = kind;
    this.httpStatus = opts.httpStatus;
    this.retryAfterMs = opts.retryAfterMs;
    this.rowErrors = opts.rowErrors ?? [];
  }
}

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

/** Network errors where the request certainly never reached the AW. */
const NOT_SENT_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

/** The largest page the Unified Config API serves. */
export const MAX_RESULTS_PER_PAGE = 100;

export function importBody(csv: string): string {
  // A CDATA section cannot hold "]]>"; the CSV fields never do (contacts.ts strips them).
  const content = csv.includes("]]>") ? escapeXml(csv) : `<![CDATA[${csv}]]>`;
  return `<import><fileContent>${content}</fileContent><delimiter>,</delimiter><overwriteData>false</overwriteData></import>`;
}

function toInt(text: string | undefined, fallback: number): number {
  const n = Number.parseInt(text ?? "", 10);
  return Number.isFinite(n) ? n : fallback;
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

/** `<apiErrors><apiError>` items (either case, as Cisco's services differ), one per complaint. */
export function parseApiErrors(xml: string): RowError[] {
  let doc: XmlElement;
  try {
    doc = parseXml(xml);
  } catch {
    return [];
  }
  const items = [...descendants(doc, "apiError"), ...descendants(doc, "APIError")];
  return items.map((item) => {
    const message =
      childText(item, "errorMessage") ??
      childText(item, "ErrorMessage") ??
      childText(item, "errorType") ??
      childText(item, "ErrorType") ??
      "invalid input";
    const detail = child(item, "errorDetail") ?? child(item, "ErrorDetail");
    const rowText = childText(detail, "row") ?? /\brow (\d+)/i.exec(message)?.[1];
    const accountNumber = childText(detail, "accountNumber");
    return {
      message,
      ...(rowText !== undefined ? { row: toInt(rowText, 0) } : {}),
      ...(accountNumber ? { accountNumber } : {}),
    };
  });
}

/** Seconds of a Retry-After header, as ms. */
function retryAfterMs(header: string | null): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

function networkError(err: unknown, what: string): CiscoApiError {
  const cause = typeof err === "object" && err !== null ? (err as { cause?: unknown }).cause : undefined;
  const code =
    typeof cause === "object" && cause !== null ? (cause as { code?: unknown }).code : (err as { code?: unknown }).code;
  const name = typeof err === "object" && err !== null ? (err as { name?: unknown }).name : undefined;
  if (typeof code === "string" && NOT_SENT_CODES.has(code)) {
    return new CiscoApiError("not-sent", `cannot reach the Cisco AW (${code})`);
  }
  const label = typeof code === "string" ? code : name === "TimeoutError" ? "timeout" : "connection lost";
  return new CiscoApiError("answer-lost", `no answer from the Cisco AW to ${what} (${label})`);
}

export class CiscoAwClient {
  private readonly baseUrl: string;
  private readonly authorization: string;
  private readonly timeoutMs: number;

  constructor(opts: CiscoAwClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, "");
    this.authorization = `Basic ${Buffer.from(`${opts.username}:${opts.password}`).toString("base64")}`;
    this.timeoutMs = opts.timeoutMs;
  }

  private campaignPath(campaignId: number, tail: string): string {
    return `${this.baseUrl}/unifiedconfig/config/campaign/${campaignId}/${tail}`;
  }

  private async request(
    method: string,
    url: string,
    what: string,
    opts: { body?: string; timeoutMs?: number } = {},
  ): Promise<string> {
    const body = opts.body;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          authorization: this.authorization,
          accept: "application/xml",
          ...(body !== undefined ? { "content-type": "application/xml" } : {}),
        },
        ...(body !== undefined ? { body } : {}),
        signal: AbortSignal.timeout(opts.timeoutMs ?? this.timeoutMs),
      });
    } catch (err) {
      throw networkError(err, what);
    }
    let text: string;
    try {
      text = await response.text();
    } catch (err) {
      throw networkError(err, what);
    }
    if (response.ok) return text;
    const complaints = parseApiErrors(text);
    const said = complaints.map((c) => c.message).join("; ");
    const suffix = said ? `: ${said}` : "";
    const status = response.status;
    if (status === 400) {
      throw new CiscoApiError("rejected", `Cisco refused the ${what} (HTTP 400${suffix})`, {
        httpStatus: status,
        rowErrors: complaints,
      });
    }
    if (status === 401 || status === 403) {
      throw new CiscoApiError("auth", `Cisco refused the credentials (HTTP ${status})`, { httpStatus: status });
    }
    if (status === 404) {
      throw new CiscoApiError("not-found", `Cisco knows no such campaign (HTTP 404${suffix})`, { httpStatus: status });
    }
    if (status >= 500) {
      const after = retryAfterMs(response.headers.get("retry-after"));
      throw new CiscoApiError("unavailable", `Cisco AW unavailable for the ${what} (HTTP ${status}${suffix})`, {
        httpStatus: status,
        ...(after !== undefined ? { retryAfterMs: after } : {}),
      });
    }
    throw new CiscoApiError("other", `Cisco answered the ${what} with HTTP ${status}${suffix}`, { httpStatus: status });
  }

  /** Appends the contacts of `csv` to the campaign (`overwriteData` false). */
  async importContacts(campaignId: number, csv: string, timeoutMs?: number): Promise<void> {
    await this.request("POST", this.campaignPath(campaignId, "import"), "import", {
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
    return parseContactPage(await this.request("GET", url, "list", timeoutMs !== undefined ? { timeoutMs } : {}));
  }

  /** Every imported contact of the campaign, page by page. */
  async allContacts(campaignId: number, timeoutMs?: number): Promise<ImportedContact[]> {
    const out: ImportedContact[] = [];
    for (let start = 0; ;) {
      const page = await this.listContacts(campaignId, start, MAX_RESULTS_PER_PAGE, timeoutMs);
      out.push(...page.contacts);
      start += page.contacts.length;
      if (page.contacts.length === 0 || start >= page.totalResults) return out;
    }
  }

  /** Deletes every imported contact of the campaign (Cisco has no single-record delete). */
  async deleteContacts(campaignId: number): Promise<void> {
    await this.request("DELETE", this.campaignPath(campaignId, "import"), "flush");
  }

  /** The campaign's runtime counters (`attemptedCount`, `voiceCount`, ...). */
  async runtimeStats(campaignId: number): Promise<Record<string, number>> {
    const doc = parseXml(await this.request("GET", this.campaignPath(campaignId, "runtimestats"), "runtime stats"));
    const stats: Record<string, number> = {};
    const root = doc.children[0];
    for (const c of root?.children ?? []) {
      const n = Number(c.text.trim());
      if (c.children.length === 0 && Number.isFinite(n)) stats[c.name] = n;
    }
    return stats;
  }
}
