/**
 * whatsapp-web: WhatsApp through whatsapp-web.js, which drives WhatsApp Web in Debian's
 * Chromium (puppeteer). Unofficial: see docs/plugins.md for the risks.
 *
 * - Pairing: the QR code is logged and served by the view `qr`
 *   (GET /api/v1/plugins/<id>/qr) until a phone links the session.
 * - Sessions: LocalAuth under the plugin's data dir, or RemoteAuth in the hub's database
 *   (GridFS, see whatsapp-web.session-store.ts).
 * - Events arrive over the client's socket, not by webhook: ACKs become status events,
 *   customer messages become replies (and opt-out/opt-in for keywords), all via `ctx.emit`.
 * - After `disconnected` (or a failed start) the client is destroyed and a new one is
 *   initialised after an exponential backoff.
 *
 * Tests inject the client: {@link createWhatsAppWebPlugin} takes {@link WhatsAppWebHooks} as a
 * second argument, and the default export reads them from the options under the symbol
 * {@link WHATSAPP_WEB_HOOKS} (invisible to JSON config and to the options schema).
 */
import { execFile } from "node:child_process";
import { constants as fsConstants } from "node:fs";
import { access } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { EventEmitter } from "node:events";
import { GridFSBucket, MongoClient } from "mongodb";
import { normalizePhone, isPluginError, isError } from "@dialmesh/sdk";
import { classifyKeyword, compileKeywords, type CompiledKeywords, type OptOutKeywords } from "@dialmesh/sdk";
import {
  definePlugin,
  PluginError,
  type CanonicalEvent,
  type ChannelPlugin,
  type Logger,
  type MessageContent,
  type PluginContext,
  type PluginHealth,
  type SendRequest,
  type SendResult,
} from "@dialmesh/sdk";
import { mapAck } from "./whatsapp-web.ack.ts";
import { GridFsSessionStore, type RemoteSessionStore } from "./whatsapp-web.session-store.ts";

export const DEFAULT_CHROMIUM = "/usr/bin/chromium";
export const CHROMIUM_ARGS: readonly string[] = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
/** GridFS bucket of the RemoteAuth session, inside the plugin's storage scope. */
const SESSION_BUCKET = "sessions";

const INSTALL_SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../scripts/install-chromium.sh");

/** Instance options (plugin.json `optionsSchema`); defaults are applied here. */
export interface WhatsAppWebOptions {
  /** `local`: LocalAuth under the data dir (default). `remote`: RemoteAuth in the hub's database. */
  auth?: "local" | "remote";
  /** Session name (letters, digits, `_`, `-`); default: the instance id. */
  clientId?: string;
  executablePath?: string;
  /** Run scripts/install-chromium.sh when the default /usr/bin/chromium is missing (default true). */
  installBrowser?: boolean;
  /**
   * Backoff between attempts, and how long an attempt may take to show a QR code or become
   * ready (after `authenticated`) before it is abandoned and retried (default 300000).
   */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number; initTimeoutMs?: number };
  /** Extra opt-out/opt-in keywords per language, on top of STOP, START, ... */
  optOutKeywords?: OptOutKeywords;
  /** `remote` only, when the hub provides no database in the context. Secret. */
  mongoUrl?: string;
  /** `remote` only: how often RemoteAuth saves the session (>= 60000, default 300000). */
  backupSyncIntervalMs?: number;
  /** Sends per second for this WhatsApp account across the hub (default 1). */
  maxPerSecond?: number;
  /** How long `start()` waits for `ready` or a QR code before returning (default 20000). */
  startTimeoutMs?: number;
  /** Text of activity templates by name: WhatsApp Web has no templates; `{{1}}`... are parameters. */
  templates?: Record<string, string>;
  /** Test hooks; never set from JSON config. */
  [WHATSAPP_WEB_HOOKS]?: WhatsAppWebHooks;
}

