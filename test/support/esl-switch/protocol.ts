/**
 * The byte format of FreeSWITCH's Event Socket (mod_event_socket), server side: reading the
 * commands a client sends and writing replies and events exactly as FreeSWITCH writes them.
 *
 * Every message is `Name: Value` lines, a blank line, then `Content-Length` bytes of body.
 * Plain events URL-encode their header values; JSON events carry the body in `_body`.
 * This file is independent of the plugin's client on purpose: a framing bug shared by both
 * sides would pass every test.
 */

/** A command as a client sent it: the first line, its headers (keys lower-cased) and body. */
export interface EslCommand {
  line: string;
  headers: Map<string, string>;
  body: string;
}

/** Splits a client's byte stream into commands; feed it chunks as they arrive. */
export class CommandReader {
  #buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): EslCommand[] {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    const commands: EslCommand[] = [];
    for (;;) {
      const command = this.#next();
      if (command === undefined) return commands;
      commands.push(command);
    }
  }

  #next(): EslCommand | undefined {
    const end = this.#buffer.indexOf("\n\n");
    if (end < 0) return undefined;
    const lines = this.#buffer
      .subarray(0, end)
      .toString("utf8")
      .split("\n")
      .map((l) => l.replace(/\r$/, ""));
    const line = (lines.shift() ?? "").trim();
    const headers = new Map<string, string>();
    for (const raw of lines) {
      const colon = raw.indexOf(":");
      if (colon > 0) headers.set(raw.slice(0, colon).trim().toLowerCase(), raw.slice(colon + 1).trim());
    }
    const length = Number(headers.get("content-length") ?? 0);
    if (this.#buffer.length < end + 2 + length) return undefined;
    const body = this.#buffer.subarray(end + 2, end + 2 + length).toString("utf8");
    this.#buffer = this.#buffer.subarray(end + 2 + length);
    return { line, headers, body };
  }
}

export type Headers = [name: string, value: string][];

function headerBlock(headers: Headers): string {
  return headers.map(([k, v]) => `${k}: ${v}\n`).join("");
}

/** `Content-Type: <type>` plus headers, with a body and its Content-Length when given. */
export function message(contentType: string, headers: Headers = [], body?: string): Buffer {
  if (body === undefined) return Buffer.from(`Content-Type: ${contentType}\n${headerBlock(headers)}\n`);
  const bytes = Buffer.from(body, "utf8");
  return Buffer.concat([
    Buffer.from(`Content-Type: ${contentType}\n${headerBlock(headers)}Content-Length: ${bytes.length}\n\n`),
    bytes,
  ]);
}

export const AUTH_REQUEST = message("auth/request");

export function commandReply(replyText: string, extra: Headers = []): Buffer {
  return message("command/reply", [["Reply-Text", replyText], ...extra]);
}

export function apiResponse(body: string): Buffer {
  return message("api/response", [], body);
}

/** What FreeSWITCH sends before it closes a connection (after a failed auth or `exit`). */
export function disconnectNotice(): Buffer {
  return message("text/disconnect-notice", [], "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n");
}

/** FreeSWITCH's event serialisation: switch_url_encode keeps only unreserved characters. */
function urlEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** An event as `text/event-plain`: outer Content-Length first, as mod_event_socket writes it. */
export function plainEvent(headers: Headers, body?: string): Buffer {
  let inner = headers.map(([k, v]) => `${k}: ${urlEncode(v)}\n`).join("");
  if (body !== undefined) inner += `Content-Length: ${Buffer.byteLength(body, "utf8")}\n\n${body}`;
  else inner += "\n";
  const bytes = Buffer.from(inner, "utf8");
  return Buffer.concat([Buffer.from(`Content-Length: ${bytes.length}\nContent-Type: text/event-plain\n\n`), bytes]);
}

/** An event as `text/event-json`: headers as JSON string fields, the body in `_body`. */
export function jsonEvent(headers: Headers, body?: string): Buffer {
  const object: Record<string, string> = {};
  for (const [k, v] of headers) object[k] = v;
  if (body !== undefined) {
    object["Content-Length"] = String(Buffer.byteLength(body, "utf8"));
    object._body = body;
  }
  const bytes = Buffer.from(JSON.stringify(object), "utf8");
  return Buffer.concat([Buffer.from(`Content-Length: ${bytes.length}\nContent-Type: text/event-json\n\n`), bytes]);
}
