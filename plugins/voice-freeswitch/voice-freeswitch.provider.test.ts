import assert from "node:assert/strict";
import { createServer, type AddressInfo } from "node:net";
import { afterAll, afterEach, describe, it, jest } from "@jest/globals";
import { createTestContext, runPluginContract, type TestContext } from "@dialmesh/sdk/contract-kit";
import { isPluginError, type CallEvent, type CallRequest, type Logger } from "@dialmesh/sdk";
import { startEslSwitch, type EslSwitch, type EslSwitchOptions } from "../../test/support/esl-switch/switch.ts";
import { ALWAYS_HUMAN } from "../../test/support/esl-switch/call-model.ts";
import {
  createVoiceFreeswitch,
  type VoiceFreeswitchOptions,
  type VoiceFreeswitchPlugin,
} from "./voice-freeswitch.provider.ts";
import {
  mapCallOutcome,
  parseGatewayStatus,
  parseJobResult,
  splitExtension,
  type CallFacts,
} from "./voice-freeswitch.mapping.ts";

// Every wait here is on an event; a missing one should fail fast, not after jest's 300 s.
jest.setTimeout(20_000);

const CALLER_ID = "+14155550100";
const CUSTOMER_PHONE = "+14155552671";
const PASSWORD = "esl-s3cret-Pw";
/** 200x faster than real time: a 30 s conversation takes 150 ms. */
const TIME_SCALE = 0.005;

function options(esl: EslSwitch, extra: Partial<VoiceFreeswitchOptions> = {}): VoiceFreeswitchOptions {
  return {
    esl: { host: esl.host, port: esl.port, password: esl.password },
    gateway: "carrier1",
    callerId: CALLER_ID,
    ...extra,
  };
}

// ---------------------------------------------------------------------------------------------
// The contract kit

let contractSwitch: EslSwitch | undefined;
runPluginContract<VoiceFreeswitchOptions>({
  pluginDir: import.meta.dirname,
  channel: "voice",
  customer: { id: "cust-1", firstName: "Ada", phone: CUSTOMER_PHONE },
  async setup() {
    contractSwitch = await startEslSwitch({ password: PASSWORD, timeScale: TIME_SCALE });
    return options(contractSwitch);
  },
  async teardown() {
    await contractSwitch?.close();
  },
  invalidOptions: [
    { options: { gateway: "carrier1", callerId: CALLER_ID }, why: "esl is required" },
    {
      options: { esl: { host: "h", port: 8021 }, gateway: "carrier1", callerId: CALLER_ID },
      why: "esl.password is required",
    },
    { options: { esl: { password: "x" }, callerId: CALLER_ID }, why: "gateway is required" },
    { options: { esl: { password: "x" }, gateway: "carrier1", callerId: "4155550100" }, why: "callerId is E.164" },
    { options: { esl: { password: "x" }, gateway: "a/b", callerId: CALLER_ID }, why: "gateway is a plain name" },
    {
      options: { esl: { password: "x" }, gateway: "g", callerId: CALLER_ID, ringTimeoutS: 2 },
      why: "ringTimeoutS >= 5",
    },
    { options: { esl: { password: "x", port: 0 }, gateway: "g", callerId: CALLER_ID }, why: "esl.port is a port" },
  ],
  failNextPermanently: () => contractSwitch?.refuseNext("INVALID_GATEWAY"),
  failNextTransiently: () => contractSwitch?.refuseNext("GATEWAY_DOWN"),
  acceptedCount: () => contractSwitch?.placedCount() ?? 0,
});

// ---------------------------------------------------------------------------------------------
// The mapping

