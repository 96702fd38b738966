/**
 * Reading delivery status notifications (RFC 3464) as an MTA posts them to the hub:
 * - a `multipart/report; report-type=delivery-status` body (HTTP Content-Type names the boundary),
 * - the whole bounce message (its own header block first; HTTP Content-Type `message/rfc822`,
 *   `text/plain` or none),
 * - or only the `message/delivery-status` part.
 * Only what the plugin needs is read: the per-message and per-recipient fields, and the
 * Message-ID of the returned headers (`text/rfc822-headers` or `message/rfc822` part).
 */

export interface DsnRecipient {
  /** delivered | failed | delayed | relayed | expanded (lower case). */
  action: string;
  /** Enhanced status code, e.g. `5.1.1`. */
  status: string | undefined;
  finalRecipient: string | undefined;
  originalRecipient: string | undefined;
  /** e.g. `smtp; 550 5.1.1 User unknown`. */
  diagnosticCode: string | undefined;
  lastAttemptDate: Date | undefined;
}

export interface DsnReport {
  /** Original-Envelope-Id (the ENVID given at MAIL FROM), xtext-decoded. */
  envelopeId: string | undefined;
  /** Message-ID of the original message, from the returned headers. */
  messageId: string | undefined;
  reportingMta: string | undefined;
  arrivalDate: Date | undefined;
  recipients: DsnRecipient[];
}

interface Entity {
  headers: Record<string, string>;
  body: string;
}

function parseFields(block: string): Record<string, string> {
  const fields: Record<string, string> = {};
  let current: string | undefined;
  for (const line of block.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && current !== undefined) {
      fields[current] += ` ${line.trim()}`;
      continue;
    }
    const idx = line.indexOf(":");
    if (idx <= 0) continue;
    current = line.slice(0, idx).trim().toLowerCase();
    fields[current] = line.slice(idx + 1).trim();
  }
  return fields;
}

function splitEntity(raw: string): Entity {
  const m = /\r?\n[ \t]*\r?\n/.exec(raw);
  if (!m) return { headers: parseFields(raw), body: "" };
  return { headers: parseFields(raw.slice(0, m.index)), body: raw.slice(m.index + m[0].length) };
}

