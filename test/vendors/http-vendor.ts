/**
 * What the local vendor HTTP servers share: listening on an ephemeral loopback port, stopping
 * (cutting open connections), reading a body, checking HTTP Basic, and XML text escaping.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface ListeningServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * Serves `handle` on 127.0.0.1 (ephemeral port). A handler that throws gets `onError` (when
 * nothing was answered yet), so a bug shows as an answer rather than a hung request.
 */
export async function listen(
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  onError: (res: ServerResponse, err: unknown) => void,
): Promise<ListeningServer> {
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) onError(res, err);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop() {
      closed ??= new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      return closed;
    },
  };
}

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Whether `header` is HTTP Basic for exactly these credentials. */
export function isBasicAuth(header: string | undefined, username: string, password: string): boolean {
  if (!header?.startsWith("Basic ")) return false;
  return Buffer.from(header.slice(6), "base64").toString("utf8") === `${username}:${password}`;
}

export function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export function unescapeXml(text: string): string {
  return text
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, "&");
}

export function sendXml(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": "application/xml" }).end(body);
}

export interface ApiError {
  type: string;
  message: string;
  data?: string;
  /** Inner XML of `<errorDetail>`, as is. */
  detail?: string;
}

/** Answers `<apiErrors>`, as the Cisco REST APIs answer errors (UCCE Unified Config, UCCX Admin API). */
export function sendApiErrors(res: ServerResponse, status: number, errors: ApiError[]): void {
  const items = errors
    .map(
      (e) =>
        `<apiError>${e.data !== undefined ? `<errorData>${escapeXml(e.data)}</errorData>` : ""}` +
        `${e.detail !== undefined ? `<errorDetail>${e.detail}</errorDetail>` : ""}` +
        `<errorMessage>${escapeXml(e.message)}</errorMessage><errorType>${escapeXml(e.type)}</errorType></apiError>`,
    )
    .join("");
  sendXml(res, status, `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><apiErrors>${items}</apiErrors>`);
}

/** The field of a delimited row under the (lower-cased) header `name`; "" when absent. */
export function csvField(header: string[], row: string[], name: string): string {
  const i = header.indexOf(name);
  return i < 0 ? "" : (row[i] ?? "");
}