/** Key of {@link WhatsAppWebHooks} in the options (a symbol: not configurable from JSON). */
export const WHATSAPP_WEB_HOOKS: unique symbol = Symbol.for("dialmesh.whatsapp-web.hooks");

/** The subset of whatsapp-web.js's `Message` the plugin reads. */
export interface WhatsAppWebMessage {
  id: { _serialized: string };
  /** Chat id of the sender: `<digits>@c.us`, `<lid>@lid`, `<group>@g.us`, `status@broadcast`. */
  from: string;
  fromMe: boolean;
  body: string;
  /** `MessageAck`: -1 ERROR, 0 PENDING, 1 SERVER, 2 DEVICE, 3 READ, 4 PLAYED. */
  ack: number;
  /** Unix seconds. */
  timestamp: number;
  isStatus?: boolean;
  broadcast?: boolean;
  hasMedia?: boolean;
  type?: string;
}

/**
 * The subset of whatsapp-web.js's `Client` the plugin uses: an EventEmitter emitting `qr`,
 * `authenticated`, `auth_failure`, `ready`, `message`, `message_ack`, `disconnected`.
 * The library's `Client` satisfies it (checked in {@link createLibraryClient}).
 */
export interface WhatsAppWebClient extends Pick<EventEmitter, "on" | "removeAllListeners"> {
  initialize(): Promise<void>;
  destroy(): Promise<void>;
  /** `WAState` (`CONNECTED`, `OPENING`, `UNPAIRED`, ...), null before the page is up. */
  getState(): Promise<string | null>;
  /** The WhatsApp id of a number (digits, no `+`), null when it is not on WhatsApp. */
  getNumberId(number: string): Promise<{ _serialized: string } | null>;
  sendMessage(chatId: string, content: string): Promise<WhatsAppWebMessage>;
  /** Phone (`pn`) behind a `@lid` sender id. */
  getContactLidAndPhone?(userIds: string[]): Promise<{ lid: string; pn: string }[]>;
}

/** What a client factory gets: everything needed to build the library's `Client`. */
export interface WhatsAppWebClientConfig {
  clientId: string;
  executablePath: string;
  args: readonly string[];
  /** For the library's web version cache (kept out of the working directory). */
  cacheDir: string;
  auth:
    | { kind: "local"; dataPath: string }
    | { kind: "remote"; dataPath: string; store: RemoteSessionStore; backupSyncIntervalMs: number };
}

export type WhatsAppWebClientFactory = (
  config: WhatsAppWebClientConfig,
) => WhatsAppWebClient | Promise<WhatsAppWebClient>;

export interface WhatsAppWebHooks {
  /** Builds a client; default: whatsapp-web.js's `Client` on Chromium. */
  createClient?: WhatsAppWebClientFactory;
  /** Makes sure the browser exists; default: install it when missing, skipped when `createClient` is given. */
  ensureBrowser?: (executablePath: string) => Promise<void>;
  /** RemoteAuth store; default: GridFS in the plugin's storage scope (`ctx.storage`) or at `mongoUrl`. */
  sessionStore?: RemoteSessionStore;
}

type ConnectionState =
  "stopped" | "starting" | "pairing" | "authenticated" | "ready" | "auth_failure" | "reconnecting" | "failed";

/** The `qr` view: what an admin needs to pair, or where the connection stands. */
export type QrView =
  | { status: "pairing"; qr: string; updatedAt: string; terminal?: string }
  | { status: ConnectionState; detail?: string };

interface Settings {
  auth: "local" | "remote";
  clientId: string;
  executablePath: string;
  installBrowser: boolean;
  initialDelayMs: number;
  maxDelayMs: number;
  initTimeoutMs: number;
  backupSyncIntervalMs: number;
  maxPerSecond: number;
  startTimeoutMs: number;
  templates: Record<string, string>;
  mongoUrl: string | undefined;
}

