/**
 * A real SMTP server (the `smtp-server` package) on an ephemeral port, for plugin and
 * end-to-end tests: point the `email-smtp` plugin's `host`/`port` at `server.host`/`server.port`.
 *
 * - Records every accepted message: envelope (MAIL FROM, RCPT TO), DSN parameters (RET, ENVID,
 *   NOTIFY, ORCPT; advertised unless `dsn: false`), Message-ID, headers, raw body and the
 *   decoded text/html parts.
 * - `failNext(code)` makes the next transaction fail with that SMTP reply code, at RCPT TO
 *   (default) or after DATA.
 * - Optional AUTH (PLAIN/LOGIN over plain text, as a local test server may allow).
 * - `dsnReport()` builds the RFC 3464 report an MTA would send back for a message, and
 *   `signedWebhookRequest()` wraps it as the hub's email webhook expects it.
 */
import { createHmac } from "node:crypto";
import type { AddressInfo } from "node:net";
import { SMTPServer, type SMTPServerAddress, type SMTPServerSession } from "smtp-server";
import type { InboundRequest } from "@dialmesh/sdk";

export interface SmtpDsnParams {
  /** RET from MAIL FROM: FULL or HDRS. */
  ret: string | null;
  /** ENVID from MAIL FROM. */
  envid: string | null;
  /** NOTIFY per recipient, e.g. ["SUCCESS", "FAILURE", "DELAY"]. */
  notify: Record<string, string[]>;
  /** ORCPT per recipient, e.g. "rfc822;ada@example.com". */
  orcpt: Record<string, string>;
}

export interface ReceivedMail {
  envelope: { mailFrom: string; rcptTo: string[] };
  /** Undefined when the server did not advertise DSN or the client sent no DSN parameters. */
  dsn: SmtpDsnParams | undefined;
  messageId: string | undefined;
  /** Top-level headers, names lower-cased, folded lines joined. */
  headers: Record<string, string>;
  /** The whole message as received. */
  raw: string;
  /** The message body (after the header block), still MIME-encoded. */
  body: string;
  /** Decoded text/plain part, if any. */
  text: string | undefined;
  /** Decoded text/html part, if any. */
  html: string | undefined;
  /** The AUTH user of the session, if any. */
  user: string | undefined;
  receivedAt: number;
}

export interface LocalSmtpServerOptions {
  /** Advertise DSN (default true). */
  dsn?: boolean;
  /** Require AUTH with these credentials. */
  auth?: { user: string; pass: string };
  /** Host to bind (default 127.0.0.1). */
  host?: string;
  /** Port to bind (default 0: ephemeral). */
  port?: number;
  /** How long stop() lets open client connections finish before closing them (default 500 ms). */
  closeTimeoutMs?: number;
}

export interface FailSpec {
  code: number;
  message?: string;
  /** Where to fail: at RCPT TO (default) or after the message data. */
  stage?: "rcpt" | "data";
}

interface DsnEnvelope {
  dsn?: { ret: string | null; envid: string | null };
}
interface DsnAddress {
  dsn?: { notify?: string[]; orcpt?: string };
}

function smtpError(code: number, message: string): Error & { responseCode: number } {
  return Object.assign(new Error(message), { responseCode: code });
}

// ---------------------------------------------------------------------------------------------
// A little MIME, enough to read what nodemailer writes.

export function parseHeaderBlock(block: string): Record<string, string> {
  const headers: Record<string, string> = {};
  const lines = block.split(/\r?\n/);
  let current: string | undefined;
  for (const line of lines) {
    if (/^[ \t]/.test(line) && current !== undefined) {
      headers[current] += ` ${line.trim()}`;
      continue;
    }
    const idx = line.indexOf(":");
    if (idx <= 0) continue;
    current = line.slice(0, idx).trim().toLowerCase();
    headers[current] = line.slice(idx + 1).trim();
  }
  return headers;
}

export function splitEntity(raw: string): { headers: Record<string, string>; body: string } {
  const m = /\r?\n\r?\n/.exec(raw);
  if (!m) return { headers: parseHeaderBlock(raw), body: "" };
  return { headers: parseHeaderBlock(raw.slice(0, m.index)), body: raw.slice(m.index + m[0].length) };
}

