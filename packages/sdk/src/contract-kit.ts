/**
 * The plugin contract test kit: the behaviour every plugin must show. A plugin's test file
 * calls `runPluginContract(harness)` with a harness that points the plugin at a local server
 * speaking the vendor's protocol. It registers jest tests (`@jest/globals`).
 *
 * ```ts
 * import { runPluginContract } from "@dialmesh/sdk/contract-kit";
 * runPluginContract<MyOptions>({ pluginDir: import.meta.dirname, channel: "sms", ... });
 * ```
 *
 * See docs/plugin-authoring.md for what each check means and how to write a harness.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, test, beforeAll, afterAll } from "@jest/globals";
import { pathToFileURL } from "node:url";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { isAttemptStatus, isVoiceOutcome } from "./status.ts";
import type {
  CanonicalEvent,
  Channel,
  ChannelPlugin,
  Customer,
  InboundRequest,
  Logger,
  MessageContent,
  PluginContext,
  PluginFactory,
  PluginManifest,
  SendRequest,
  SendResult,
} from "./plugin.ts";
import { PluginError, isPluginError, isError } from "./plugin.ts";
import { missingSecrets, secretValues } from "./secrets.ts";

export interface ContractHarness<Options> {
  /** Absolute path of the plugin folder (holds plugin.json). */
  pluginDir: string;
  channel: Channel;
  /** A customer the local vendor accepts. */
  customer: Customer;
  /** Starts the local vendor server; returns valid options that point at it. */
  setup(): Promise<Options>;
  teardown(): Promise<void>;
  /** Options that the plugin's schema must refuse, each with the reason. */
  invalidOptions: { options: unknown; why: string }[];
  /** Make the vendor refuse the next send for good (e.g. SMTP 550, Twilio 21211). */
  failNextPermanently(): void;
  /** Make the vendor fail the next send transiently (e.g. SMTP 451, HTTP 429/503). */
  failNextTransiently(): void;
  /** Number of messages the vendor has accepted so far. */
  acceptedCount(): number;
  /** For plugins with webhooks: a status callback for `vendorId` signed as the vendor signs it. */
  signedStatusCallback?(vendorId: string, options: Options): InboundRequest;
  /** The same callback with a missing or wrong signature. */
  forgedStatusCallback?(vendorId: string, options: Options): InboundRequest;
  /** Extra context fields (conversations lookup, emit collector). */
  context?: Partial<PluginContext<Options>>;
  /**
   * Content the kit sends (placeholders already filled). Default: a subject, a text and an
   * html body. Set it when the channel needs something else (e.g. a WhatsApp template).
   */
  content?: MessageContent;
  /** Time limit of each contract test in ms (default 30,000). */
  timeoutMs?: number;
}

// ---------------------------------------------------------------------------------------------
// Test context

export interface LogEntry {
  level: "debug" | "info" | "warn" | "error";
  msg: string;
  data?: Record<string, unknown>;
}

export interface TestContext<Options> {
  /** Pass this to the plugin factory. */
  context: PluginContext<Options>;
  /** Every log call the plugin made, in order. */
  logs: LogEntry[];
  /** Every event the plugin reported through `context.emit`. */
  emitted: CanonicalEvent[];
  /** Every `rateLimiter.acquire` call. */
  rateLimits: { key: string; perSecond: number; windowMs?: number }[];
  /** The logs as text, one line per call (`level msg {json data}`): search it for leaks. */
  logText(): string;
  /** Removes the temporary data dir (when the kit created it). */
  cleanup(): void;
}

function stringify(value: unknown): string {
  try {
    return JSON.stringify(value, (_key, v: unknown) => {
      if (isError(v)) return { name: v.name, message: v.message, stack: v.stack, cause: v.cause };
      if (typeof v === "bigint") return v.toString();
      return v;
    });
  } catch {
    return String(value);
  }
}

/**
 * A PluginContext for tests: it records logs, emitted events and rate-limiter calls, and has a
 * temporary data dir. `overrides` replace fields (a given logger or emit is called as well as
 * the recorder, not instead of it).
 */
