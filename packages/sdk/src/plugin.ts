/**
 * The plugin contract: what an integrator implements to carry a channel for a vendor.
 * A plugin folder holds `plugin.json` (validated against schemas/plugin-manifest.schema.json)
 * and an entry module whose default export is a {@link PluginFactory}. The manifest schema ships
 * with this package (`@dialmesh/sdk/plugin-manifest.schema.json`).
 */
import { types } from "node:util";
import type { Collection, Document, GridFSBucket } from "mongodb";
import type { AttemptStatus, VoiceOutcome } from "./status.ts";
import type { VoiceControl } from "./voice.ts";

export type Channel = "email" | "sms" | "whatsapp" | "voice" | (string & {});

/** JSON Schema object (draft 2020-12), kept opaque to the SDK. */
export type JsonSchema = Record<string, unknown>;

export interface PluginManifest {
  /** Plugin kind, e.g. `email-smtp`; config instances refer to it with `use`. */
  name: string;
  version: string;
  description?: string;
  channels: Channel[];
  /**
   * Per channel, a JSON Schema the instance options must satisfy for the instance to carry it
   * (e.g. WhatsApp only with a whatsapp: sender). Channels without one need nothing more.
   */
  channelOptions?: Partial<Record<Channel, JsonSchema>>;
  /** Path of the entry module relative to the plugin folder. */
  entry: string;
  capabilities: PluginCapabilities;
  /** JSON Schema of the instance options. */
  optionsSchema: JsonSchema;
  /** Option names whose values are secrets: never logged or returned by the API. */
  secretOptions?: string[];
}

export interface PluginCapabilities {
  /** Emits DELIVERED (DSN, delivery receipts). */
  deliveryReceipts?: boolean;
  /** Emits READ. */
  readReceipts?: boolean;
  /** Turns customer messages into replies. */
  replies?: boolean;
  /** Receives vendor webhooks at POST/GET /webhooks/<instanceId>. */
  webhooks?: boolean;
  /**
   * Sending twice with the same `attemptId` reaches the customer once (the vendor or the
   * receiver dedupes on it). When false, an attempt whose outcome a crash left unknown is
   * failed with OUTCOME_UNKNOWN rather than sent again.
   */
  idempotentSend?: boolean;
}

export interface Logger {
  debug(msg: string, data?: Record<string, unknown>): void;
  info(msg: string, data?: Record<string, unknown>): void;
  warn(msg: string, data?: Record<string, unknown>): void;
  error(msg: string, data?: Record<string, unknown>): void;
}

export interface Customer {
  id: string;
  firstName?: string;
  lastName?: string;
  email?: string;
  /** E.164, normalised by the hub. */
  phone?: string;
  timezone?: string;
  attributes?: Record<string, unknown>;
}

export interface TemplateContent {
  name: string;
  language: string;
  /** Placeholders already filled from the customer. */
  parameters?: string[];
}

export interface MessageContent {
  subject?: string;
  text?: string;
  html?: string;
  template?: TemplateContent;
}

export interface SendRequest {
  /** Unique per attempt; stable across a crash-recovery resend. Use it as the vendor idempotency key. */
  attemptId: string;
  activityId: string;
  conversationId: string;
  campaignId?: string;
  channel: Channel;
  customer: Customer;
  /** Placeholders already filled. */
  content: MessageContent;
  /**
   * When the customer last wrote on this channel, if the caller already knows it. The hub does
   * not look it up for every send: a plugin that needs it (the WhatsApp 24-hour window) falls
   * back to `context.conversations.lastInboundAt`.
   */
  lastInboundAt?: Date;
}

export interface SendResult {
  /** Status the vendor has confirmed so far: usually QUEUED or SENT. */
  status: AttemptStatus;
  /** The vendor's message or call id; status callbacks refer to it. */
  vendorId: string;
  detail?: string;
}

/**
 * Marks a PluginError. The hub recognises errors by this brand and their `code`, not by
 * `instanceof`: a plugin installed with its own copy of the SDK (or running in another vm
 * realm, as under jest) throws errors of a different class object.
 */
const PLUGIN_ERROR_BRAND = Symbol.for("@dialmesh/sdk/PluginError");

export type PluginErrorStatus = "FAILED" | "BLOCKED" | "EXPIRED";

export interface PluginErrorOptions {
  retryable?: boolean;
  status?: PluginErrorStatus;
  optOut?: boolean;
  retryAfterMs?: number;
  cause?: unknown;
}

/** Typed plugin failure. Throw it from `send`; anything else is treated as retryable. */
export class PluginError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly status: PluginErrorStatus;
  /** The vendor says the customer opted out: the hub adds the address to the suppression list. */
  readonly optOut: boolean;
  readonly retryAfterMs: number | undefined;
  readonly [PLUGIN_ERROR_BRAND] = true;

  constructor(code: string, message: string, opts: PluginErrorOptions = {}) {
    super(message, { cause: opts.cause });
    this.name = "PluginError";
    this.code = code;
    this.retryable = opts.retryable ?? false;
    this.status = opts.status ?? "FAILED";
    this.optOut = opts.optOut ?? false;
    this.retryAfterMs = opts.retryAfterMs;
  }
}

/**
 * True for any Error, from any realm: `instanceof Error` is false for errors made by Node in
 * another vm context (jest runs tests in one), so error handling must not depend on it.
 */
export function isError(value: unknown): value is Error {
  return types.isNativeError(value) || value instanceof Error;
}

/** True for a PluginError from any copy of the SDK (brand and a string `code`). */
export function isPluginError(value: unknown): value is PluginError {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<PropertyKey, unknown>;
  return v[PLUGIN_ERROR_BRAND] === true && typeof v.code === "string";
}