function settingsOf(instanceId: string, o: WhatsAppWebOptions): Settings {
  const initialDelayMs = o.reconnect?.initialDelayMs ?? 1_000;
  return {
    auth: o.auth ?? "local",
    clientId: o.clientId ?? (instanceId.replace(/[^\w-]/g, "_") || "default"),
    executablePath: o.executablePath ?? DEFAULT_CHROMIUM,
    installBrowser: o.installBrowser ?? true,
    initialDelayMs,
    maxDelayMs: Math.max(o.reconnect?.maxDelayMs ?? 60_000, initialDelayMs),
    initTimeoutMs: o.reconnect?.initTimeoutMs ?? 300_000,
    backupSyncIntervalMs: o.backupSyncIntervalMs ?? 300_000,
    maxPerSecond: o.maxPerSecond ?? 1,
    startTimeoutMs: o.startTimeoutMs ?? 20_000,
    templates: o.templates ?? {},
    mongoUrl: o.mongoUrl,
  };
}

export class WhatsAppWebProvider implements ChannelPlugin {
  readonly views: Record<string, () => Promise<unknown>>;

  readonly #ctx: PluginContext<WhatsAppWebOptions>;
  readonly #log: Logger;
  readonly #settings: Settings;
  readonly #hooks: WhatsAppWebHooks;
  readonly #keywords: CompiledKeywords;

  #state: ConnectionState = "stopped";
  #detail: string | undefined;
  #qr: { qr: string; updatedAt: Date; terminal: string | undefined } | undefined;
  #client: WhatsAppWebClient | undefined;
  /** Bumped whenever the current client is replaced or dropped: stale callbacks check it. */
  #generation = 0;
  /** Consecutive reconnects since the last `ready`: the backoff exponent. */
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Abandons an attempt that neither shows a QR code nor becomes ready in time. */
  #watchdog: ReturnType<typeof setTimeout> | undefined;
  /** Inbound events are handled one after the other, so they are reported in order. */
  #inbound: Promise<void> = Promise.resolve();
  #store: RemoteSessionStore | undefined;
  #ownMongo: MongoClient | undefined;
  readonly #stateListeners = new Set<() => void>();