export function createTestContext<Options>(
  options: Options,
  overrides: Partial<PluginContext<Options>> = {},
): TestContext<Options> {
  const logs: LogEntry[] = [];
  const emitted: CanonicalEvent[] = [];
  const rateLimits: { key: string; perSecond: number; windowMs?: number }[] = [];
  const ownDataDir = overrides.dataDir === undefined;
  const dataDir = overrides.dataDir ?? mkdtempSync(path.join(tmpdir(), "dialmesh-plugin-test-"));
  const instanceId = overrides.instanceId ?? "contract";
  const record =
    (level: LogEntry["level"]) =>
    (msg: string, data?: Record<string, unknown>): void => {
      logs.push(data === undefined ? { level, msg } : { level, msg, data });
      overrides.logger?.[level](msg, data);
    };
  const logger: Logger = { debug: record("debug"), info: record("info"), warn: record("warn"), error: record("error") };
  const context: PluginContext<Options> = {
    instanceId,
    options,
    webhookUrl: `https://hub.test/webhooks/${instanceId}`,
    rateLimiter: {
      acquire: async (key, perSecond, windowMs) => {
        rateLimits.push({ key, perSecond, ...(windowMs !== undefined ? { windowMs } : {}) });
      },
    },
    conversations: { lastInboundAt: async () => undefined },
    ...overrides,
    dataDir,
    logger,
    emit: async (events) => {
      emitted.push(...events);
      await overrides.emit?.(events);
    },
  };
  return {
    context,
    logs,
    emitted,
    rateLimits,
    logText: () =>
      logs.map((l) => `${l.level} ${l.msg}${l.data === undefined ? "" : ` ${stringify(l.data)}`}`).join("\n"),
    cleanup: () => {
      if (ownDataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Checks, reusable by plugin tests

const EVENT_KINDS = new Set(["status", "call-result", "reply", "opt-out", "opt-in"]);

/** Asserts that `event` is a well-formed canonical event. */
export function assertCanonicalEvent(event: CanonicalEvent): void {
  assert.ok(EVENT_KINDS.has(event.kind), `unknown event kind ${String(event.kind)}`);
  assert.ok(event.at instanceof Date && !Number.isNaN(event.at.getTime()), "event.at must be a valid Date");
  switch (event.kind) {
    case "status":
      assert.ok(isAttemptStatus(event.status), `status ${event.status} is not in the canonical vocabulary`);
      assert.equal(typeof event.vendorId, "string");
      assert.ok(event.vendorId.length > 0, "status event needs a vendorId");
      assert.equal(typeof event.raw, "string", "status event keeps the vendor's raw status");
      break;
    case "call-result":
      assert.ok(isVoiceOutcome(event.outcome), `outcome ${event.outcome} is not a canonical voice outcome`);
      assert.ok(event.vendorId.length > 0, "call-result event needs a vendorId");
      assert.equal(typeof event.raw, "string", "call-result event keeps the vendor's raw code");
      break;
    case "reply":
      assert.equal(typeof event.text, "string");
      assert.ok(event.from.length > 0, "reply event needs the sender address");
      break;
    case "opt-out":
    case "opt-in":
      assert.ok(event.address.length > 0, `${event.kind} event needs an address`);
      break;
  }
}

/** Asserts that `result` is a well-formed SendResult with a canonical status. */
export function assertSendResult(result: SendResult): void {
  assert.equal(typeof result.vendorId, "string", "send() must return a vendorId");
  assert.ok(result.vendorId.length > 0, "send() must return a non-empty vendorId");
  assert.ok(isAttemptStatus(result.status), `send() status ${String(result.status)} is not canonical`);
}

/** Reads and parses `<pluginDir>/plugin.json`. */
export function readManifest(pluginDir: string): PluginManifest {
  return JSON.parse(readFileSync(path.join(pluginDir, "plugin.json"), "utf8")) as PluginManifest;
}

const SCHEMA_FILE = path.resolve(import.meta.dirname, "../plugin-manifest.schema.json");

function newAjv(): Ajv2020.default {
  // strict: false like the hub's loader, so the kit accepts exactly what the hub accepts.
  const ajv = new Ajv2020.default({ allErrors: true, strict: false });
  addFormats.default(ajv);
  return ajv;
}

function ajvErrors(errors: unknown): string {
  return stringify(errors);
}

/** Imports the manifest's entry module and returns its default export (the factory). */
export async function loadFactory<Options>(
  pluginDir: string,
  manifest: PluginManifest,
): Promise<PluginFactory<Options>> {
  const mod = (await import(pathToFileURL(path.resolve(pluginDir, manifest.entry)).href)) as { default?: unknown };
  assert.equal(typeof mod.default, "function", `${manifest.entry} must default-export a plugin factory`);
  return mod.default as PluginFactory<Options>;
}

let attemptSeq = 0;

/** A SendRequest for the harness customer with a fresh attemptId. */
export function contractSendRequest(
  channel: Channel,
  customer: Customer,
  content: MessageContent = {
    subject: "Dialmesh contract test",
    text: `Hello ${customer.firstName ?? "there"}, this is a contract test.`,
    html: `<p>Hello ${customer.firstName ?? "there"}, this is a contract test.</p>`,
  },
): SendRequest {
  attemptSeq += 1;
  const unique = `${Date.now().toString(36)}${process.pid.toString(36)}${attemptSeq}`;
  return {
    attemptId: `att-${unique}`,
    activityId: `act-${unique}`,
    conversationId: `conv-${unique}`,
    channel,
    customer,
    content,
  };
}

// ---------------------------------------------------------------------------------------------
// The contract

/**
 * Registers the contract tests for one plugin, inside `describe("plugin contract: <name>")`.
 * Tests run in order and share one plugin instance built from the harness's options.
 */
function declaresWebhooks(pluginDir: string): boolean {
  try {
    return readManifest(pluginDir).capabilities.webhooks === true;
  } catch {
    return true; // an unreadable manifest fails the manifest test; run this one to say more
  }
}

export function runPluginContract<Options>(harness: ContractHarness<Options>): void {
  const folder = path.basename(harness.pluginDir);
  const timeout = harness.timeoutMs ?? 30_000;

  describe(`plugin contract: ${folder}`, () => {
    let options: Options | undefined;
    let manifest: PluginManifest | undefined;
    let testContext: TestContext<Options> | undefined;
    let plugin: ChannelPlugin | undefined;
    let stopped = false;
    let sentVendorId: string | undefined;
    /** Texts the plugin produced that must not contain secrets. */
    const exposed: { where: string; text: string }[] = [];

    const need = <T>(value: T | undefined, what: string): T => {
      assert.ok(value !== undefined, `${what} is not available: an earlier contract step failed`);
      return value;
    };

    const expose = (where: string, err: unknown): void => {
      let e: unknown = err;
      for (let depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
        if (isError(e)) {
          exposed.push({ where, text: `${e.message} ${stringify((e as { code?: unknown }).code ?? "")}` });
          e = e.cause;
        } else {
          exposed.push({ where, text: stringify(e) });
          break;
        }
      }
    };

    const sendExpectingError = async (what: string): Promise<PluginError> => {
      const p = need(plugin, "the plugin");
      let caught: unknown;
      try {
        const result = await p.send(contractSendRequest(harness.channel, harness.customer, harness.content));
        exposed.push({ where: `${what}: send result`, text: stringify(result) });
      } catch (err) {
        caught = err;
      }
      assert.ok(caught !== undefined, `send() must reject after ${what}`);
      expose(`${what}: send error`, caught);
      assert.ok(isPluginError(caught), `send() must reject with a PluginError after ${what}, got ${stringify(caught)}`);
      return caught;
    };

    beforeAll(async () => {
      options = await harness.setup();
    });

    afterAll(async () => {
      try {
        if (plugin?.stop && !stopped) await plugin.stop();
      } finally {
        testContext?.cleanup();
        await harness.teardown();
      }
    });

    test("manifest: plugin.json validates against the manifest schema and is named after its folder", () => {
      const raw = readManifest(harness.pluginDir);
      const schema = JSON.parse(readFileSync(SCHEMA_FILE, "utf8")) as Record<string, unknown>;
      const validate = newAjv().compile(schema);
      assert.ok(validate(raw), `plugin.json is invalid: ${ajvErrors(validate.errors)}`);
      assert.equal(raw.name, folder, "manifest name must equal the plugin folder name");
      assert.ok(raw.channels.includes(harness.channel), `manifest channels must include ${harness.channel}`);
      for (const name of raw.secretOptions ?? []) {
        assert.match(name, /^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/, `secret option "${name}" must be a dotted path`);
      }
      manifest = raw;
    });

    test("options: the schema compiles, accepts the harness's options and refuses each invalid one", () => {
      const m = need(manifest, "the manifest");
      const validate = newAjv().compile(m.optionsSchema);
      assert.ok(validate(need(options, "options")), `valid options refused: ${ajvErrors(validate.errors)}`);
      assert.ok(harness.invalidOptions.length > 0, "the harness must give at least one invalid options example");
      for (const { options: bad, why } of harness.invalidOptions) {
        assert.equal(validate(bad), false, `options schema must refuse: ${why}`);
      }
    });

    test("factory: the entry's default export builds a plugin from a PluginContext", async () => {
      const m = need(manifest, "the manifest");
      const factory = await loadFactory<Options>(harness.pluginDir, m);
      testContext = createTestContext<Options>(need(options, "options"), harness.context);
      const built = await factory(testContext.context);
      assert.equal(typeof built.send, "function", "plugin.send must be a function");
      assert.equal(typeof built.health, "function", "plugin.health must be a function");
      if (m.capabilities.webhooks) {
        assert.equal(typeof built.handleInbound, "function", "capabilities.webhooks requires handleInbound()");
      }
      if (built.start) await built.start();
      plugin = built;
    });

    test(
      "health: answers { ok: boolean }",
      async () => {
        const health = await need(plugin, "the plugin").health();
        assert.equal(typeof health.ok, "boolean", "health().ok must be a boolean");
        assert.ok(health.detail === undefined || typeof health.detail === "string", "health().detail must be a string");
        exposed.push({ where: "health", text: stringify(health) });
      },
      timeout,
    );

    test(
      "send: the vendor accepts one message; a vendorId and a canonical status come back",
      async () => {
        const p = need(plugin, "the plugin");
        const before = harness.acceptedCount();
        const result = await p.send(contractSendRequest(harness.channel, harness.customer, harness.content));
        exposed.push({ where: "send result", text: stringify(result) });
        assertSendResult(result);
        assert.equal(harness.acceptedCount(), before + 1, "the vendor must have accepted exactly one more message");
        sentVendorId = result.vendorId;
      },
      timeout,
    );

    test(
      "send: a permanent vendor refusal rejects with a PluginError, not retryable, FAILED or BLOCKED",
      async () => {
        need(plugin, "the plugin");
        harness.failNextPermanently();
        const err = await sendExpectingError("failNextPermanently()");
        assert.equal(err.retryable, false, `a permanent refusal must not be retryable (code ${err.code})`);
        assert.ok(
          err.status === "FAILED" || err.status === "BLOCKED",
          `status must be FAILED or BLOCKED, got ${err.status}`,
        );
        assert.ok(err.code.length > 0, "PluginError.code must name the reason");
      },
      timeout,
    );

    test(
      "send: a transient vendor failure rejects with a retryable PluginError",
      async () => {
        need(plugin, "the plugin");
        harness.failNextTransiently();
        const err = await sendExpectingError("failNextTransiently()");
        assert.equal(err.retryable, true, `a transient failure must be retryable (code ${err.code})`);
        assert.ok(err.code.length > 0, "PluginError.code must name the reason");
        assert.ok(
          err.retryAfterMs === undefined || (Number.isFinite(err.retryAfterMs) && err.retryAfterMs >= 0),
          "retryAfterMs must be a non-negative number when set",
        );
      },
      timeout,
    );

    test(
      "send: after a transient failure the next send goes through",
      async () => {
        const p = need(plugin, "the plugin");
        const before = harness.acceptedCount();
        const result = await p.send(contractSendRequest(harness.channel, harness.customer, harness.content));
        assertSendResult(result);
        assert.equal(harness.acceptedCount(), before + 1);
      },
      timeout,
    );

    // Jest decides skips when tests are registered: read the manifest's claim now.
    (declaresWebhooks(harness.pluginDir) ? test : test.skip)(
      "webhooks: a signed status callback yields canonical events; a forged one is refused (403)",
      async () => {
        need(manifest, "the manifest");
        const p = need(plugin, "the plugin");
        const handle = p.handleInbound?.bind(p);
        assert.ok(handle, "capabilities.webhooks requires handleInbound()");
        assert.ok(
          harness.signedStatusCallback && harness.forgedStatusCallback,
          "a plugin with webhooks needs signedStatusCallback and forgedStatusCallback in its harness",
        );
        const vendorId = need(sentVendorId, "the vendorId of the sent message");
        const opts = need(options, "options");

        const signed = await handle(harness.signedStatusCallback(vendorId, opts));
        exposed.push({ where: "signed callback response", text: stringify(signed.response) });
        assert.ok(
          signed.response.status >= 200 && signed.response.status < 300,
          `a signed callback must be answered 2xx, got ${signed.response.status} ${signed.response.body ?? ""}`,
        );
        assert.ok(signed.events.length > 0, "a signed status callback must yield at least one event");
        for (const event of signed.events) assertCanonicalEvent(event);
        assert.ok(
          signed.events.some((e) => "vendorId" in e && e.vendorId === vendorId),
          `an event must refer to the sent message's vendorId ${vendorId}`,
        );

        const forged = await handle(harness.forgedStatusCallback(vendorId, opts));
        exposed.push({ where: "forged callback response", text: stringify(forged.response) });
        assert.equal(forged.response.status, 403, "a forged callback must be answered 403");
        assert.deepEqual(forged.events, [], "a forged callback must yield no events");
      },
      timeout,
    );

    test("secrets: secret option values never appear in logs, errors, results or health", async () => {
      const m = need(manifest, "the manifest");
      const opts = need(options, "options");
      const tc = need(testContext, "the test context");
      const missing = missingSecrets(opts, m.secretOptions);
      assert.deepEqual(
        missing,
        [],
        "the harness's options must give a value to every secret option, so leaks can be seen",
      );
      const secrets = secretValues(opts, m.secretOptions);
      const texts = [
        { where: "logs", text: tc.logText() },
        { where: "emitted events", text: stringify(tc.emitted) },
        ...exposed,
      ];
      for (const secret of secrets) {
        for (const { where, text } of texts) {
          assert.ok(!text.includes(secret), `a secret option value appears in ${where}`);
        }
      }
    });

    test(
      "stop: resolves",
      async () => {
        const p = need(plugin, "the plugin");
        stopped = true;
        if (p.stop) await p.stop();
      },
      timeout,
    );
  });
}
