/**
 * A local server that speaks the WhatsApp Business Cloud API messages endpoint of the Graph
 * API, for plugin and end-to-end tests: point the plugin's `graphBaseUrl` at `server.baseUrl`.
 *
 * - `POST /{version}/{phoneNumberId}/messages`, JSON, `Authorization: Bearer <token>`.
 * - Answers `{ messaging_product: "whatsapp", contacts: [{ input, wa_id }], messages: [{ id: "wamid..." }] }`.
 * - Errors use Graph's body `{ error: { message, type, code, error_data, error_subcode, fbtrace_id } }`;
 *   tests can queue them.
 * - Builds webhook POSTs in the real Cloud API shape, signed with `X-Hub-Signature-256`
 *   (`sha256=` HMAC of the raw body with the app secret), and the GET verification handshake.
 */
import { createHmac, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { InboundRequest } from "@dialmesh/sdk";

export interface GraphErrorSpec {
  /** HTTP status of the error response. */
  status: number;
  code: number;
  message: string;
  type?: string;
  subcode?: number;
  details?: string;
}

/** Ready-made errors, as the Cloud API sends them. */
export const GRAPH_ERRORS = {
  rateLimited: (): GraphErrorSpec => ({
    status: 429,
    code: 130429,
    message: "(#130429) Rate limit hit",
    details: "Cloud API message throughput has been reached.",
  }),
  undeliverable: (): GraphErrorSpec => ({
    status: 400,
    code: 131026,
    message: "(#131026) Message Undeliverable.",
    details: "Message Undeliverable.",
  }),
  reEngagement: (): GraphErrorSpec => ({
    status: 400,
    code: 131047,
    message: "(#131047) Re-engagement message",
    details:
      "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
  }),
  unsupported: (): GraphErrorSpec => ({
    status: 400,
    code: 131051,
    message: "(#131051) Unsupported message type",
  }),
  tokenInvalid: (): GraphErrorSpec => ({
    status: 401,
    code: 190,
    type: "OAuthException",
    message: "Invalid OAuth access token - Cannot parse access token",
  }),
  serverError: (): GraphErrorSpec => ({
    status: 500,
    code: 131000,
    message: "(#131000) Something went wrong",
  }),
  unavailable: (): GraphErrorSpec => ({
    status: 503,
    code: 2,
    message: "(#2) Service temporarily unavailable",
  }),
} satisfies Record<string, () => GraphErrorSpec>;

export interface RecordedGraphMessage {
  id: string;
  phoneNumberId: string;
  version: string;
  to: string;
  type: string;
  /** The JSON body as received. */
  body: Record<string, unknown>;
  receivedAt: number;
}

export interface GraphServerOptions {
  accessToken?: string;
  phoneNumberId?: string;
  appSecret?: string;
  verifyToken?: string;
  /** WhatsApp Business Account id used in webhook payloads. */
  wabaId?: string;
  displayPhoneNumber?: string;
}

export interface StatusSpec {
  id: string;
  status: "sent" | "delivered" | "read" | "failed" | "played" | (string & {});
  recipientId?: string;
  timestamp?: Date;
  errors?: { code: number; title: string; message?: string; details?: string }[];
}

export interface InboundMessageSpec {
  /** Sender in WhatsApp form (digits, no +); a leading + is stripped. */
  from: string;
  id?: string;
  timestamp?: Date;
  text?: string;
  /** Media message instead of text. */
  media?: {
    type: "image" | "audio" | "video" | "document" | "sticker";
    id: string;
    mimeType?: string;
    caption?: string;
  };
  /** Quick-reply button press. */
  button?: { text: string; payload?: string };
  profileName?: string;
}

export class GraphTestServer {
  readonly accessToken: string;
  readonly phoneNumberId: string;
  readonly appSecret: string;
  readonly verifyToken: string;
  readonly wabaId: string;
  readonly displayPhoneNumber: string;
  readonly messages: RecordedGraphMessage[] = [];
  readonly requests: { receivedAt: number; status: number; body: unknown }[] = [];
  private readonly failures: GraphErrorSpec[] = [];
  private server: Server | undefined;
  private url = "";

  constructor(opts: GraphServerOptions = {}) {
    this.accessToken = opts.accessToken ?? `EAAG${randomBytes(24).toString("hex")}`;
    this.phoneNumberId = opts.phoneNumberId ?? String(100_000_000_000_000 + Math.floor(Math.random() * 1e12));
    this.appSecret = opts.appSecret ?? randomBytes(16).toString("hex");
    this.verifyToken = opts.verifyToken ?? randomBytes(12).toString("hex");
    this.wabaId = opts.wabaId ?? "102290129340398";
    this.displayPhoneNumber = opts.displayPhoneNumber ?? "15550783881";
  }

  /** `http://127.0.0.1:<port>`: the plugin's `graphBaseUrl`. */
  get baseUrl(): string {
    return this.url;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        sendError(res, { status: 500, code: 1, message: `An unknown error occurred: ${String(err)}` });
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

  /** The next message request (after authentication) gets this error instead. */
  failNext(error: GraphErrorSpec, times = 1): void {
    for (let i = 0; i < times; i++) this.failures.push(error);
  }

  /** Options for the `whatsapp-cloud` plugin that point at this server. */
  pluginOptions(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      phoneNumberId: this.phoneNumberId,
      accessToken: this.accessToken,
      appSecret: this.appSecret,
      verifyToken: this.verifyToken,
      graphBaseUrl: this.baseUrl,
      ...extra,
    };
  }

  /** A webhook POST carrying `value` (one change of field `messages`), signed with the app secret. */
  webhook(publicUrl: string, value: Record<string, unknown>, opts: { appSecret?: string } = {}): InboundRequest {
    const payload = {
      object: "whatsapp_business_account",
      entry: [
        {
          id: this.wabaId,
          changes: [
            {
              value: {
                messaging_product: "whatsapp",
                metadata: { display_phone_number: this.displayPhoneNumber, phone_number_id: this.phoneNumberId },
                ...value,
              },
              field: "messages",
            },
          ],
        },
      ],
    };
    return signedGraphRequest(opts.appSecret ?? this.appSecret, publicUrl, JSON.stringify(payload));
  }

  /** A signed status webhook (`statuses[]`). */
  statusWebhook(publicUrl: string, statuses: StatusSpec[], opts: { appSecret?: string } = {}): InboundRequest {
    return this.webhook(
      publicUrl,
      {
        statuses: statuses.map((s) => {
          const recipient = s.recipientId ?? this.messages.find((m) => m.id === s.id)?.to ?? "16315551234";
          const base: Record<string, unknown> = {
            id: s.id,
            status: s.status,
            timestamp: unixSeconds(s.timestamp),
            recipient_id: recipient.replace(/^\+/, ""),
          };
          if (s.errors) {
            base.errors = s.errors.map((e) => ({
              code: e.code,
              title: e.title,
              message: e.message ?? e.title,
              error_data: { details: e.details ?? e.title },
              href: "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
            }));
          } else if (s.status !== "read") {
            base.conversation = {
              id: randomBytes(16).toString("hex"),
              origin: { type: "utility" },
              ...(s.status === "sent" ? { expiration_timestamp: unixSeconds(new Date(Date.now() + 86_400_000)) } : {}),
            };
            base.pricing = { billable: true, pricing_model: "PMP", category: "utility" };
          }
          return base;
        }),
      },
      opts,
    );
  }

  /** A signed inbound-message webhook (`contacts[]` and `messages[]`). */
  messageWebhook(publicUrl: string, messages: InboundMessageSpec[], opts: { appSecret?: string } = {}): InboundRequest {
    const first = messages[0];
    return this.webhook(
      publicUrl,
      {
        contacts: first
          ? [{ profile: { name: first.profileName ?? "Customer" }, wa_id: first.from.replace(/^\+/, "") }]
          : [],
        messages: messages.map((m) => {
          const base: Record<string, unknown> = {
            from: m.from.replace(/^\+/, ""),
            id: m.id ?? newWamid(),
            timestamp: unixSeconds(m.timestamp),
          };
          if (m.media) {
            base.type = m.media.type;
            base[m.media.type] = {
              id: m.media.id,
              mime_type: m.media.mimeType ?? "image/jpeg",
              sha256: randomBytes(32).toString("base64"),
              ...(m.media.caption !== undefined ? { caption: m.media.caption } : {}),
            };
          } else if (m.button) {
            base.type = "button";
            base.button = { text: m.button.text, payload: m.button.payload ?? m.button.text };
          } else {
            base.type = "text";
            base.text = { body: m.text ?? "" };
          }
          return base;
        }),
      },
      opts,
    );
  }

  /** The GET verification handshake Meta performs when the webhook URL is configured. */
  verification(
    publicUrl: string,
    opts: { verifyToken?: string; mode?: string; challenge?: string } = {},
  ): InboundRequest {
    const url = new URL(publicUrl);
    url.searchParams.set("hub.mode", opts.mode ?? "subscribe");
    url.searchParams.set("hub.challenge", opts.challenge ?? String(Math.floor(Math.random() * 1e9)));
    url.searchParams.set("hub.verify_token", opts.verifyToken ?? this.verifyToken);
    return {
      method: "GET",
      url: url.href,
      headers: { "user-agent": "facebookplatform/1.0 (+http://developers.facebook.com)" },
      query: Object.fromEntries(url.searchParams),
      rawBody: Buffer.alloc(0),
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const url = new URL(req.url ?? "/", this.url);
    const match = /^\/(v\d+\.\d+)\/([^/]+)\/messages$/.exec(url.pathname);
    if (!match || req.method !== "POST") {
      return sendError(res, {
        status: 400,
        code: 100,
        type: "GraphMethodException",
        subcode: 33,
        message: `Unsupported ${req.method?.toLowerCase() ?? ""} request. Object with ID '${url.pathname}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
      });
    }
    const auth = req.headers.authorization;
    if (auth !== `Bearer ${this.accessToken}`) {
      this.requests.push({ receivedAt: Date.now(), status: 401, body: undefined });
      return sendError(res, GRAPH_ERRORS.tokenInvalid());
    }
    const [, version = "", phoneNumberId = ""] = match;
    if (phoneNumberId !== this.phoneNumberId) {
      return sendError(res, {
        status: 400,
        code: 100,
        type: "GraphMethodException",
        subcode: 33,
        message: `Unsupported post request. Object with ID '${phoneNumberId}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
      });
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw.toString("utf8")) as Record<string, unknown>;
    } catch {
      return sendError(res, {
        status: 400,
        code: 100,
        message: "(#100) Invalid parameter",
        details: "body is not JSON",
      });
    }
    const receivedAt = Date.now();
    const error = this.failures.shift() ?? validate(body);
    this.requests.push({ receivedAt, status: error ? error.status : 200, body });
    if (error) return sendError(res, error);

    const to = String(body.to);
    const id = newWamid();
    this.messages.push({ id, phoneNumberId, version, to, type: String(body.type ?? "text"), body, receivedAt });
    const message: Record<string, unknown> = { id };
    if (body.type === "template") message.message_status = "accepted";
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify({
        messaging_product: "whatsapp",
        contacts: [{ input: to, wa_id: to.replace(/\D/g, "") }],
        messages: [message],
      }),
    );
  }
}