  constructor(ctx: PluginContext<WhatsAppWebOptions>, hooks: WhatsAppWebHooks = {}) {
    this.#ctx = ctx;
    this.#log = ctx.logger;
    this.#settings = settingsOf(ctx.instanceId, ctx.options);
    this.#hooks = hooks;
    this.#keywords = compileKeywords(ctx.options.optOutKeywords);
    this.views = { qr: async () => this.#qrView() };
  }

  /**
   * Makes sure Chromium exists (installing Debian's package when allowed), then starts the
   * client. Returns once the client is ready, shows a QR code, fails (a reconnect is then
   * scheduled) or `startTimeoutMs` passes: pairing never blocks the hub's start.
   */
  async start(): Promise<void> {
    if (this.#state !== "stopped" && this.#state !== "failed") return;
    this.#setState("starting");
    // stop() may run while the browser is being installed (TS cannot see the state change).
    const stillStarting = (): boolean => this.#state === "starting";
    try {
      await this.#ensureBrowser();
      if (this.#settings.auth === "remote") this.#store = await this.#openSessionStore();
    } catch (error) {
      if (stillStarting()) this.#setState("failed", messageOf(error));
      throw error;
    }
    if (!stillStarting()) return;
    const settled = this.#waitForState(
      ["ready", "pairing", "auth_failure", "reconnecting", "failed", "stopped"],
      this.#settings.startTimeoutMs,
    );
    void this.#connect();
    await settled;
  }

  async stop(): Promise<void> {
    this.#setState("stopped");
    this.#generation++;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#disarmWatchdog();
    this.#attempt = 0;
    this.#qr = undefined;
    const client = this.#client;
    this.#client = undefined;
    if (client) await this.#dispose(client);
    if (this.#ownMongo) await this.#ownMongo.close().catch(() => undefined);
    this.#ownMongo = undefined;
    this.#store = undefined;
  }

  async health(): Promise<PluginHealth> {
    const client = this.#client;
    if (this.#state !== "ready" || !client) return { ok: false, detail: this.#describeState() };
    try {
      const state = await withTimeout(client.getState(), 5_000, "getState timed out");
      return state === "CONNECTED"
        ? { ok: true, detail: "ready (CONNECTED)" }
        : { ok: false, detail: `WhatsApp Web state ${state ?? "unknown"}` };
    } catch (error) {
      return { ok: false, detail: `WhatsApp Web state unavailable: ${messageOf(error)}` };
    }
  }

  async send(request: SendRequest): Promise<SendResult> {
    const phone = request.customer.phone ? normalizePhone(request.customer.phone) : undefined;
    if (!phone) {
      throw new PluginError("INVALID_ADDRESS", "the customer has no valid phone number for WhatsApp", {
        retryable: false,
      });
    }
    const text = messageText(request.content, this.#settings.templates);
    const client = this.#client;
    if (this.#state !== "ready" || !client) {
      throw new PluginError("WA_NOT_READY", `WhatsApp Web is not ready: ${this.#describeState()}`, {
        retryable: true,
        // Pairing needs a person: no point in retrying within seconds.
        retryAfterMs: this.#state === "pairing" || this.#state === "failed" ? 60_000 : 5_000,
      });
    }
    await this.#ctx.rateLimiter.acquire(`whatsapp-web:${this.#settings.clientId}`, this.#settings.maxPerSecond);

    const digits = phone.slice(1);
    let message: WhatsAppWebMessage;
    try {
      // getNumberId both checks that the number is on WhatsApp and gives its canonical chat id
      // (it can differ from <digits>@c.us, e.g. for some Brazilian numbers).
      const wid = await client.getNumberId(digits);
      if (!wid) {
        throw new PluginError("WA_NOT_REGISTERED", "the customer's number is not registered on WhatsApp", {
          retryable: false,
        });
      }
      message = await client.sendMessage(wid._serialized || `${digits}@c.us`, text);
    } catch (error) {
      throw sendError(error);
    }

    const vendorId = message.id._serialized;
    const mapped = mapAck(message.ack);
    if (mapped?.status === "FAILED") {
      throw new PluginError("WA_ACK_ERROR", `WhatsApp refused message ${vendorId} (ACK_ERROR)`, { retryable: false });
    }
    return { status: mapped?.status ?? "QUEUED", vendorId, detail: mapped?.raw };
  }

  // --- connection ---------------------------------------------------------------------------

  async #ensureBrowser(): Promise<void> {
    const ensure =
      this.#hooks.ensureBrowser ??
      (this.#hooks.createClient
        ? undefined
        : (executablePath: string) => ensureChromium(executablePath, this.#settings.installBrowser, this.#log));
    if (ensure) await ensure(this.#settings.executablePath);
  }

  async #openSessionStore(): Promise<RemoteSessionStore> {
    if (this.#hooks.sessionStore) return this.#hooks.sessionStore;
    let bucket = this.#ctx.storage?.bucket(SESSION_BUCKET);
    if (!bucket && this.#settings.mongoUrl) {
      const url = this.#settings.mongoUrl;
      this.#ownMongo = new MongoClient(url, { serverSelectionTimeoutMS: 10_000 });
      try {
        await this.#ownMongo.connect();
      } catch (error) {
        await this.#ownMongo.close().catch(() => undefined);
        this.#ownMongo = undefined;
        // The driver's message may quote the URL: never let the secret through.
        const reason = messageOf(error).split(url).join("<mongoUrl>");
        throw new PluginError("WA_SESSION_DATABASE", `cannot reach the session database (mongoUrl): ${reason}`, {
          retryable: true,
        });
      }
      bucket = new GridFSBucket(this.#ownMongo.db(), { bucketName: `whatsapp_web_${SESSION_BUCKET}` });
    }
    if (!bucket) {
      throw new PluginError(
        "WA_NO_SESSION_DATABASE",
        'auth "remote" keeps the session in the database: the hub gave none and the mongoUrl option is not set',
        { retryable: false },
      );
    }
    return new GridFsSessionStore(bucket, { dataPath: this.#remoteDataPath() });
  }

  #remoteDataPath(): string {
    return path.join(this.#ctx.dataDir, "wwebjs-remote");
  }

  #clientConfig(): WhatsAppWebClientConfig {
    const s = this.#settings;
    const auth: WhatsAppWebClientConfig["auth"] =
      s.auth === "remote" && this.#store
        ? {
            kind: "remote",
            dataPath: this.#remoteDataPath(),
            store: this.#store,
            backupSyncIntervalMs: s.backupSyncIntervalMs,
          }
        : { kind: "local", dataPath: path.join(this.#ctx.dataDir, "wwebjs-auth") };
    return {
      clientId: s.clientId,
      executablePath: s.executablePath,
      args: CHROMIUM_ARGS,
      cacheDir: path.join(this.#ctx.dataDir, "wwebjs-cache"),
      auth,
    };
  }

  /** Builds a fresh client, wires its events and initialises it. */
  async #connect(): Promise<void> {
    const generation = ++this.#generation;
    let client: WhatsAppWebClient;
    try {
      client = await (this.#hooks.createClient ?? createLibraryClient)(this.#clientConfig());
    } catch (error) {
      if (generation === this.#generation) this.#reconnect(`could not create the client: ${messageOf(error)}`);
      return;
    }
    if (generation !== this.#generation) {
      await this.#dispose(client); // stopped while building
      return;
    }
    this.#client = client;
    this.#wire(client, generation);
    if (this.#attempt > 0) this.#setState("starting", `reconnecting (attempt ${this.#attempt})`);
    this.#armWatchdog(generation, "no QR code and not ready");
    try {
      await client.initialize();
    } catch (error) {
      if (generation === this.#generation) this.#reconnect(`initialize failed: ${messageOf(error)}`);
    }
  }

  #wire(client: WhatsAppWebClient, generation: number): void {
    const live = () => generation === this.#generation;
    client.on("qr", (qr: string) => {
      if (!live()) return;
      this.#disarmWatchdog();
      this.#onQr(qr);
    });
    client.on("authenticated", () => {
      if (!live()) return;
      this.#qr = undefined;
      this.#setState("authenticated");
      this.#armWatchdog(generation, "authenticated but not ready");
      this.#log.info("whatsapp-web: authenticated, loading chats");
    });
    client.on("auth_failure", (message: string) => {
      if (!live()) return;
      this.#log.error("whatsapp-web: authentication failed", { message });
      this.#setState("auth_failure", `authentication failed: ${message}`);
      this.#reconnect(`authentication failed: ${message}`);
    });
    client.on("ready", () => {
      if (!live()) return;
      this.#disarmWatchdog();
      this.#attempt = 0;
      this.#qr = undefined;
      this.#setState("ready");
      this.#log.info("whatsapp-web: ready");
    });
    client.on("change_state", (state: string) => {
      if (live()) this.#log.debug("whatsapp-web: state", { state });
    });
    client.on("message", (message: WhatsAppWebMessage) => {
      if (live()) this.#enqueue(() => this.#onMessage(client, message));
    });
    client.on("message_ack", (message: WhatsAppWebMessage, ack: number) => {
      if (live()) this.#enqueue(() => this.#onAck(message, ack));
    });
    client.on("disconnected", (reason: string) => {
      if (!live()) return;
      this.#log.warn("whatsapp-web: disconnected", { reason: String(reason) });
      this.#reconnect(`disconnected (${String(reason)})`);
    });
  }

  /** Drops the current client and schedules a new one after the backoff delay. */
  #reconnect(reason: string): void {
    if (this.#state === "stopped" || this.#timer) return;
    const delay = Math.min(this.#settings.initialDelayMs * 2 ** this.#attempt, this.#settings.maxDelayMs);
    this.#attempt++;
    this.#generation++;
    this.#disarmWatchdog();
    const old = this.#client;
    this.#client = undefined;
    this.#qr = undefined;
    this.#setState("reconnecting", `${reason}; reconnecting in ${delay} ms (attempt ${this.#attempt})`);
    this.#log.warn("whatsapp-web: reconnecting", { reason, delayMs: delay, attempt: this.#attempt });
    if (old) void this.#dispose(old);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#state !== "stopped") void this.#connect();
    }, delay);
    this.#timer.unref?.();
  }

  #armWatchdog(generation: number, what: string): void {
    this.#disarmWatchdog();
    const ms = this.#settings.initTimeoutMs;
    this.#watchdog = setTimeout(() => {
      this.#watchdog = undefined;
      if (generation === this.#generation) this.#reconnect(`${what} after ${ms} ms`);
    }, ms);
    this.#watchdog.unref?.();
  }

  #disarmWatchdog(): void {
    if (this.#watchdog) clearTimeout(this.#watchdog);
    this.#watchdog = undefined;
  }

  #enqueue(task: () => Promise<void>): void {
    this.#inbound = this.#inbound.then(task).catch((error: unknown) => {
      this.#log.error("whatsapp-web: inbound event failed", { error: messageOf(error) });
    });
  }

  async #dispose(client: WhatsAppWebClient): Promise<void> {
    client.removeAllListeners();
    client.on("error", () => undefined);
    try {
      await client.destroy();
    } catch (error) {
      this.#log.debug("whatsapp-web: destroy failed", { error: messageOf(error) });
    }
  }

  #onQr(qr: string): void {
    const terminal = renderQr(qr);
    this.#qr = { qr, updatedAt: new Date(), terminal };
    this.#setState("pairing", "waiting for a phone to scan the QR code");
    this.#log.info(
      `whatsapp-web: link a phone (WhatsApp > Linked devices) by scanning this QR code, ` +
        `also served at GET /api/v1/plugins/${this.#ctx.instanceId}/qr` +
        (terminal ? `\n${terminal}` : ""),
      { qr },
    );
  }

  // --- inbound ------------------------------------------------------------------------------

  async #onAck(message: WhatsAppWebMessage, ack: number): Promise<void> {
    if (!message.fromMe) return; // ACKs of the customer's messages say nothing about ours
    const mapped = mapAck(ack);
    if (!mapped) {
      this.#log.debug("whatsapp-web: unknown ACK value ignored", { ack });
      return;
    }
    const event: CanonicalEvent = {
      kind: "status",
      vendorId: message.id._serialized,
      status: mapped.status,
      raw: mapped.raw,
      at: new Date(),
      ...(mapped.status === "FAILED"
        ? { reasonCode: "WA_ACK_ERROR", reason: "WhatsApp reported ACK_ERROR", retryable: false }
        : {}),
    };
    await this.#emit([event]);
  }

  async #onMessage(client: WhatsAppWebClient, message: WhatsAppWebMessage): Promise<void> {
    if (message.fromMe || message.isStatus || message.broadcast) return;
    const from = await this.#senderPhone(client, message.from);
    if (!from) {
      this.#log.debug("whatsapp-web: message outside a one-to-one chat ignored", { chat: message.from });
      return;
    }
    const at = message.timestamp ? new Date(message.timestamp * 1000) : new Date();
    const text = message.body ?? "";
    const events: CanonicalEvent[] = [
      { kind: "reply", channel: "whatsapp", from, text, vendorId: message.id._serialized, at },
    ];
    const keyword = classifyKeyword(text, this.#keywords);
    if (keyword) {
      events.push({ kind: keyword, channel: "whatsapp", address: from, reason: `keyword "${text.trim()}"`, at });
    }
    await this.#emit(events);
  }

  /** E.164 of a one-to-one chat's sender; undefined for groups, channels and unknown ids. */
  async #senderPhone(client: WhatsAppWebClient, chatId: string): Promise<string | undefined> {
    const phoneJid = /^(\d+)@c\.us$/.exec(chatId);
    if (phoneJid) return normalizePhone(`+${phoneJid[1]}`);
    if (chatId.endsWith("@lid") && client.getContactLidAndPhone) {
      try {
        const [pair] = await client.getContactLidAndPhone([chatId]);
        const pn = pair?.pn ? /^(\d+)@c\.us$/.exec(pair.pn) : null;
        if (pn) return normalizePhone(`+${pn[1]}`);
      } catch (error) {
        this.#log.warn("whatsapp-web: could not resolve a @lid sender", { error: messageOf(error) });
      }
    }
    return undefined;
  }

  async #emit(events: CanonicalEvent[]): Promise<void> {
    try {
      await this.#ctx.emit(events);
    } catch (error) {
      this.#log.error("whatsapp-web: could not record events", {
        error: messageOf(error),
        kinds: events.map((e) => e.kind),
      });
    }
  }

