/**
 * A small FreeSWITCH Event Socket client, inbound mode. esl-lite was the first choice; it is
 * not used because it re-sends commands queued while disconnected after it reconnects, also
 * those whose caller already timed out (a dial the hub counted as failed would then ring a
 * customer later), exposes no connected/disconnected state (so "switch unreachable" could only
 * be a timeout) and logs the `auth` command's buffer on write errors.
 *
 * This client: `auth`, `event plain <names>`, `api`, `bgapi` with its own Job-UUID (the
 * waiter exists before the job can finish); commands are refused at once while disconnected;
 * reconnects with exponential backoff and subscribes again. Replies are matched by order, as
 * the protocol requires.
 */
import { randomUUID } from "node:crypto";
import { Socket } from "node:net";

/** One message off the wire: headers (as sent, first value wins) and body. */
export interface EslMessage {
  headers: Map<string, string>;
  body: string;
}

/** An event: its headers, URL-decoded, and its body (BACKGROUND_JOB results). */
export interface EslEvent {
  name: string;
  headers: Map<string, string>;
  body: string;
}

/** Splits the switch's byte stream into messages. */
export class MessageReader {
  #buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): EslMessage[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const out: EslMessage[] = [];
    for (;;) {
      const end = this.#buffer.indexOf("\n\n");
      if (end < 0) return out;
      const headers = parseHeaderLines(this.#buffer.subarray(0, end).toString("utf8"), false);
      const length = Number(headers.get("Content-Length") ?? 0);
      if (this.#buffer.length < end + 2 + length) return out;
      const body = this.#buffer.subarray(end + 2, end + 2 + length).toString("utf8");
      this.#buffer = this.#buffer.subarray(end + 2 + length);
      out.push({ headers, body });
    }
  }
}

function parseHeaderLines(text: string, decode: boolean): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const raw = line.slice(colon + 1).trim();
    let value = raw;
    if (decode) {
      try {
        value = decodeURIComponent(raw);
      } catch {
        value = raw; // a malformed escape: keep the bytes rather than lose the header
      }
    }
    if (!headers.has(name)) headers.set(name, value);
  }
  return headers;
}

/** The event inside a `text/event-plain` message: URL-encoded headers, then an optional body. */
export function parsePlainEvent(body: string): EslEvent {
  const end = body.indexOf("\n\n");
  const headerText = end < 0 ? body : body.slice(0, end);
  const headers = parseHeaderLines(headerText, true);
  const length = Number(headers.get("Content-Length") ?? 0);
  const eventBody = end < 0 || length === 0 ? "" : body.slice(end + 2, end + 2 + length);
  return { name: headers.get("Event-Name") ?? "", headers, body: eventBody };
}

export class EslError extends Error {
  /** NOT_CONNECTED: never sent. CONNECTION_LOST: sent, outcome unknown. TIMEOUT: no reply in time. */
  readonly code: "NOT_CONNECTED" | "CONNECTION_LOST" | "TIMEOUT" | "COMMAND_FAILED";
  constructor(code: EslError["code"], message: string) {
    super(message);
    this.name = "EslError";
    this.code = code;
  }
}

export interface EslClientOptions {
  host: string;
  port: number;
  /** Only ever written to the socket. */
  password: string;
  /** Event names to subscribe to; `CUSTOM <subclass>` entries are allowed. */
  events: string[];
  /** First reconnect delay and its ceiling, ms. */
  backoffMs?: { initial: number; max: number };
  commandTimeoutMs?: number;
  /** Connection state changes and failures, already free of secrets. */
  onStatus?: (status: { connected: boolean; reason?: string }) => void;
}

interface PendingReply {
  resolve: (message: EslMessage) => void;
  reject: (err: EslError) => void;
  timer: NodeJS.Timeout;
}

type EventListener = (event: EslEvent) => void;

export class EslClient {
  readonly #options: EslClientOptions;
  #socket: Socket | undefined;
  #connected = false;
  #stopped = false;
  #attempt = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #pending: PendingReply[] = [];
  readonly #listeners = new Set<EventListener>();
  readonly #connectedWaiters = new Set<() => void>();

  constructor(options: EslClientOptions) {
    this.#options = options;
  }

  get connected(): boolean {
    return this.#connected;
  }

  start(): void {
    this.#stopped = false;
    this.#connect();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    this.#socket?.destroy();
    this.#socket = undefined;
    this.#setDisconnected("stopped");
  }