/** Starts a Graph API (Cloud API messages) server on an ephemeral port. */
export async function startGraphServer(opts: GraphServerOptions = {}): Promise<GraphTestServer> {
  return new GraphTestServer(opts).start();
}

/** `sha256=` HMAC of `rawBody` with `appSecret`, as Meta puts in X-Hub-Signature-256. */
export function hubSignature(appSecret: string, rawBody: Buffer | string): string {
  return `sha256=${createHmac("sha256", appSecret).update(rawBody).digest("hex")}`;
}

/** A JSON POST to `publicUrl` with Meta's X-Hub-Signature-256. */
export function signedGraphRequest(appSecret: string, publicUrl: string, body: string): InboundRequest {
  const rawBody = Buffer.from(body, "utf8");
  const url = new URL(publicUrl);
  return {
    method: "POST",
    url: publicUrl,
    headers: {
      "content-type": "application/json",
      "x-hub-signature-256": hubSignature(appSecret, rawBody),
      "user-agent": "facebookexternalua",
    },
    query: Object.fromEntries(url.searchParams),
    rawBody,
  };
}

export function newWamid(): string {
  return `wamid.${Buffer.from(`HBgL${randomBytes(18).toString("hex")}`).toString("base64")}`;
}

function unixSeconds(date: Date | undefined): string {
  return String(Math.floor((date ?? new Date()).getTime() / 1000));
}

