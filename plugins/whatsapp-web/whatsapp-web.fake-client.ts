/**
 * Test double of whatsapp-web.js for the plugin's tests: a "local vendor" that hands out
 * clients with the library's event interface (EventEmitter emitting `qr`, `authenticated`,
 * `ready`, `message`, `message_ack`, `disconnected`; `initialize`, `sendMessage`,
 * `getNumberId`, `getState`, `destroy`). Each reconnect of the plugin gets a new client,
 * as with the real library; the vendor keeps what all of them accepted.
 */
import { EventEmitter } from "node:events";
import { randomBytes } from "node:crypto";
import type {
  WhatsAppWebClient,
  WhatsAppWebClientConfig,
  WhatsAppWebClientFactory,
  WhatsAppWebMessage,
} from "./whatsapp-web.provider.ts";

export interface AcceptedMessage {
  chatId: string;
  text: string;
  id: string;
}

export class FakeWhatsAppVendor {
  /** Every client the plugin created, oldest first. */
  readonly clients: FakeWhatsAppClient[] = [];
  /** The configs the plugin built them with. */
  readonly configs: WhatsAppWebClientConfig[] = [];
  readonly accepted: AcceptedMessage[] = [];
  /** Whether a saved session exists: initialize() goes straight to `ready`, else shows a QR. */
  paired: boolean;
  /** Numbers (digits) that are not on WhatsApp. */
  readonly unregistered = new Set<string>();
  /** `<lid>@lid` -> `<digits>@c.us`, for getContactLidAndPhone. */
  readonly lids = new Map<string, string>();
  /** The next N initialize() calls reject, as when WhatsApp Web cannot be reached. */
  initializeFailures = 0;
  /** initialize() resolves but nothing follows (no QR code, no ready), as with a hung page load. */
  silent = false;
  /** ACK of a message when sendMessage resolves. */
  ackOnSend = 0;
  #failNext: "permanent" | "transient" | undefined;

  constructor(options: { paired?: boolean } = {}) {
    this.paired = options.paired ?? true;
  }

  readonly factory: WhatsAppWebClientFactory = (config) => {
    const client = new FakeWhatsAppClient(this);
    this.configs.push(config);
    this.clients.push(client);
    return client;
  };

  /** The latest client. */
  get current(): FakeWhatsAppClient {
    const client = this.clients.at(-1);
    if (!client) throw new Error("no client created yet");
    return client;
  }

  /** The next send is to a number that is not on WhatsApp (getNumberId resolves null). */
  failNextPermanently(): void {
    this.#failNext = "permanent";
  }

  /** The next send fails as when the page's session dropped (a puppeteer protocol error). */
  failNextTransiently(): void {
    this.#failNext = "transient";
  }

  takeFailure(kind: "permanent" | "transient"): boolean {
    if (this.#failNext !== kind) return false;
    this.#failNext = undefined;
    return true;
  }
}

export class FakeWhatsAppClient extends EventEmitter implements WhatsAppWebClient {
  readonly vendor: FakeWhatsAppVendor;
  state: string | null = null;
  initializeCalls = 0;
  destroyed = false;
  #qrCount = 0;

  constructor(vendor: FakeWhatsAppVendor) {
    super();
    this.vendor = vendor;
  }

  async initialize(): Promise<void> {
    this.initializeCalls++;
    if (this.vendor.initializeFailures > 0) {
      this.vendor.initializeFailures--;
      throw new Error("net::ERR_NAME_NOT_RESOLVED at https://web.whatsapp.com/");
    }
    this.state = "OPENING";
    setImmediate(() => {
      if (this.destroyed || this.vendor.silent) return;
      if (this.vendor.paired) this.#becomeReady();
      else this.refreshQr();
    });
  }

  async destroy(): Promise<void> {
    this.destroyed = true;
    this.state = null;
  }

  async getState(): Promise<string | null> {
    return this.state;
  }

  async getNumberId(number: string): Promise<{ _serialized: string } | null> {
    this.#assertOpen();
    if (this.vendor.takeFailure("permanent") || this.vendor.unregistered.has(number)) return null;
    return { _serialized: `${number}@c.us` };
  }

  async sendMessage(chatId: string, content: string): Promise<WhatsAppWebMessage> {
    if (this.vendor.takeFailure("transient")) {
      throw new Error("Protocol error (Runtime.callFunctionOn): Session closed. Most likely the page has been closed.");
    }
    this.#assertOpen();
    const id = `true_${chatId}_3EB0${randomBytes(8).toString("hex").toUpperCase()}`;
    this.vendor.accepted.push({ chatId, text: content, id });
    return {
      id: { _serialized: id },
      from: "15550000000@c.us",
      fromMe: true,
      body: content,
      ack: this.vendor.ackOnSend,
      timestamp: Math.floor(Date.now() / 1000),
    };
  }

  async getContactLidAndPhone(userIds: string[]): Promise<{ lid: string; pn: string }[]> {
    return userIds.map((lid) => ({ lid, pn: this.vendor.lids.get(lid) ?? "" }));
  }

  // --- what the phone and WhatsApp's servers do ---

  /** A new QR code (WhatsApp Web rotates it about every 20 s). */
  refreshQr(): string {
    const qr = `2@fakeQr${++this.#qrCount},${randomBytes(16).toString("base64")},${this.initializeCalls}`;
    this.state = "UNPAIRED";
    this.emit("qr", qr);
    return qr;
  }

  /** The phone scanned the QR code. */
  scanQr(): void {
    this.vendor.paired = true;
    this.#becomeReady();
  }

  /** An ACK for one of our messages (or, with fromMe false, for the customer's). */
  ack(id: string, ack: number, fromMe = true): void {
    this.emit("message_ack", { id: { _serialized: id }, from: "x@c.us", fromMe, body: "", ack, timestamp: 0 }, ack);
  }

  /** A message in one of the account's chats. */
  receive(message: Partial<WhatsAppWebMessage> & { from: string; body: string }): WhatsAppWebMessage {
    const full: WhatsAppWebMessage = {
      id: { _serialized: `false_${message.from}_${randomBytes(8).toString("hex").toUpperCase()}` },
      fromMe: false,
      ack: 1,
      timestamp: Math.floor(Date.now() / 1000),
      ...message,
    };
    this.emit("message", full);
    return full;
  }

  /** The connection dropped (phone logged out, conflict, navigation...). */
  drop(reason = "NAVIGATION"): void {
    this.state = null;
    this.emit("disconnected", reason);
  }

  #becomeReady(): void {
    this.emit("authenticated");
    this.state = "CONNECTED";
    this.emit("ready");
  }

  #assertOpen(): void {
    if (this.destroyed) throw new Error("Protocol error (Runtime.callFunctionOn): Target closed.");
  }
}