  /** Resolves when authenticated and subscribed (now, if already). */
  whenConnected(): Promise<void> {
    if (this.#connected) return Promise.resolve();
    return new Promise((resolve) => this.#connectedWaiters.add(resolve));
  }

  onEvent(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** `api <command>`: resolves with the response body. */
  async api(command: string): Promise<string> {
    this.#requireConnected();
    const reply = await this.#send(`api ${command}\n\n`);
    return reply.body;
  }

  /**
   * `bgapi <command>`: resolves when the switch accepted the job, with the Job-UUID. Its result
   * comes as a BACKGROUND_JOB event with that Job-UUID.
   */
  async bgapi(command: string, jobUuid: string = randomUUID()): Promise<string> {
    this.#requireConnected();
    const reply = await this.#send(`bgapi ${command}\nJob-UUID: ${jobUuid}\n\n`);
    const text = reply.headers.get("Reply-Text") ?? "";
    if (!text.startsWith("+OK")) throw new EslError("COMMAND_FAILED", `bgapi refused: ${text}`);
    return jobUuid;
  }

  #requireConnected(): void {
    if (!this.#connected) throw new EslError("NOT_CONNECTED", "not connected to the FreeSWITCH event socket");
  }

  #send(text: string, socket: Socket | undefined = this.#socket): Promise<EslMessage> {
    return new Promise((resolve, reject) => {
      if (!socket || socket.destroyed) {
        reject(new EslError("NOT_CONNECTED", "not connected to the FreeSWITCH event socket"));
        return;
      }
      const timeoutMs = this.#options.commandTimeoutMs ?? 5000;
      const entry: PendingReply = {
        resolve,
        reject,
        timer: setTimeout(() => {
          // Replies are matched by order: after a lost reply the stream is out of step, so
          // the connection is dropped and made again.
          reject(new EslError("TIMEOUT", `no reply from FreeSWITCH within ${timeoutMs} ms`));
          this.#pending = this.#pending.filter((p) => p !== entry);
          socket.destroy();
        }, timeoutMs),
      };
      this.#pending.push(entry);
      socket.write(text);
    });
  }

  #connect(): void {
    if (this.#stopped) return;
    const socket = new Socket();
    this.#socket = socket;
    const reader = new MessageReader();
    socket.setNoDelay(true);
    socket.setKeepAlive(true);
    socket.on("data", (chunk: Buffer) => {
      for (const message of reader.push(chunk)) this.#onMessage(socket, message);
    });
    socket.on("error", (err: NodeJS.ErrnoException) => {
      this.#options.onStatus?.({ connected: false, reason: err.code ?? err.message });
    });
    socket.on("close", () => {
      if (this.#socket === socket) this.#socket = undefined;
      for (const p of this.#pending.splice(0)) {
        clearTimeout(p.timer);
        p.reject(new EslError("CONNECTION_LOST", "the FreeSWITCH event socket closed before replying"));
      }
      this.#setDisconnected("connection closed");
      this.#scheduleReconnect();
    });
    socket.connect(this.#options.port, this.#options.host);
  }

  #scheduleReconnect(): void {
    if (this.#stopped) return;
    const { initial, max } = this.#options.backoffMs ?? { initial: 250, max: 10_000 };
    const delay = Math.min(max, initial * 2 ** Math.min(this.#attempt, 16));
    this.#attempt += 1;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => this.#connect(), delay);
  }

  #setDisconnected(reason: string): void {
    if (!this.#connected) return;
    this.#connected = false;
    this.#options.onStatus?.({ connected: false, reason });
  }

  #onMessage(socket: Socket, message: EslMessage): void {
    const type = message.headers.get("Content-Type");
    switch (type) {
      case "auth/request":
        void this.#authenticate(socket);
        return;
      case "command/reply":
      case "api/response": {
        const pending = this.#pending.shift();
        if (pending) {
          clearTimeout(pending.timer);
          pending.resolve(message);
        }
        return;
      }
      case "text/event-plain": {
        const event = parsePlainEvent(message.body);
        for (const listener of this.#listeners) listener(event);
        return;
      }
      case "text/disconnect-notice":
        socket.end();
        return;
      default:
        return; // log data and anything newer: not ours to handle
    }
  }

  async #authenticate(socket: Socket): Promise<void> {
    try {
      const auth = await this.#send(`auth ${this.#options.password}\n\n`, socket);
      if (auth.headers.get("Reply-Text") !== "+OK accepted") {
        this.#options.onStatus?.({ connected: false, reason: "authentication refused (check esl.password)" });
        socket.destroy();
        return;
      }
      const subscribe = await this.#send(`event plain ${this.#options.events.join(" ")}\n\n`, socket);
      if (!(subscribe.headers.get("Reply-Text") ?? "").startsWith("+OK")) {
        this.#options.onStatus?.({ connected: false, reason: "event subscription refused" });
        socket.destroy();
        return;
      }
    } catch {
      return; // the close handler reconnects
    }
    this.#attempt = 0;
    this.#connected = true;
    this.#options.onStatus?.({ connected: true });
    for (const resolve of this.#connectedWaiters) resolve();
    this.#connectedWaiters.clear();
  }
}