/** A request that reached /webhooks/<instanceId>, as received. */
export interface InboundRequest {
  method: "GET" | "POST";
  /** Full public URL (api.publicUrl + path + query), what vendors sign. */
  url: string;
  headers: Record<string, string | undefined>;
  query: Record<string, string>;
  rawBody: Buffer;
}

export interface InboundResponse {
  status: number;
  body?: string;
  contentType?: string;
}

/** Events a plugin reports, in the canonical vocabulary. */
export type CanonicalEvent =
  | {
      kind: "status";
      vendorId: string;
      /** The hub's activity id (SendRequest.activityId), when the plugin kept it: found without a search. */
      activityId?: string;
      status: AttemptStatus;
      reasonCode?: string;
      reason?: string;
      retryable?: boolean;
      /** The vendor's raw status or result code. */
      raw: string;
      at: Date;
    }
  | {
      kind: "call-result";
      vendorId: string;
      /** The hub's activity id (SendRequest.activityId), when the plugin kept it: found without a search. */
      activityId?: string;
      outcome: VoiceOutcome;
      raw: string;
      at: Date;
      /** Seconds the customer talked (answer to hang-up). */
      talkSeconds?: number;
      /** The agent the call was bridged to. */
      agentId?: string;
      reasonCode?: string;
      reason?: string;
      /** Overrides the default (NO_ANSWER and BUSY are retryable, other outcomes not). */
      retryable?: boolean;
      /** Earliest retry, e.g. from the campaign's retry rule for this outcome. */
      retryAfterMs?: number;
    }
  | {
      kind: "reply";
      channel: Channel;
      /** E.164 phone or email address of the customer. */
      from: string;
      text: string;
      media?: string[];
      vendorId: string;
      at: Date;
    }
  | {
      kind: "opt-out" | "opt-in";
      channel: Channel;
      address: string;
      reason: string;
      at: Date;
    };

export interface InboundResult {
  response: InboundResponse;
  /** Empty when the request was rejected (bad signature): nothing is recorded. */
  events: CanonicalEvent[];
}

export interface PluginHealth {
  ok: boolean;
  detail?: string;
}

export interface ConversationLookup {
  /** Last inbound message from this address on this channel, if any. */
  lastInboundAt(channel: Channel, address: string): Promise<Date | undefined>;
}

export interface RateLimiter {
  /**
   * Resolves when one more send under `key` is allowed, across all hub nodes: at most
   * `perWindow` in each window of `windowMs` (default 1,000: `perWindow` is then per second).
   * Windows are fixed (aligned to the epoch); for a vendor limit over a sliding window of W,
   * use windows of W/k with floor(limit/(k+1)) each, which no sliding W can exceed.
   */
  acquire(key: string, perWindow: number, windowMs?: number): Promise<void>;
}

export interface PluginContext<Options> {
  /** Instance id from the config (`plugins[].id`); its webhook path is /webhooks/<instanceId>. */
  instanceId: string;
  options: Options;
  logger: Logger;
  /** api.publicUrl + /webhooks/<instanceId>: give it to the vendor for callbacks. */
  webhookUrl: string;
  /** Folder for the plugin's own state (sessions, caches). */
  dataDir: string;
  rateLimiter: RateLimiter;
  conversations: ConversationLookup;
  /** Reports events the plugin receives on its own (sockets, polling) rather than by webhook. */
  emit(events: CanonicalEvent[]): Promise<void>;
  /**
   * The plugin's own storage in the hub's database: collections and GridFS buckets whose names
   * carry this instance's prefix, so that state follows the plugin to another node (e.g.
   * whatsapp-web sessions) without the plugin seeing the hub's collections. Optional: a hub or
   * test kit without a database leaves it out, and plugins that need it say so clearly.
   */
  storage?: PluginStorage;
}

/** A storage scope of one plugin instance. */
export interface PluginStorage {
  /** Prefix of every collection and bucket of this instance, e.g. `plugin_wa_`. */
  readonly prefix: string;
  /** The collection `<prefix><name>`. */
  collection<T extends Document = Document>(name: string): Collection<T>;
  /** The GridFS bucket `<prefix><name>` (collections `<prefix><name>.files` and `.chunks`). */
  bucket(name: string): GridFSBucket;
}

export interface ChannelPlugin {
  send(request: SendRequest): Promise<SendResult>;
  /** Verifies and maps a vendor webhook. Required when `capabilities.webhooks` is set. */
  handleInbound?(request: InboundRequest): Promise<InboundResult>;
  health(): Promise<PluginHealth>;
  /** Plugin-specific read-only endpoints under /api/v1/plugins/<id>/<name> (e.g. `qr`). */
  views?: Record<string, () => Promise<unknown>>;
  /**
   * Plugin-specific operations, `POST /api/v1/plugins/<id>/actions/<name>` with a JSON body
   * (e.g. cisco-cce's `flush`). The input is the body as received: validate it, and throw a
   * PluginError (not retryable) for bad input, which the API answers with a 400.
   */
  actions?: Record<string, (input: unknown) => Promise<unknown>>;
  /**
   * Live call control, for voice plugins that drive a switch: the hub's dialer service paces
   * and places the calls through it instead of calling `send` (see voice.ts).
   */
  voice?: VoiceControl;
  start?(): Promise<void>;
  stop?(): Promise<void>;
}

export type PluginFactory<Options = Record<string, unknown>> = (
  context: PluginContext<Options>,
) => ChannelPlugin | Promise<ChannelPlugin>;

/** Typed helper for plugin authors: `export default definePlugin<MyOptions>((ctx) => ...)`. */
export function definePlugin<Options>(factory: PluginFactory<Options>): PluginFactory<Options> {
  return factory;
}