  // --- state --------------------------------------------------------------------------------

  #setState(state: ConnectionState, detail?: string): void {
    this.#state = state;
    this.#detail = detail;
    for (const listener of [...this.#stateListeners]) listener();
  }

  #waitForState(states: ConnectionState[], timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#stateListeners.delete(check);
        resolve();
      };
      const check = () => {
        if (states.includes(this.#state)) done();
      };
      const timer = setTimeout(() => {
        this.#log.warn("whatsapp-web: not ready yet, start() continues in the background", {
          state: this.#state,
          timeoutMs,
        });
        done();
      }, timeoutMs);
      timer.unref?.();
      this.#stateListeners.add(check);
      check();
    });
  }

  #describeState(): string {
    return this.#detail ? `${this.#state}: ${this.#detail}` : this.#state;
  }

  #qrView(): QrView {
    if (this.#state === "ready") return { status: "ready" };
    if (this.#state === "pairing" && this.#qr) {
      return {
        status: "pairing",
        qr: this.#qr.qr,
        updatedAt: this.#qr.updatedAt.toISOString(),
        ...(this.#qr.terminal ? { terminal: this.#qr.terminal } : {}),
      };
    }
    return this.#detail ? { status: this.#state, detail: this.#detail } : { status: this.#state };
  }
}