function param(value: string | undefined, name: string): string | undefined {
  if (!value) return undefined;
  const m = new RegExp(`;\\s*${name}\\s*=\\s*(?:"([^"]*)"|([^;\\s]+))`, "i").exec(value);
  return m ? (m[1] ?? m[2]) : undefined;
}

function decodeBody(body: string, encoding: string | undefined): string {
  const enc = (encoding ?? "7bit").toLowerCase();
  if (enc === "base64") return Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
  if (enc === "quoted-printable") {
    const bytes = Buffer.from(
      body
        .replace(/=\r?\n/g, "")
        .replace(/=([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))),
      "latin1",
    );
    return bytes.toString("utf8");
  }
  return body;
}

function collectParts(raw: string, out: { text?: string; html?: string }): void {
  const { headers, body } = splitEntity(raw);
  const type = (headers["content-type"] ?? "text/plain").toLowerCase();
  if (type.startsWith("multipart/")) {
    const boundary = param(headers["content-type"], "boundary");
    if (!boundary) return;
    const pieces = body.split(
      new RegExp(`\\r?\\n?--${boundary.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?:--)?[ \\t]*\\r?\\n?`),
    );
    for (const piece of pieces.slice(1)) if (piece.trim()) collectParts(piece, out);
    return;
  }
  const text = decodeBody(body, headers["content-transfer-encoding"]).replace(/\r\n/g, "\n");
  if (type.startsWith("text/plain") && out.text === undefined) out.text = text;
  if (type.startsWith("text/html") && out.html === undefined) out.html = text;
}

// ---------------------------------------------------------------------------------------------

export class LocalSmtpServer {
  readonly options: LocalSmtpServerOptions;
  readonly messages: ReceivedMail[] = [];
  /** Transactions refused through failNext, with the reply code. */
  readonly refused: { code: number; stage: "rcpt" | "data"; rcptTo: string[] }[] = [];
  host = "127.0.0.1";
  port = 0;
  private server: SMTPServer | undefined;
  private failures: FailSpec[] = [];
  private waiters: { count: number; resolve: () => void }[] = [];
  private acceptHook: ((mail: ReceivedMail) => Promise<void>) | undefined;

  constructor(options: LocalSmtpServerOptions = {}) {
    this.options = options;
  }

