/**
 * A local server that speaks Twilio's Programmable Messaging REST API (the parts the
 * `sms-twilio` plugin uses), for plugin and end-to-end tests: point the plugin's `baseUrl`
 * at `server.baseUrl`.
 *
 * - `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded, HTTP basic auth
 *   `accountSid:authToken` (401 with Twilio's error body otherwise).
 * - Answers 201 with Twilio's JSON message resource (`sid` `SM` + 32 hex, `status` `queued`,
 *   or `accepted` when sent through a Messaging Service).
 * - Errors use Twilio's body `{ code, message, more_info, status }`; tests can queue them.
 * - Builds status callbacks and inbound messages signed exactly as Twilio signs them
 *   (`X-Twilio-Signature`, via the SDK's `getExpectedTwilioSignature`).
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import twilio from "twilio";
import type { InboundRequest } from "@dialmesh/sdk";

export interface TwilioErrorSpec {
  /** HTTP status of the error response. */
  status: number;
  /** Twilio error code, e.g. 21211. */
  code: number;
  message: string;
  /** Extra response headers (e.g. Retry-After). */
  headers?: Record<string, string>;
}

export interface RecordedTwilioMessage {
  sid: string;
  accountSid: string;
  to: string;
  from: string | undefined;
  messagingServiceSid: string | undefined;
  body: string | undefined;
  statusCallback: string | undefined;
  /** All form parameters as received. */
  params: Record<string, string>;
  /** Date.now() when the request arrived. */
  receivedAt: number;
}

export interface TwilioServerOptions {
  accountSid?: string;
  authToken?: string;
}

/** Ready-made error responses, as Twilio sends them. */
export const TWILIO_ERRORS = {
  invalidTo: (to = "+1555") => ({
    status: 400,
    code: 21211,
    message: `Invalid 'To' Phone Number: ${to}`,
  }),
  optedOut: () => ({
    status: 400,
    code: 21610,
    message: "Attempt to send to unsubscribed recipient",
  }),
  tooManyRequests: () => ({
    status: 429,
    code: 20429,
    message: "Too Many Requests",
  }),
  serviceUnavailable: () => ({
    status: 503,
    code: 20503,
    message: "Service Unavailable",
  }),
  whatsappWindow: () => ({
    status: 400,
    code: 63016,
    message: "Failed to send freeform message because you are outside the allowed window.",
  }),
} satisfies Record<string, (...args: string[]) => TwilioErrorSpec>;

const PHONE = /^(?:whatsapp:)?\+[1-9]\d{6,14}$/;

export class TwilioTestServer {
  readonly accountSid: string;
  readonly authToken: string;
  /** Messages accepted (201), in order. */
  readonly messages: RecordedTwilioMessage[] = [];
  /** Every Messages.json request that passed authentication, accepted or not. */
  readonly requests: { receivedAt: number; params: Record<string, string>; status: number }[] = [];
  private readonly failures: TwilioErrorSpec[] = [];
  private server: Server | undefined;
  private url = "";

  constructor(opts: TwilioServerOptions = {}) {
    this.accountSid = opts.accountSid ?? `AC${randomBytes(16).toString("hex")}`;
    this.authToken = opts.authToken ?? randomBytes(16).toString("hex");
  }

  /** `http://127.0.0.1:<port>`: the plugin's `baseUrl`. */
  get baseUrl(): string {
    return this.url;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ code: 20500, message: String(err), more_info: moreInfo(20500), status: 500 }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The next Messages.json request (after authentication) gets this error instead. */
  failNext(error: TwilioErrorSpec, times = 1): void {
    for (let i = 0; i < times; i++) this.failures.push(error);
  }

  /** Options for the `sms-twilio` plugin that point at this server. */
  pluginOptions(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { accountSid: this.accountSid, authToken: this.authToken, baseUrl: this.baseUrl, ...extra };
  }

  /** A status callback for `messageSid`, signed as Twilio signs it, posted to `publicUrl`. */
  statusCallback(
    publicUrl: string,
    messageSid: string,
    status: string,
    opts: {
      errorCode?: string | number;
      to?: string;
      from?: string;
      authToken?: string;
      extra?: Record<string, string>;
    } = {},
  ): InboundRequest {
    const params: Record<string, string> = {
      AccountSid: this.accountSid,
      ApiVersion: "2010-04-01",
      From: opts.from ?? this.messages.find((m) => m.sid === messageSid)?.from ?? "+15005550006",
      To: opts.to ?? this.messages.find((m) => m.sid === messageSid)?.to ?? "+15005550010",
      MessageSid: messageSid,
      SmsSid: messageSid,
      SmsStatus: status,
      MessageStatus: status,
      ...(opts.errorCode !== undefined ? { ErrorCode: String(opts.errorCode) } : {}),
      ...opts.extra,
    };
    return signedTwilioRequest(opts.authToken ?? this.authToken, publicUrl, params);
  }