function validate(body: Record<string, unknown>): GraphErrorSpec | undefined {
  const invalid = (details: string): GraphErrorSpec => ({
    status: 400,
    code: 100,
    message: "(#100) Invalid parameter",
    details,
  });
  if (body.messaging_product !== "whatsapp") return invalid("messaging_product must be 'whatsapp'");
  if (typeof body.to !== "string" || !/^\+?[1-9]\d{6,14}$/.test(body.to)) return invalid("Invalid 'to' parameter");
  const type = body.type ?? "text";
  if (type === "text") {
    const text = body.text as { body?: unknown } | undefined;
    if (typeof text?.body !== "string" || text.body.length === 0) {
      return { status: 400, code: 131008, message: "(#131008) Required parameter is missing", details: "text.body" };
    }
    if (text.body.length > 4096) return invalid("text.body is longer than 4096 characters");
    return undefined;
  }
  if (type === "template") {
    const template = body.template as { name?: unknown; language?: { code?: unknown } } | undefined;
    if (typeof template?.name !== "string" || typeof template.language?.code !== "string") {
      return { status: 400, code: 131008, message: "(#131008) Required parameter is missing", details: "template" };
    }
    return undefined;
  }
  if (
    ["image", "audio", "video", "document", "sticker", "interactive", "location", "contacts", "reaction"].includes(
      String(type),
    )
  ) {
    return undefined;
  }
  return GRAPH_ERRORS.unsupported();
}

function sendError(res: ServerResponse, error: GraphErrorSpec): void {
  res.writeHead(error.status, {
    "content-type": "application/json",
    ...(error.status === 401 ? { "www-authenticate": 'OAuth "Facebook Platform" "invalid_token"' } : {}),
  });
  res.end(
    JSON.stringify({
      error: {
        message: error.message,
        type: error.type ?? "OAuthException",
        code: error.code,
        ...(error.details ? { error_data: { messaging_product: "whatsapp", details: error.details } } : {}),
        ...(error.subcode !== undefined ? { error_subcode: error.subcode } : {}),
        fbtrace_id: randomBytes(8).toString("base64url"),
      },
    }),
  );
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
