/**
 * voice-freeswitch: outbound calls through a FreeSWITCH driven over its Event Socket (inbound
 * mode), for the hub's dialer service (`voice`, see @dialmesh/sdk voice.ts) and, unpaced, for
 * `send`.
 *
 * - dial: `bgapi originate {origination_uuid=<callId>,...}sofia/gateway/<gw>/<number> &park()`;
 *   resolved by the first sign the call exists (CHANNEL_PROGRESS, CHANNEL_ANSWER, hangup) or
 *   by the BACKGROUND_JOB; `-ERR INVALID_GATEWAY` / `-ERR GATEWAY_DOWN` reject it.
 * - bridge: `uuid_transfer <uuid> bridge:<endpoint> inline` (CHANNEL_BRIDGE reports it);
 *   abandon: `uuid_transfer <uuid> playback:<message>,hangup:NORMAL_CLEARING inline`;
 *   hangup: `uuid_kill`.
 * - AMD: `execute_on_answer=amd` (mod_amd); its verdict is the `amd_result` channel variable,
 *   read from CHANNEL_EXECUTE_COMPLETE of the amd application (or a fork's CUSTOM amd::info).
 * - `;ext=` digits are sent with `uuid_send_dtmf` after the answer.
 * - After a reconnect, calls whose events may have been missed are checked with `uuid_exists`.
 */
import { randomUUID } from "node:crypto";
import {
  definePlugin,
  isPluginError,
  PluginError,
  type CallEvent,
  type CallEventListener,
  type CallRequest,
  type ChannelPlugin,
  type PluginContext,
  type PluginHealth,
  type SendRequest,
  type SendResult,
  type VoiceControl,
  type AmdVerdict,
} from "@dialmesh/sdk";
import { EslClient, EslError, type EslEvent } from "./voice-freeswitch.esl.ts";
import {
  NOT_PLACED_CAUSES,
  isNotPlacedCause,
  mapCallOutcome,
  parseGatewayStatus,
  parseJobResult,
  splitExtension,
} from "./voice-freeswitch.mapping.ts";

export interface VoiceFreeswitchOptions {
  esl: { host: string; port: number; /** Secret. */ password: string };
  /** The sofia gateway calls go out through. */
  gateway: string;
  /** E.164 caller id presented to the customer. */
  callerId: string;
  /** Seconds a call may ring (originate_timeout); default 20. */
  ringTimeoutS?: number;
  /** Answering-machine detection with mod_amd; default false. */
  amd?: boolean;
  /** Sound played before hanging up an abandoned call (the regulator's information message). */
  abandonMessage?: string;
}

export const DEFAULT_RING_TIMEOUT_S = 20;
export const DEFAULT_ABANDON_MESSAGE = "dialmesh/abandon-information.wav";
/** Events the plugin needs; BACKGROUND_JOB must be subscribed to, like any other event. */
export const SUBSCRIBED_EVENTS = [
  "BACKGROUND_JOB",
  "CHANNEL_PROGRESS",
  "CHANNEL_PROGRESS_MEDIA",
  "CHANNEL_ANSWER",
  "CHANNEL_BRIDGE",
  "CHANNEL_EXECUTE_COMPLETE",
  "CHANNEL_HANGUP_COMPLETE",
  "CUSTOM",
  "amd::info",
];
/** How long start() waits for the first connection before it lets the hub go on. */
const START_WAIT_MS = 3000;
/** A dial the switch took but never confirmed in this time (ring timeout added) is failed. */
const DIAL_GRACE_S = 30;

