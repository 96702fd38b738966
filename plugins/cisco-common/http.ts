/**
 * Shared by the Cisco plugins: one HTTP Basic request to a Cisco REST API (the UCCE AW's
 * Unified Config API, the UCCX Admin API; both answer errors as `<apiErrors>`). Errors come
 * back as a CiscoApiError whose `kind` says what the caller may do next; the credentials are
 * only ever in the Authorization header.
 */
import { child, childText, descendants, parseXml, toInt, type XmlElement } from "./xml.ts";

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

/** Whether the request may be sent again as it is (nothing applied, or a lost answer to reconcile). */
export function isTransient(err: CiscoApiError): boolean {
  return err.kind === "unavailable" || err.kind === "not-sent" || err.kind === "answer-lost";
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

/** Network errors where the request certainly never reached the server. */
const NOT_SENT_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

/** Seconds of a Retry-After header, as ms. */
function retryAfterMs(header: string | null): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

export interface CiscoHttpOptions {
  baseUrl: string;
  username: string;
  password: string;
  timeoutMs: number;
  /** The server as messages name it, e.g. "Cisco AW". */
  serverName: string;
}

export class CiscoHttp {
  readonly baseUrl: string;
  private readonly authorization: string;
  private readonly timeoutMs: number;
  private readonly serverName: string;

  constructor(opts: CiscoHttpOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, "");
    this.authorization = `Basic ${Buffer.from(`${opts.username}:${opts.password}`).toString("base64")}`;
    this.timeoutMs = opts.timeoutMs;
    this.serverName = opts.serverName;
  }

  private networkError(err: unknown, what: string): CiscoApiError {
    const cause = typeof err === "object" && err !== null ? (err as { cause?: unknown }).cause : undefined;
    const code =
      typeof cause === "object" && cause !== null
        ? (cause as { code?: unknown }).code
        : (err as { code?: unknown }).code;
    const name = typeof err === "object" && err !== null ? (err as { name?: unknown }).name : undefined;
    if (typeof code === "string" && NOT_SENT_CODES.has(code)) {
      return new CiscoApiError("not-sent", `cannot reach the ${this.serverName} (${code})`);
    }
    const label = typeof code === "string" ? code : name === "TimeoutError" ? "timeout" : "connection lost";
    return new CiscoApiError("answer-lost", `no answer from the ${this.serverName} to ${what} (${label})`);
  }

  /** The body of a 2xx answer; any other answer or a network failure throws a CiscoApiError. */
  async request(
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
      throw this.networkError(err, what);
    }
    let text: string;
    try {
      text = await response.text();
    } catch (err) {
      throw this.networkError(err, what);
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
      throw new CiscoApiError(
        "unavailable",
        `${this.serverName} unavailable for the ${what} (HTTP ${status}${suffix})`,
        {
          httpStatus: status,
          ...(after !== undefined ? { retryAfterMs: after } : {}),
        },
      );
    }
    throw new CiscoApiError("other", `Cisco answered the ${what} with HTTP ${status}${suffix}`, { httpStatus: status });
  }
}