function mediaType(contentType: string | undefined): string {
  return (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}

function param(contentType: string | undefined, name: string): string | undefined {
  if (!contentType) return undefined;
  const m = new RegExp(`;\\s*${name}\\s*=\\s*(?:"([^"]*)"|([^;\\s]+))`, "i").exec(contentType);
  return m ? (m[1] ?? m[2]) : undefined;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function decode(entity: Entity): string {
  const enc = (entity.headers["content-transfer-encoding"] ?? "").trim().toLowerCase();
  if (enc === "base64") return Buffer.from(entity.body.replace(/\s+/g, ""), "base64").toString("utf8");
  if (enc === "quoted-printable") {
    return Buffer.from(
      entity.body
        .replace(/=\r?\n/g, "")
        .replace(/=([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))),
      "latin1",
    ).toString("utf8");
  }
  return entity.body;
}

function multipartParts(entity: Entity): Entity[] {
  const boundary = param(entity.headers["content-type"], "boundary");
  if (!boundary) return [];
  const delimiter = new RegExp(`^--${escapeRegExp(boundary)}(--)?[ \\t]*$`);
  const parts: string[][] = [];
  let current: string[] | undefined;
  for (const line of entity.body.split(/\r?\n/)) {
    const m = delimiter.exec(line);
    if (m) {
      if (current) parts.push(current);
      current = m[1] ? undefined : [];
      if (m[1]) break;
      continue;
    }
    current?.push(line);
  }
  if (current) parts.push(current);
  return parts.map((lines) => splitEntity(lines.join("\r\n")));
}

interface Found {
  deliveryStatus?: string;
  returnedHeaders?: string;
}

function walk(entity: Entity, found: Found, depth: number): void {
  if (depth > 5) return;
  const type = mediaType(entity.headers["content-type"]);
  if (type.startsWith("multipart/")) {
    for (const part of multipartParts(entity)) walk(part, found, depth + 1);
  } else if (type === "message/delivery-status" || type === "message/global-delivery-status") {
    found.deliveryStatus ??= decode(entity);
  } else if (type === "text/rfc822-headers" || type === "message/rfc822" || type === "message/global-headers") {
    // The returned original (headers only, or the whole message): only its headers matter.
    found.returnedHeaders ??= headerBlock(decode(entity));
  }
}

function headerBlock(raw: string): string {
  const m = /\r?\n[ \t]*\r?\n/.exec(raw);
  return m ? raw.slice(0, m.index) : raw;
}

const DSN_FIELD = /^(Reporting-MTA|Original-Envelope-Id|Final-Recipient|Original-Recipient|Action|Arrival-Date)\s*:/im;

function decodeXtext(value: string): string {
  return value.replace(/\+([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** `rfc822; ada@example.com` -> `ada@example.com`. */
function addressOf(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const idx = value.indexOf(";");
  return (idx >= 0 ? value.slice(idx + 1) : value).trim() || undefined;
}

function dateOf(value: string | undefined): Date | undefined {
  if (!value) return undefined;
  const d = new Date(value.replace(/\s*\([^)]*\)\s*$/, ""));
  return Number.isNaN(d.getTime()) ? undefined : d;
}

function parseDeliveryStatus(text: string): Omit<DsnReport, "messageId"> {
  const groups = text
    .split(/\r?\n[ \t]*\r?\n/)
    .map((g) => g.trim())
    .filter((g) => g.length > 0)
    .map(parseFields);
  const perMessage: Record<string, string> = {};
  const recipients: DsnRecipient[] = [];
  for (const fields of groups) {
    if (fields["action"] === undefined) {
      Object.assign(perMessage, fields);
      continue;
    }
    recipients.push({
      action: fields["action"].trim().toLowerCase(),
      status: /\d\.\d{1,3}\.\d{1,3}/.exec(fields["status"] ?? "")?.[0],
      finalRecipient: addressOf(fields["final-recipient"]),
      originalRecipient: addressOf(fields["original-recipient"]),
      diagnosticCode: fields["diagnostic-code"],
      lastAttemptDate: dateOf(fields["last-attempt-date"]),
    });
  }
  const envid = perMessage["original-envelope-id"]?.trim();
  return {
    envelopeId: envid ? decodeXtext(envid) : undefined,
    reportingMta: addressOf(perMessage["reporting-mta"]),
    arrivalDate: dateOf(perMessage["arrival-date"]),
    recipients,
  };
}

/**
 * Parses a DSN posted to the webhook. `contentType` is the HTTP Content-Type. Returns
 * undefined when the body holds no delivery-status fields.
 */
export function parseDsnReport(rawBody: Buffer | string, contentType: string | undefined): DsnReport | undefined {
  const raw = typeof rawBody === "string" ? rawBody : rawBody.toString("utf8");
  const type = mediaType(contentType);
  const found: Found = {};
  if (
    type.startsWith("multipart/") ||
    type === "message/delivery-status" ||
    type === "message/global-delivery-status"
  ) {
    walk({ headers: { "content-type": contentType ?? "" }, body: raw }, found, 0);
  } else {
    // A whole message with its own headers, or a bare delivery-status body without a type.
    const entity = splitEntity(raw);
    if (entity.headers["content-type"] !== undefined) walk(entity, found, 0);
    if (found.deliveryStatus === undefined && DSN_FIELD.test(raw)) found.deliveryStatus = raw;
  }
  if (found.deliveryStatus === undefined) return undefined;
  const report = parseDeliveryStatus(found.deliveryStatus);
  if (report.recipients.length === 0) return undefined;
  const messageId = found.returnedHeaders ? parseFields(found.returnedHeaders)["message-id"]?.trim() : undefined;
  return { ...report, messageId: messageId || undefined };
}