/** For tests and embedders: the plugin with explicit hooks. */
export function createWhatsAppWebPlugin(
  ctx: PluginContext<WhatsAppWebOptions>,
  hooks?: WhatsAppWebHooks,
): WhatsAppWebProvider {
  return new WhatsAppWebProvider(ctx, hooks ?? ctx.options[WHATSAPP_WEB_HOOKS]);
}

export default definePlugin<WhatsAppWebOptions>((ctx) => createWhatsAppWebPlugin(ctx));

// --- helpers ----------------------------------------------------------------------------------

/** The text to send: the activity's text, or the configured text of its template. */
function messageText(content: MessageContent, templates: Record<string, string>): string {
  if (content.text && content.text.trim() !== "") return content.text;
  const template = content.template;
  if (!template) {
    throw new PluginError("EMPTY_CONTENT", "whatsapp-web sends text: the activity has no text", { retryable: false });
  }
  const body = templates[template.name];
  if (body === undefined) {
    throw new PluginError(
      "WA_TEMPLATE_UNKNOWN",
      `whatsapp-web has no templates: give the activity a text, or the text of template "${template.name}" in the option templates`,
      { retryable: false },
    );
  }
  const parameters = template.parameters ?? [];
  return body.replace(/\{\{\s*(\d+)\s*\}\}/g, (whole, n: string) => parameters[Number(n) - 1] ?? whole);
}