const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Characters that would end a value inside `{...}` or the command line. */
const UNSAFE_VALUE = /[,{}'\s]/;
const ENDPOINT = /^[\w.@/:+-]+$/;
const NUMBER = /^\+?[0-9]{3,15}$/;

interface LiveCall {
  callId: string;
  jobUuid: string;
  extension?: string;
  /** Placed through send(): its outcome is also emitted as a call-result. */
  viaSend: boolean;
  dialing: boolean;
  answered: boolean;
  bridged: boolean;
  abandoned: boolean;
  verdict?: AmdVerdict;
  /** mod_amd runs on the call (execute_on_answer=amd). */
  amd: boolean;
  endpoint?: string;
  settle?: { resolve: () => void; reject: (err: PluginError) => void; guard: NodeJS.Timeout };
}

/** The plugin with a test hook: resolves when connected to the switch. */
export interface VoiceFreeswitchPlugin extends ChannelPlugin {
  voice: VoiceControl;
  whenConnected(): Promise<void>;
}

function networkError(message: string, cause?: unknown): PluginError {
  return new PluginError("NETWORK_ERROR", message, { retryable: true, retryAfterMs: 5000, cause });
}

/**
 * The originate may have reached the switch (sent, then no usable answer): the call is killed
 * if it exists, and the dial is not retryable: a retry could ring the customer twice.
 */
function unknownOutcome(message: string, cause?: unknown): PluginError {
  return new PluginError("OUTCOME_UNKNOWN", message, { retryable: false, cause });
}

function eventTime(event: EslEvent): Date {
  const micros = Number(event.headers.get("Event-Date-Timestamp"));
  return Number.isFinite(micros) && micros > 0 ? new Date(micros / 1000) : new Date();
}

export function createVoiceFreeswitch(ctx: PluginContext<VoiceFreeswitchOptions>): VoiceFreeswitchPlugin {
  const opts = ctx.options;
  const ringTimeoutS = opts.ringTimeoutS ?? DEFAULT_RING_TIMEOUT_S;
  const abandonMessage = opts.abandonMessage ?? DEFAULT_ABANDON_MESSAGE;
  const where = `${opts.esl.host}:${opts.esl.port}`;
  const calls = new Map<string, LiveCall>();
  const byJob = new Map<string, string>();
  const listeners = new Set<CallEventListener>();
  /** Calls whose originate may have reached the switch while the hub gave up on it. */
  const toKill = new Set<string>();
  let everConnected = false;
  /** Ends start()'s wait for the first connection (stop() during start()). */
  let stopStartWait = (): void => undefined;

  const client = new EslClient({
    host: opts.esl.host,
    port: opts.esl.port,
    password: opts.esl.password,
    events: SUBSCRIBED_EVENTS,
    onStatus: ({ connected, reason }) => {
      if (connected) {
        ctx.logger.info("connected to the FreeSWITCH event socket", { switch: where });
        if (everConnected) void afterReconnect();
        everConnected = true;
      } else {
        ctx.logger.warn("FreeSWITCH event socket unavailable", { switch: where, reason });
      }
    },
  });

  const report = (event: CallEvent): void => {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (err) {
        ctx.logger.error("a call event listener threw", { callId: event.callId, error: String(err) });
      }
    }
  };

  const markDialing = (call: LiveCall, at: Date): void => {
    if (call.dialing) return;
    call.dialing = true;
    if (call.settle) {
      clearTimeout(call.settle.guard);
      call.settle.resolve();
      call.settle = undefined;
    }
    report({ type: "dialing", callId: call.callId, at });
  };

  const end = (call: LiveCall, cause: string, talkSeconds: number, at: Date): void => {
    markDialing(call, at);
    calls.delete(call.callId);
    byJob.delete(call.jobUuid);
    const outcome = mapCallOutcome({
      cause,
      answered: call.answered,
      bridged: call.bridged,
      abandoned: call.abandoned,
      ...(call.verdict !== undefined ? { amdVerdict: call.verdict } : {}),
    });
    report({ type: "ended", callId: call.callId, outcome, cause, talkSeconds: call.answered ? talkSeconds : 0, at });
    if (call.viaSend) {
      void ctx
        .emit([{ kind: "call-result", vendorId: call.callId, outcome, raw: cause, at }])
        .catch((err: unknown) => ctx.logger.error("could not record a call result", { error: String(err) }));
    }
  };

  const setVerdict = (call: LiveCall, raw: string | undefined, at: Date): void => {
    const verdict = raw?.toUpperCase();
    if (verdict !== "HUMAN" && verdict !== "MACHINE" && verdict !== "NOTSURE") return;
    if (call.verdict !== undefined) return;
    call.verdict = verdict;
    report({ type: "amd", callId: call.callId, verdict, at });
  };

  const onEvent = (event: EslEvent): void => {
    const at = eventTime(event);
    if (event.name === "BACKGROUND_JOB") {
      const callId = byJob.get(event.headers.get("Job-UUID") ?? "");
      const call = callId === undefined ? undefined : calls.get(callId);
      if (!call) return;
      const result = parseJobResult(event.body);
      if (result.ok) {
        markDialing(call, at);
        return;
      }
      if (!call.dialing && call.settle && isNotPlacedCause(result.cause)) {
        const { code, retryable } = NOT_PLACED_CAUSES[result.cause];
        clearTimeout(call.settle.guard);
        call.settle.reject(
          new PluginError(code, `FreeSWITCH did not place the call: ${result.cause} (gateway ${opts.gateway})`, {
            retryable,
            ...(retryable ? { retryAfterMs: 30_000 } : {}),
          }),
        );
        calls.delete(call.callId);
        byJob.delete(call.jobUuid);
        return;
      }
      end(call, result.cause, 0, at);
      return;
    }
    const call = calls.get(event.headers.get("Unique-ID") ?? "");
    if (!call) return; // another hub node's call, or one already ended
    switch (event.name) {
      case "CHANNEL_PROGRESS":
      case "CHANNEL_PROGRESS_MEDIA":
        markDialing(call, at);
        return;
      case "CHANNEL_ANSWER":
        markDialing(call, at);
        if (call.answered) return;
        call.answered = true;
        report({ type: "answered", callId: call.callId, at, ...(call.amd ? { amdPending: true } : {}) });
        if (call.extension !== undefined) {
          client
            .api(`uuid_send_dtmf ${call.callId} ${call.extension}`)
            .catch((err: unknown) => ctx.logger.warn("could not send the extension digits", { error: String(err) }));
        }
        return;
      case "CHANNEL_EXECUTE_COMPLETE":
        if (event.headers.get("Application") === "amd") setVerdict(call, event.headers.get("variable_amd_result"), at);
        return;
      case "CUSTOM":
        if (/^(mod_)?amd::info$/.test(event.headers.get("Event-Subclass") ?? "")) {
          setVerdict(call, event.headers.get("variable_amd_result") ?? event.headers.get("amd_result"), at);
        }
        return;
      case "CHANNEL_BRIDGE":
        if (call.bridged) return;
        call.bridged = true;
        report({
          type: "bridged",
          callId: call.callId,
          endpoint: call.endpoint ?? event.headers.get("Other-Leg-Destination-Number") ?? "",
          at,
        });
        return;
      case "CHANNEL_HANGUP_COMPLETE": {
        const billsec = Number(event.headers.get("variable_billsec") ?? 0);
        end(call, event.headers.get("Hangup-Cause") ?? "UNKNOWN", Number.isFinite(billsec) ? billsec : 0, at);
        return;
      }
    }
  };
  client.onEvent(onEvent);

  /** Events sent while disconnected are lost: settle what can no longer be followed. */
  const afterReconnect = async (): Promise<void> => {
    for (const callId of [...toKill]) {
      toKill.delete(callId);
      await client.api(`uuid_kill ${callId} ORIGINATOR_CANCEL`).catch(() => toKill.add(callId));
    }
    for (const call of [...calls.values()]) {
      const exists = await client.api(`uuid_exists ${call.callId}`).catch(() => "true");
      if (exists.trim() === "false" && calls.has(call.callId)) end(call, "UNKNOWN_AFTER_RECONNECT", 0, new Date());
    }
  };

  const control = async (command: string, what: string): Promise<string> => {
    let body: string;
    try {
      body = await client.api(command);
    } catch (err) {
      throw networkError(`cannot ${what}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (body.startsWith("-")) {
      throw new PluginError("CALL_CONTROL_FAILED", `FreeSWITCH refused to ${what}: ${body.trim()}`);
    }
    return body;
  };

  const answeredCall = (callId: string): LiveCall => {
    const call = calls.get(callId);
    if (!call) throw new PluginError("CALL_NOT_FOUND", `no live call ${callId}`);
    if (!call.answered) throw new PluginError("CALL_NOT_ANSWERED", `call ${callId} has not been answered`);
    return call;
  };

  const dial = async (request: CallRequest, viaSend = false): Promise<void> => {
    const { number, extension } = splitExtension(request.to);
    if (!NUMBER.test(number)) {
      throw new PluginError("INVALID_ADDRESS", `not a dialable E.164 number: ${request.to}`);
    }
    if (calls.has(request.callId)) throw new PluginError("DUPLICATE_CALL", `call ${request.callId} is already live`);
    // The dialer's own variables first, in the order operators read them in logs; the request's
    // extra variables after, never overriding them.
    const variables: Record<string, string> = {
      origination_uuid: request.callId,
      origination_caller_id_number: request.callerId ?? opts.callerId,
      originate_timeout: String(request.ringTimeoutS ?? ringTimeoutS),
      ignore_early_media: "true",
    };
    if (request.amd ?? opts.amd ?? false) variables.execute_on_answer = "amd";
    for (const [name, value] of Object.entries(request.variables ?? {}))
      if (!(name in variables)) variables[name] = value;
    for (const [name, value] of Object.entries(variables)) {
      if (!VARIABLE_NAME.test(name) || UNSAFE_VALUE.test(value)) {
        throw new PluginError(
          "INVALID_VARIABLE",
          `channel variable ${name} has a name or value FreeSWITCH cannot take`,
        );
      }
    }
    if (!client.connected) throw networkError(`the FreeSWITCH event socket at ${where} is not connected`);
    const vars = Object.entries(variables)
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    const command = `originate {${vars}}sofia/gateway/${opts.gateway}/${number} &park()`;
    const jobUuid = randomUUID();
    const call: LiveCall = {
      callId: request.callId,
      jobUuid,
      viaSend,
      dialing: false,
      answered: false,
      bridged: false,
      abandoned: false,
      amd: variables.execute_on_answer === "amd",
      ...(extension !== undefined ? { extension } : {}),
    };
    const settled = new Promise<void>((resolve, reject) => {
      const guard = setTimeout(
        () => {
          call.settle = undefined;
          calls.delete(call.callId);
          byJob.delete(jobUuid);
          toKill.add(call.callId);
          void client.api(`uuid_kill ${call.callId} ORIGINATOR_CANCEL`).then(
            () => toKill.delete(call.callId),
            () => undefined,
          );
          reject(unknownOutcome("FreeSWITCH took the originate but never reported the call; it was hung up"));
        },
        (Number(variables.originate_timeout) + DIAL_GRACE_S) * 1000,
      );
      call.settle = { resolve, reject, guard };
    });
    calls.set(call.callId, call);
    byJob.set(jobUuid, call.callId);
    try {
      await client.bgapi(command, jobUuid);
    } catch (err) {
      if (call.settle) clearTimeout(call.settle.guard);
      calls.delete(call.callId);
      byJob.delete(jobUuid);
      // The command may have reached the switch: make sure no customer rings for a dial the
      // hub now treats as failed.
      const detail = `could not place the call through ${where}: ${err instanceof Error ? err.message : ""}`;
      if (err instanceof EslError && err.code === "NOT_CONNECTED") throw networkError(detail, err);
      toKill.add(call.callId);
      void client.api(`uuid_kill ${call.callId} ORIGINATOR_CANCEL`).then(
        () => toKill.delete(call.callId),
        () => undefined,
      );
      throw unknownOutcome(`${detail}; the originate may have reached the switch, so it is not retried`, err);
    }
    await settled;
  };

  const voice: VoiceControl = {
    dial: (request) => dial(request),
    async bridge(callId, endpoint) {
      const call = answeredCall(callId);
      if (!ENDPOINT.test(endpoint)) throw new PluginError("INVALID_ENDPOINT", `not a bridge endpoint: ${endpoint}`);
      call.endpoint = endpoint;
      await control(`uuid_transfer ${callId} bridge:${endpoint} inline`, `bridge call ${callId}`);
    },
    async abandon(callId) {
      const call = answeredCall(callId);
      call.abandoned = true;
      await control(
        `uuid_transfer ${callId} playback:${abandonMessage},hangup:NORMAL_CLEARING inline`,
        `abandon call ${callId}`,
      );
    },
    async hangup(callId) {
      const call = calls.get(callId);
      if (!call) return; // already ended: nothing to do
      const cause = call.answered ? "NORMAL_CLEARING" : "ORIGINATOR_CANCEL";
      try {
        await control(`uuid_kill ${callId} ${cause}`, `hang up call ${callId}`);
      } catch (err) {
        // The channel went away meanwhile: its hangup event ends the call.
        if (!(isPluginError(err) && err.code === "CALL_CONTROL_FAILED")) throw err;
      }
    },
    onCallEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };

  return {
    voice,
    whenConnected: () => client.whenConnected(),
    async start() {
      client.start();
      await Promise.race([
        client.whenConnected(),
        new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, START_WAIT_MS);
          stopStartWait = () => {
            clearTimeout(timer);
            resolve();
          };
        }),
      ]);
      stopStartWait();
    },
    async stop() {
      stopStartWait();
      client.stop();
      for (const call of calls.values()) if (call.settle) clearTimeout(call.settle.guard);
    },
    async send(request: SendRequest): Promise<SendResult> {
      const phone = request.customer.phone;
      if (phone === undefined || phone.length === 0) {
        throw new PluginError("INVALID_ADDRESS", "the customer has no phone number");
      }
      const callId = randomUUID();
      await dial({ callId, to: phone, variables: { dialmesh_attempt_id: request.attemptId } }, true);
      return { status: "QUEUED", vendorId: callId };
    },
    async health(): Promise<PluginHealth> {
      if (!client.connected) return { ok: false, detail: `not connected to FreeSWITCH at ${where}` };
      try {
        const state = parseGatewayStatus(await client.api(`sofia status gateway ${opts.gateway}`));
        if (state === "UP") return { ok: true, detail: `connected, gateway ${opts.gateway} up` };
        return { ok: false, detail: `gateway ${opts.gateway} ${state === "DOWN" ? "is down" : "does not exist"}` };
      } catch (err) {
        return { ok: false, detail: `FreeSWITCH did not answer: ${err instanceof Error ? err.message : String(err)}` };
      }
    },
  };
}

export default definePlugin<VoiceFreeswitchOptions>(createVoiceFreeswitch);