describe("voice-freeswitch mapping (issue 7's table)", () => {
  const unanswered = (cause: string): CallFacts => ({ cause, answered: false, bridged: false, abandoned: false });
  const rows: [string, CallFacts, string][] = [
    [
      "NORMAL_CLEARING after a bridge",
      { cause: "NORMAL_CLEARING", answered: true, bridged: true, abandoned: false },
      "CONNECTED",
    ],
    ["USER_BUSY", unanswered("USER_BUSY"), "BUSY"],
    ["NO_ANSWER", unanswered("NO_ANSWER"), "NO_ANSWER"],
    ["NO_USER_RESPONSE", unanswered("NO_USER_RESPONSE"), "NO_ANSWER"],
    ["the ring timeout (the hub cancels)", unanswered("ORIGINATOR_CANCEL"), "NO_ANSWER"],
    ["UNALLOCATED_NUMBER", unanswered("UNALLOCATED_NUMBER"), "INVALID_NUMBER"],
    ["INVALID_NUMBER_FORMAT", unanswered("INVALID_NUMBER_FORMAT"), "INVALID_NUMBER"],
    ["NO_ROUTE_DESTINATION", unanswered("NO_ROUTE_DESTINATION"), "INVALID_NUMBER"],
    [
      "machine (mod_amd)",
      { cause: "NORMAL_CLEARING", answered: true, bridged: false, abandoned: false, amdVerdict: "MACHINE" },
      "ANSWERING_MACHINE",
    ],
    [
      "abandoned by the hub",
      { cause: "NORMAL_CLEARING", answered: true, bridged: false, abandoned: true },
      "ABANDONED",
    ],
    [
      "answered, no agent, the customer hung up",
      { cause: "NORMAL_CLEARING", answered: true, bridged: false, abandoned: false, amdVerdict: "HUMAN" },
      "ABANDONED",
    ],
    ["NORMAL_TEMPORARY_FAILURE", unanswered("NORMAL_TEMPORARY_FAILURE"), "NETWORK_ERROR"],
    ["DESTINATION_OUT_OF_ORDER", unanswered("DESTINATION_OUT_OF_ORDER"), "NETWORK_ERROR"],
    ["RECOVERY_ON_TIMER_EXPIRE", unanswered("RECOVERY_ON_TIMER_EXPIRE"), "NETWORK_ERROR"],
    ["a cause nobody mapped", unanswered("SOMETHING_NEW"), "NETWORK_ERROR"],
  ];
  it.each(rows.map(([what, facts, outcome]) => [what, outcome, facts] as const))(
    "%s -> %s",
    (_what, outcome, facts) => {
      assert.equal(mapCallOutcome(facts), outcome);
    },
  );

  it("reads BACKGROUND_JOB bodies, gateway status and extensions", () => {
    assert.deepEqual(parseJobResult("+OK 1234-abcd\n"), { ok: true, uuid: "1234-abcd" });
    assert.deepEqual(parseJobResult("-ERR GATEWAY_DOWN\n"), { ok: false, cause: "GATEWAY_DOWN" });
    assert.equal(parseGatewayStatus("Invalid Gateway!\n"), "UNKNOWN_GATEWAY");
    assert.equal(parseGatewayStatus("Name    \tg\nState   \tREGED\nStatus  \tUP (ping)\n"), "UP");
    assert.equal(parseGatewayStatus("Name    \tg\nState   \tFAIL_WAIT\nStatus  \tDOWN\n"), "DOWN");
    assert.deepEqual(splitExtension("+14155550100;ext=123"), { number: "+14155550100", extension: "123" });
    assert.deepEqual(splitExtension("+14155550100"), { number: "+14155550100" });
  });
});

// ---------------------------------------------------------------------------------------------
// Calls against the local switch

/** Call events as they come, and promises for the ones a test waits on. */
class CallLog {
  readonly events: CallEvent[] = [];
  #waiters: { match: (e: CallEvent) => boolean; resolve: (e: CallEvent) => void }[] = [];