/** A failure of getNumberId/sendMessage as a typed error. */
function sendError(error: unknown): PluginError {
  if (isPluginError(error)) return error;
  const message = messageOf(error);
  if (/not registered|invalid wid|wid error|no lid for user/i.test(message)) {
    return new PluginError("WA_NOT_REGISTERED", "the customer's number is not on WhatsApp", {
      retryable: false,
      cause: error,
    });
  }
  if (/session closed|target closed|protocol error|detached|execution context|not (ready|connected)/i.test(message)) {
    return new PluginError("WA_CONNECTION", `WhatsApp Web connection problem: ${message}`, {
      retryable: true,
      retryAfterMs: 5_000,
      cause: error,
    });
  }
  return new PluginError("WA_SEND_ERROR", `WhatsApp Web could not send: ${message}`, { retryable: true, cause: error });
}

function messageOf(error: unknown): string {
  return isError(error) ? error.message : String(error);
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

interface QrcodeTerminal {
  generate(text: string, options: { small?: boolean }, callback: (output: string) => void): void;
}

/** Terminal rendering of the QR code (qrcode-terminal calls back synchronously). */
function renderQr(qr: string): string | undefined {
  try {
    const qrcode = createRequire(import.meta.url)("qrcode-terminal") as QrcodeTerminal;
    let out: string | undefined;
    qrcode.generate(qr, { small: true }, (output) => {
      out = output;
    });
    return out;
  } catch {
    return undefined;
  }
}

/** The library's client on Debian's Chromium (loaded lazily: puppeteer is heavy). */
export async function createLibraryClient(config: WhatsAppWebClientConfig): Promise<WhatsAppWebClient> {
  const { default: wweb } = await import("whatsapp-web.js");
  const authStrategy =
    config.auth.kind === "remote"
      ? new wweb.RemoteAuth({
          clientId: config.clientId,
          dataPath: config.auth.dataPath,
          store: config.auth.store,
          backupSyncIntervalMs: config.auth.backupSyncIntervalMs,
        })
      : new wweb.LocalAuth({ clientId: config.clientId, dataPath: config.auth.dataPath });
  const client: WhatsAppWebClient = new wweb.Client({
    authStrategy,
    puppeteer: { executablePath: config.executablePath, args: [...config.args], headless: true },
    webVersionCache: { type: "local", path: config.cacheDir },
  });
  return client;
}

let installing: Promise<void> | undefined;

/**
 * Makes sure Chromium is at `executablePath`. The default path is installed from Debian's
 * `chromium` package by scripts/install-chromium.sh (once per process, even with several
 * instances), so the browser only lands on hosts where the plugin is enabled.
 */
export async function ensureChromium(executablePath: string, install: boolean, log: Logger): Promise<void> {
  if (await isExecutable(executablePath)) return;
  if (executablePath !== DEFAULT_CHROMIUM || !install) {
    throw new PluginError(
      "WA_BROWSER_MISSING",
      `Chromium not found at ${executablePath}: install it (bash scripts/install-chromium.sh) or set executablePath`,
      { retryable: false },
    );
  }
  installing ??= (async () => {
    log.warn("whatsapp-web: /usr/bin/chromium is missing, installing Debian's chromium", { script: INSTALL_SCRIPT });
    try {
      const { stdout } = await promisify(execFile)("bash", [INSTALL_SCRIPT], {
        timeout: 15 * 60_000,
        maxBuffer: 16 * 1024 * 1024,
      });
      log.info("whatsapp-web: chromium installed", { output: stdout.trim().split("\n").slice(-3).join("\n") });
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr ?? "";
      throw new PluginError(
        "WA_BROWSER_INSTALL_FAILED",
        `could not install Chromium with scripts/install-chromium.sh: ${stderr.trim().split("\n").slice(-3).join(" ") || messageOf(error)}`,
        { retryable: false, cause: error },
      );
    } finally {
      installing = undefined;
    }
  })();
  await installing;
  if (!(await isExecutable(executablePath))) {
    throw new PluginError("WA_BROWSER_MISSING", `Chromium still missing at ${executablePath} after installing`, {
      retryable: false,
    });
  }
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}