  /**
   * Starts listening; resolves with the bound port. After stop(), start() binds the same port
   * again (a server that went down and came back).
   */
  async start(): Promise<number> {
    const auth = this.options.auth;
    const server = new SMTPServer({
      hideDSN: this.options.dsn === false,
      disabledCommands: auth ? ["STARTTLS"] : ["STARTTLS", "AUTH"],
      authOptional: !auth,
      allowInsecureAuth: true,
      logger: false,
      closeTimeout: this.options.closeTimeoutMs ?? 500,
      banner: "dialmesh test SMTP",
      onAuth: (a, _session, callback) => {
        if (auth && a.username === auth.user && a.password === auth.pass) callback(null, { user: a.username });
        else callback(smtpError(535, "5.7.8 Authentication credentials invalid"));
      },
      onRcptTo: (address: SMTPServerAddress, session: SMTPServerSession, callback) => {
        const next = this.failures[0];
        if (next && (next.stage ?? "rcpt") === "rcpt") {
          this.failures.shift();
          this.refused.push({ code: next.code, stage: "rcpt", rcptTo: [address.address] });
          callback(smtpError(next.code, next.message ?? defaultMessage(next.code)));
          return;
        }
        void session;
        callback();
      },
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("end", () => {
          const next = this.failures[0];
          if (next && next.stage === "data") {
            this.failures.shift();
            this.refused.push({
              code: next.code,
              stage: "data",
              rcptTo: session.envelope.rcptTo.map((r) => r.address),
            });
            callback(smtpError(next.code, next.message ?? defaultMessage(next.code)));
            return;
          }
          const mail = this.record(Buffer.concat(chunks).toString("utf8"), session);
          const hook = this.acceptHook;
          if (!hook) return callback();
          hook(mail).then(
            () => callback(),
            () => callback(),
          );
        });
      },
    });
    server.on("error", () => {
      /* client errors are the client's business in tests */
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port || (this.options.port ?? 0), this.options.host ?? "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    const address = server.server.address() as AddressInfo;
    this.host = address.address;
    this.port = address.port;
    this.server = server;
    return this.port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The next transaction fails with `code` (e.g. 550 or 451). Calls queue up. */
  failNext(code: number, opts: { message?: string; stage?: "rcpt" | "data" } = {}): void {
    this.failures.push({ code, ...opts });
  }

  /**
   * Runs `hook` on each message after it is recorded and before the server answers 250, so a
   * test can make something happen while the client waits for that answer (a database crash
   * between the vendor's acceptance and the hub's record). `undefined` removes it.
   */
  beforeAccepting(hook: ((mail: ReceivedMail) => Promise<void>) | undefined): void {
    this.acceptHook = hook;
  }

  /**
   * Answers the next `after` messages as usual, then holds every answer (the messages are
   * recorded) until the returned function is called: senders are then certainly mid-send, for a
   * test that kills one of them there. Sends to a local server otherwise take milliseconds.
   */
  holdAnswersAfter(after: number): () => void {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let left = after;
    this.beforeAccepting(async () => {
      if (left-- > 0) return;
      await released;
    });
    return () => {
      this.beforeAccepting(undefined);
      release();
    };
  }

  /** Number of messages accepted so far. */
  get acceptedCount(): number {
    return this.messages.length;
  }

  /** Resolves once `count` messages in total have been accepted. */
  waitForMessages(count: number, timeoutMs = 10_000): Promise<void> {
    if (this.messages.length >= count) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`SMTP server: ${this.messages.length} of ${count} messages after ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.push({
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  /** Forgets received messages and pending failures. */
  reset(): void {
    this.messages.length = 0;
    this.refused.length = 0;
    this.failures = [];
  }

  private record(raw: string, session: SMTPServerSession): ReceivedMail {
    const { headers, body } = splitEntity(raw);
    const parts: { text?: string; html?: string } = {};
    collectParts(raw, parts);
    const env = session.envelope as SMTPServerSession["envelope"] & DsnEnvelope;
    const rcpts = session.envelope.rcptTo as (SMTPServerAddress & DsnAddress)[];
    const hasDsn =
      env.dsn !== undefined && (env.dsn.envid !== null || env.dsn.ret !== null || rcpts.some((r) => r.dsn));
    const dsn: SmtpDsnParams | undefined =
      hasDsn && env.dsn
        ? {
            ret: env.dsn.ret,
            envid: env.dsn.envid,
            notify: Object.fromEntries(rcpts.filter((r) => r.dsn?.notify).map((r) => [r.address, r.dsn?.notify ?? []])),
            orcpt: Object.fromEntries(rcpts.filter((r) => r.dsn?.orcpt).map((r) => [r.address, r.dsn?.orcpt ?? ""])),
          }
        : undefined;
    const mailFrom = session.envelope.mailFrom;
    const mail: ReceivedMail = {
      envelope: { mailFrom: mailFrom ? mailFrom.address : "", rcptTo: rcpts.map((r) => r.address) },
      dsn,
      messageId: headers["message-id"],
      headers,
      raw,
      body,
      text: parts.text,
      html: parts.html,
      user: typeof session.user === "string" ? session.user : undefined,
      receivedAt: Date.now(),
    };
    this.messages.push(mail);
    const ready = this.waiters.filter((w) => this.messages.length >= w.count);
    this.waiters = this.waiters.filter((w) => this.messages.length < w.count);
    for (const w of ready) w.resolve();
    return mail;
  }
}

function defaultMessage(code: number): string {
  if (code >= 500) return "5.1.1 Mailbox unavailable";
  if (code === 421) return "4.3.2 Service not available, closing channel";
  return "4.3.0 Temporary failure, try again later";
}

/** Creates and starts a local SMTP server. */
export async function startSmtpServer(options: LocalSmtpServerOptions = {}): Promise<LocalSmtpServer> {
  const server = new LocalSmtpServer(options);
  await server.start();
  return server;
}

// ---------------------------------------------------------------------------------------------
// Delivery status notifications (RFC 3464), as a receiving MTA would send them back.

export interface DsnReportSpec {
  action: "delivered" | "failed" | "delayed" | "relayed" | "expanded";
  /** Enhanced status code; default 2.0.0 for delivered, 5.1.1 for failed, 4.4.7 for delayed. */
  status?: string;
  recipient: string;
  /** ENVID the message was sent with (the plugin uses the attemptId). */
  envelopeId?: string;
  /** Message-ID of the original message, returned in the text/rfc822-headers part. */
  messageId?: string;
  /** e.g. "smtp; 550 5.1.1 User unknown". */
  diagnosticCode?: string;
  /** Only the message/delivery-status part instead of the whole multipart/report. */
  bare?: boolean;
  /** Include the message's own header block (From, Subject, Content-Type) before the body. */
  withMessageHeaders?: boolean;
}

/** The report and its content type. */
export function dsnReport(spec: DsnReportSpec): { contentType: string; body: string } {
  const status = spec.status ?? (spec.action === "failed" ? "5.1.1" : spec.action === "delayed" ? "4.4.7" : "2.0.0");
  const date = new Date().toUTCString();
  const perMessage = [
    "Reporting-MTA: dns; mx.example.net",
    ...(spec.envelopeId ? [`Original-Envelope-Id: ${spec.envelopeId}`] : []),
    `Arrival-Date: ${date}`,
  ];
  const perRecipient = [
    `Original-Recipient: rfc822;${spec.recipient}`,
    `Final-Recipient: rfc822;${spec.recipient}`,
    `Action: ${spec.action}`,
    `Status: ${status}`,
    ...(spec.diagnosticCode ? [`Diagnostic-Code: ${spec.diagnosticCode}`] : []),
    `Last-Attempt-Date: ${date}`,
  ];
  const deliveryStatus = `${perMessage.join("\r\n")}\r\n\r\n${perRecipient.join("\r\n")}\r\n`;
  if (spec.bare) return { contentType: "message/delivery-status", body: deliveryStatus };
  const boundary = "dsn-boundary-7f2de712";
  const contentType = `multipart/report; report-type=delivery-status; boundary="${boundary}"`;
  const human =
    spec.action === "delivered"
      ? `Your message to ${spec.recipient} was delivered.`
      : `Your message to ${spec.recipient} could not be delivered (${spec.action}, ${status}).`;
  const parts = [
    `--${boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n${human}\r\n`,
    `--${boundary}\r\nContent-Type: message/delivery-status\r\n\r\n${deliveryStatus}`,
    ...(spec.messageId
      ? [
          `--${boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: ${spec.messageId}\r\nSubject: original\r\n`,
        ]
      : []),
    `--${boundary}--\r\n`,
  ];
  const multipart = parts.join("\r\n");
  if (spec.withMessageHeaders) {
    return {
      contentType: "message/rfc822",
      body: `From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\nSubject: Delivery Status Notification\r\nMIME-Version: 1.0\r\nContent-Type: ${contentType}\r\n\r\n${multipart}`,
    };
  }
  return { contentType, body: multipart };
}

/** `sha256=<hex HMAC-SHA256 of body with secret>`, the X-Dialmesh-Signature value. */
export function signBody(body: string | Buffer, secret: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** A webhook request carrying `report`, signed with `secret` (or with `signature` as given). */
export function signedWebhookRequest(
  report: { contentType: string; body: string },
  secret: string | undefined,
  opts: { url?: string; signature?: string } = {},
): InboundRequest {
  const rawBody = Buffer.from(report.body, "utf8");
  const signature = opts.signature ?? (secret === undefined ? undefined : signBody(rawBody, secret));
  return {
    method: "POST",
    url: opts.url ?? "https://hub.test/webhooks/mail",
    headers: { "content-type": report.contentType, "x-dialmesh-signature": signature },
    query: {},
    rawBody,
  };
}