  constructor(plugin: VoiceFreeswitchPlugin) {
    plugin.voice.onCallEvent((event) => {
      this.events.push(event);
      this.#waiters = this.#waiters.filter((w) => {
        if (!w.match(event)) return true;
        w.resolve(event);
        return false;
      });
    });
  }

  next<T extends CallEvent["type"]>(callId: string, type: T): Promise<Extract<CallEvent, { type: T }>> {
    const match = (e: CallEvent): boolean => e.callId === callId && e.type === type;
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen as Extract<CallEvent, { type: T }>);
    return new Promise((resolve) =>
      this.#waiters.push({ match, resolve: (e) => resolve(e as Extract<CallEvent, { type: T }>) }),
    );
  }

  types(callId: string): string[] {
    return this.events.filter((e) => e.callId === callId).map((e) => e.type);
  }
}

/** A logger that tells when a message has been logged `count` times. */
class WatchedLogger implements Logger {
  readonly #counts = new Map<string, number>();
  #waiters: { msg: string; count: number; resolve: () => void }[] = [];
  #log(msg: string): void {
    const count = (this.#counts.get(msg) ?? 0) + 1;
    this.#counts.set(msg, count);
    this.#waiters = this.#waiters.filter((w) => {
      if (w.msg !== msg || w.count > count) return true;
      w.resolve();
      return false;
    });
  }
  debug = (msg: string): void => this.#log(msg);
  info = (msg: string): void => this.#log(msg);
  warn = (msg: string): void => this.#log(msg);
  error = (msg: string): void => this.#log(msg);
  logged(msg: string, count: number): Promise<void> {
    if ((this.#counts.get(msg) ?? 0) >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ msg, count, resolve }));
  }
}

interface Rig {
  esl: EslSwitch;
  plugin: VoiceFreeswitchPlugin;
  calls: CallLog;
  tc: TestContext<VoiceFreeswitchOptions>;
  logger: WatchedLogger;
}

const rigs: Rig[] = [];
let seq = 0;

async function rig(switchOptions: EslSwitchOptions = {}, extra: Partial<VoiceFreeswitchOptions> = {}): Promise<Rig> {
  const esl = await startEslSwitch({ password: PASSWORD, timeScale: TIME_SCALE, ...switchOptions });
  const logger = new WatchedLogger();
  const tc = createTestContext(options(esl, extra), { logger });
  const plugin = createVoiceFreeswitch(tc.context);
  const calls = new CallLog(plugin);
  await plugin.start?.();
  await plugin.whenConnected();
  const r = { esl, plugin, calls, tc, logger };
  rigs.push(r);
  return r;
}

function callRequest(extra: Partial<CallRequest> = {}): CallRequest {
  seq += 1;
  return { callId: `call-${seq}-${process.pid}`, to: CUSTOMER_PHONE, ...extra };
}

afterEach(async () => {
  for (const r of rigs.splice(0)) {
    await r.plugin.stop?.();
    await r.esl.close();
    r.tc.cleanup();
  }
});

describe("voice-freeswitch calls", () => {
  it("originates exactly as issue 7 writes it, echoes the call's variables, and reports a bridged call CONNECTED", async () => {
    const { esl, plugin, calls } = await rig();
    const request = callRequest();
    await plugin.voice.dial(request);
    assert.equal(
      esl.commands.find((c) => c.startsWith("bgapi originate")),
      `bgapi originate {origination_uuid=${request.callId},origination_caller_id_number=${CALLER_ID},originate_timeout=20,ignore_early_media=true}sofia/gateway/carrier1/${CUSTOMER_PHONE} &park()`,
    );
    await calls.next(request.callId, "answered");
    await plugin.voice.bridge(request.callId, "user/1001");
    const bridged = await calls.next(request.callId, "bridged");
    assert.equal(bridged.endpoint, "user/1001");
    assert.equal(esl.call(request.callId)?.endpoint, "user/1001");
    const ended = await calls.next(request.callId, "ended");
    assert.equal(ended.outcome, "CONNECTED");
    assert.equal(ended.cause, "NORMAL_CLEARING");
    assert.ok(ended.talkSeconds > 0, "talk time comes from variable_billsec");
    assert.deepEqual(calls.types(request.callId), ["dialing", "answered", "bridged", "ended"]);
  });

  it("passes extra variables and the caller id and ring timeout overrides", async () => {
    const { esl, plugin, calls } = await rig();
    const request = callRequest({ callerId: "+442071234567", ringTimeoutS: 30, variables: { campaign_id: "c-42" } });
    await plugin.voice.dial(request);
    const vars = esl.call(request.callId)?.variables;
    assert.equal(vars?.campaign_id, "c-42");
    assert.equal(vars?.origination_caller_id_number, "+442071234567");
    assert.equal(vars?.originate_timeout, "30");
    await plugin.voice.hangup(request.callId);
    await calls.next(request.callId, "ended");
  });

  it.each([
    ["busy", "BUSY", "USER_BUSY"],
    ["noAnswer", "NO_ANSWER", "NO_ANSWER"],
    ["invalid", "INVALID_NUMBER", "UNALLOCATED_NUMBER"],
  ] as const)("a %s call resolves the dial and ends %s (%s), talk time 0", async (truth, outcome, cause) => {
    const { esl, plugin, calls } = await rig();
    esl.forceNext(truth);
    const request = callRequest();
    await plugin.voice.dial(request);
    const ended = await calls.next(request.callId, "ended");
    assert.equal(ended.outcome, outcome);
    assert.equal(ended.cause, cause);
    assert.equal(ended.talkSeconds, 0);
    assert.ok(!calls.types(request.callId).includes("answered"));
  });

  it("a network failure of the carrier ends NETWORK_ERROR with the raw cause", async () => {
    const { esl, plugin, calls } = await rig();
    esl.forceNext({ cause: "NORMAL_TEMPORARY_FAILURE" });
    const request = callRequest();
    await plugin.voice.dial(request);
    const ended = await calls.next(request.callId, "ended");
    assert.equal(ended.outcome, "NETWORK_ERROR");
    assert.equal(ended.cause, "NORMAL_TEMPORARY_FAILURE");
  });

  it("with amd on, runs mod_amd on answer and reports its verdict; a machine ends ANSWERING_MACHINE", async () => {
    const perfectAmd = { enabled: true, sensitivity: 1, specificity: 1, latencySeconds: 1 };
    const { esl, plugin, calls } = await rig({ scenario: { ...ALWAYS_HUMAN, amd: perfectAmd } }, { amd: true });
    esl.forceNext("machine");
    const request = callRequest();
    await plugin.voice.dial(request);
    assert.equal(esl.call(request.callId)?.variables.execute_on_answer, "amd");
    const amd = await calls.next(request.callId, "amd");
    assert.equal(amd.verdict, "MACHINE");
    await plugin.voice.hangup(request.callId);
    const ended = await calls.next(request.callId, "ended");
    assert.equal(ended.outcome, "ANSWERING_MACHINE");
  });

  it("a person detected HUMAN and bridged is CONNECTED", async () => {
    const perfectAmd = { enabled: true, sensitivity: 1, specificity: 1, latencySeconds: 1 };
    const { plugin, calls } = await rig({ scenario: { ...ALWAYS_HUMAN, amd: perfectAmd } }, { amd: true });
    const request = callRequest();
    await plugin.voice.dial(request);
    assert.equal((await calls.next(request.callId, "amd")).verdict, "HUMAN");
    await plugin.voice.bridge(request.callId, "user/1002");
    assert.equal((await calls.next(request.callId, "ended")).outcome, "CONNECTED");
  });

  it("abandon plays the information message, hangs up, and the call ends ABANDONED", async () => {
    const { esl, plugin, calls } = await rig({}, { abandonMessage: "dialmesh/sorry.wav" });
    const request = callRequest();
    await plugin.voice.dial(request);
    await calls.next(request.callId, "answered");
    await plugin.voice.abandon(request.callId);
    const ended = await calls.next(request.callId, "ended");
    assert.equal(ended.outcome, "ABANDONED");
    assert.ok(
      esl.commands.includes(
        `api uuid_transfer ${request.callId} playback:dialmesh/sorry.wav,hangup:NORMAL_CLEARING inline`,
      ),
    );
    assert.ok(!calls.types(request.callId).includes("bridged"));
  });

  it("an answered call nobody bridges, that the customer hangs up, is ABANDONED", async () => {
    const { plugin, calls } = await rig({ parkedPatienceS: 1 });
    const request = callRequest();
    await plugin.voice.dial(request);
    assert.equal((await calls.next(request.callId, "ended")).outcome, "ABANDONED");
  });

  it("hangup of a ringing call cancels it: NO_ANSWER, ORIGINATOR_CANCEL", async () => {
    const { plugin, calls } = await rig({ scenario: { ...ALWAYS_HUMAN, timeToAnswerSeconds: { mean: 15, sd: 0 } } });
    const request = callRequest();
    await plugin.voice.dial(request);
    await plugin.voice.hangup(request.callId);
    const ended = await calls.next(request.callId, "ended");
    assert.equal(ended.outcome, "NO_ANSWER");
    assert.equal(ended.cause, "ORIGINATOR_CANCEL");
  });

  it("dials the number without its extension and sends the extension as DTMF after the answer", async () => {
    const { esl, plugin, calls } = await rig();
    const request = callRequest({ to: `${CUSTOMER_PHONE};ext=123` });
    await plugin.voice.dial(request);
    assert.equal(esl.call(request.callId)?.number, CUSTOMER_PHONE);
    await calls.next(request.callId, "answered");
    // Commands are answered in order: once the bridge is through, the DTMF was sent before it.
    await plugin.voice.bridge(request.callId, "user/1001");
    assert.deepEqual(esl.call(request.callId)?.dtmf, ["123"]);
  });

  it("bridge and abandon refuse a call that is not answered or not known", async () => {
    const { plugin } = await rig({ scenario: { ...ALWAYS_HUMAN, timeToAnswerSeconds: { mean: 15, sd: 0 } } });
    const request = callRequest();
    await plugin.voice.dial(request);
    await assert.rejects(plugin.voice.bridge(request.callId, "user/1001"), { code: "CALL_NOT_ANSWERED" });
    await assert.rejects(plugin.voice.abandon("nope"), { code: "CALL_NOT_FOUND" });
    await plugin.voice.hangup(request.callId);
  });

  it("a gateway that is down rejects the dial with GATEWAY_DOWN, retryable; health says so", async () => {
    const { esl, plugin } = await rig();
    esl.setGateway("carrier1", "DOWN");
    const request = callRequest();
    const err: unknown = await plugin.voice.dial(request).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(isPluginError(err));
    assert.equal(err.code, "GATEWAY_DOWN");
    assert.equal(err.retryable, true);
    assert.equal(esl.placedCount(), 0);
    const health = await plugin.health();
    assert.equal(health.ok, false);
    assert.match(health.detail ?? "", /down/);
    esl.setGateway("carrier1", "UP");
    assert.deepEqual((await plugin.health()).ok, true);
  });

  it("an unknown gateway rejects the dial with INVALID_GATEWAY, not retryable; health says so", async () => {
    const { plugin } = await rig({}, { gateway: "nosuch" });
    const err: unknown = await plugin.voice.dial(callRequest()).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(isPluginError(err));
    assert.equal(err.code, "INVALID_GATEWAY");
    assert.equal(err.retryable, false);
    assert.match((await plugin.health()).detail ?? "", /does not exist/);
  });

  it("a switch that cannot be reached: dial rejects NETWORK_ERROR, retryable, at once; health not ok", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const tc = createTestContext<VoiceFreeswitchOptions>({
      esl: { host: "127.0.0.1", port, password: PASSWORD },
      gateway: "carrier1",
      callerId: CALLER_ID,
    });
    const plugin = createVoiceFreeswitch(tc.context);
    await plugin.start?.();
    try {
      const err: unknown = await plugin.voice.dial(callRequest()).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(isPluginError(err));
      assert.equal(err.code, "NETWORK_ERROR");
      assert.equal(err.retryable, true);
      assert.equal((await plugin.health()).ok, false);
    } finally {
      await plugin.stop?.();
      tc.cleanup();
    }
  });

  it("reconnects after the switch drops the connection, subscribes again and dials", async () => {
    const { esl, plugin, calls, logger } = await rig();
    await logger.logged("connected to the FreeSWITCH event socket", 1);
    esl.dropConnections();
    await logger.logged("FreeSWITCH event socket unavailable", 1);
    await assert.rejects(plugin.voice.dial(callRequest()), { code: "NETWORK_ERROR" });
    await logger.logged("connected to the FreeSWITCH event socket", 2);
    assert.equal(esl.connectionCount(), 1);
    const request = callRequest();
    await plugin.voice.dial(request);
    await calls.next(request.callId, "answered");
    assert.ok(esl.commands.filter((c) => c.startsWith("event plain")).length >= 2, "subscribed again");
  });

  it("a call that ended while the connection was down is settled after the reconnect", async () => {
    const { esl, plugin, calls, logger } = await rig({ parkedPatienceS: 1 });
    const request = callRequest();
    await plugin.voice.dial(request);
    await calls.next(request.callId, "answered");
    esl.dropConnections();
    await logger.logged("FreeSWITCH event socket unavailable", 1);
    const ended = await calls.next(request.callId, "ended");
    assert.equal(esl.call(request.callId)?.state, "ended");
    assert.ok(ended.cause === "UNKNOWN_AFTER_RECONNECT" || ended.cause === "NORMAL_CLEARING");
  });

  it("a wrong password is logged without the password, and the plugin stays unhealthy", async () => {
    const esl = await startEslSwitch({ password: PASSWORD, timeScale: TIME_SCALE });
    const logger = new WatchedLogger();
    const tc = createTestContext(options(esl, { esl: { host: esl.host, port: esl.port, password: "wrong-Pw-123" } }), {
      logger,
    });
    const plugin = createVoiceFreeswitch(tc.context);
    try {
      void plugin.start?.();
      await logger.logged("FreeSWITCH event socket unavailable", 1);
      assert.equal((await plugin.health()).ok, false);
      assert.match(tc.logText(), /authentication refused/);
      assert.ok(!tc.logText().includes("wrong-Pw-123"));
    } finally {
      await plugin.stop?.();
      await esl.close();
      tc.cleanup();
    }
  });

  it("send() places one unpaced call: QUEUED with the call id, the outcome emitted as a call-result", async () => {
    const { esl, plugin, tc, calls } = await rig({ parkedPatienceS: 1 });
    const result = await plugin.send({
      attemptId: "att-1",
      activityId: "act-1",
      conversationId: "conv-1",
      channel: "voice",
      customer: { id: "c1", phone: CUSTOMER_PHONE },
      content: {},
    });
    assert.equal(result.status, "QUEUED");
    assert.equal(esl.call(result.vendorId)?.variables.dialmesh_attempt_id, "att-1");
    await calls.next(result.vendorId, "ended");
    assert.deepEqual(
      tc.emitted.map((e) => (e.kind === "call-result" ? [e.vendorId, e.outcome, e.raw] : [])),
      [[result.vendorId, "ABANDONED", "NORMAL_CLEARING"]],
    );
  });
});

// A test that failed midway leaves its rig: close it.
afterAll(async () => {
  for (const r of rigs.splice(0)) {
    await r.plugin.stop?.();
    await r.esl.close();
  }
});