  /** An inbound message (customer to us), signed as Twilio signs it. */
  inboundMessage(
    publicUrl: string,
    from: string,
    body: string,
    opts: { to?: string; messageSid?: string; media?: { url: string; contentType: string }[]; authToken?: string } = {},
  ): InboundRequest {
    const sid = opts.messageSid ?? newSid("SM");
    const media = opts.media ?? [];
    const params: Record<string, string> = {
      ToCountry: "US",
      SmsMessageSid: sid,
      NumMedia: String(media.length),
      SmsSid: sid,
      SmsStatus: "received",
      Body: body,
      To: opts.to ?? "+15005550006",
      NumSegments: "1",
      MessageSid: sid,
      AccountSid: this.accountSid,
      From: from,
      ApiVersion: "2010-04-01",
    };
    media.forEach((m, i) => {
      params[`MediaUrl${i}`] = m.url;
      params[`MediaContentType${i}`] = m.contentType;
    });
    return signedTwilioRequest(opts.authToken ?? this.authToken, publicUrl, params);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const url = new URL(req.url ?? "/", this.url);
    const match = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(url.pathname);
    if (!match || req.method !== "POST") {
      return sendError(res, {
        status: 404,
        code: 20404,
        message: `The requested resource ${url.pathname} was not found`,
      });
    }
    if (!this.authorized(req.headers.authorization) || match[1] !== this.accountSid) {
      return sendError(res, {
        status: 401,
        code: 20003,
        message: "Authentication Error - invalid username",
      });
    }
    const params = Object.fromEntries(new URLSearchParams(raw.toString("utf8")));
    const receivedAt = Date.now();
    const failure = this.failures.shift();
    const error = failure ?? validate(params);
    this.requests.push({ receivedAt, params, status: error ? error.status : 201 });
    if (error) return sendError(res, error);

    const sid = newSid("SM");
    const viaService = params.MessagingServiceSid !== undefined && params.From === undefined;
    this.messages.push({
      sid,
      accountSid: this.accountSid,
      to: params.To ?? "",
      from: params.From,
      messagingServiceSid: params.MessagingServiceSid,
      body: params.Body,
      statusCallback: params.StatusCallback,
      params,
      receivedAt,
    });
    const now = new Date().toUTCString().replace("GMT", "+0000");
    const resource = {
      account_sid: this.accountSid,
      api_version: "2010-04-01",
      body: params.Body ?? "",
      date_created: now,
      date_sent: null,
      date_updated: now,
      direction: "outbound-api",
      error_code: null,
      error_message: null,
      from: params.From ?? null,
      messaging_service_sid: params.MessagingServiceSid ?? null,
      num_media: "0",
      num_segments: "1",
      price: null,
      price_unit: "USD",
      sid,
      status: viaService ? "accepted" : "queued",
      subresource_uris: { media: `/2010-04-01/Accounts/${this.accountSid}/Messages/${sid}/Media.json` },
      to: params.To,
      uri: `/2010-04-01/Accounts/${this.accountSid}/Messages/${sid}.json`,
    };
    res.writeHead(201, { "content-type": "application/json" });
    res.end(JSON.stringify(resource));
  }

  private authorized(header: string | undefined): boolean {
    if (!header?.startsWith("Basic ")) return false;
    const decoded = Buffer.from(header.slice(6), "base64").toString("utf8");
    return decoded === `${this.accountSid}:${this.authToken}`;
  }
}

/** Starts a Twilio-compatible server on an ephemeral port. */
export async function startTwilioServer(opts: TwilioServerOptions = {}): Promise<TwilioTestServer> {
  return new TwilioTestServer(opts).start();
}

/** A form POST to `publicUrl` carrying `params`, with Twilio's `X-Twilio-Signature`. */
export function signedTwilioRequest(
  authToken: string,
  publicUrl: string,
  params: Record<string, string>,
): InboundRequest {
  const rawBody = Buffer.from(new URLSearchParams(params).toString(), "utf8");
  const url = new URL(publicUrl);
  return {
    method: "POST",
    url: publicUrl,
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "x-twilio-signature": twilio.getExpectedTwilioSignature(authToken, publicUrl, params),
      "i-twilio-idempotency-token": randomBytes(16).toString("hex"),
      "user-agent": "TwilioProxy/1.1",
    },
    query: Object.fromEntries(url.searchParams),
    rawBody,
  };
}

export function newSid(prefix: string): string {
  return `${prefix}${randomBytes(16).toString("hex")}`;
}

function validate(params: Record<string, string>): TwilioErrorSpec | undefined {
  if (!params.To) return { status: 400, code: 21604, message: "A 'To' phone number is required." };
  if (!PHONE.test(params.To)) return TWILIO_ERRORS.invalidTo(params.To);
  if (!params.From && !params.MessagingServiceSid) {
    return { status: 400, code: 21603, message: "A 'From' phone number is required." };
  }
  if (!params.Body && !params.MediaUrl && !params.ContentSid) {
    return { status: 400, code: 21602, message: "Message body is required." };
  }
  if ((params.Body ?? "").length > 1600) {
    return { status: 400, code: 21617, message: "The concatenated message body exceeds the 1600 character limit." };
  }
  return undefined;
}

function moreInfo(code: number): string {
  return `https://www.twilio.com/docs/errors/${code}`;
}

function sendError(res: ServerResponse, error: TwilioErrorSpec): void {
  res.writeHead(error.status, { "content-type": "application/json", ...error.headers });
  res.end(
    JSON.stringify({ code: error.code, message: error.message, more_info: moreInfo(error.code), status: error.status }),
  );
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
