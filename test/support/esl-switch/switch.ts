/**
 * A local switch that speaks FreeSWITCH's Event Socket in inbound mode, for the voice plugin's
 * tests and the dialer benchmark. No media: calls follow a CallModel (call-model.ts) on
 * timers scaled by `timeScale` (0.01 runs a minute of calls in 0.6 s).
 *
 * Supported: `auth`, `event plain|json <names> [CUSTOM <subclasses>]`, `noevents`, `exit`,
 * `api` and `bgapi` (own or client-given Job-UUID) of:
 * - `originate {vars}sofia/gateway/<gw>/<number> &park()` (`origination_uuid`,
 *   `originate_timeout`, `execute_on_answer=amd` runs mod_amd; every var is echoed as
 *   `variable_*`); unknown gateway `-ERR INVALID_GATEWAY`, gateway down `-ERR GATEWAY_DOWN`;
 * - `uuid_transfer <uuid> <app:arg[,app:arg]> inline` with `bridge:<endpoint>` (the agent
 *   answers at once: CHANNEL_BRIDGE), `playback:<file>` and `hangup[:<cause>]`;
 * - `uuid_kill <uuid> [cause]`, `uuid_send_dtmf <uuid> <digits>`, `uuid_exists <uuid>`;
 * - `sofia status gateway <gw>`, `status`.
 * Events: CHANNEL_CREATE, CHANNEL_PROGRESS (ringing), CHANNEL_ANSWER, CHANNEL_EXECUTE_COMPLETE
 * (Application amd, with `variable_amd_result`/`variable_amd_cause` as mod_amd sets them),
 * CHANNEL_BRIDGE, CHANNEL_HANGUP_COMPLETE (`Hangup-Cause`, `variable_billsec` in model
 * seconds), BACKGROUND_JOB (`+OK <uuid>\n` or `-ERR <CAUSE>\n`).
 */
import { randomUUID } from "node:crypto";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { CallModel, ALWAYS_HUMAN, type CallPlan, type CallScenario, type ForcedResult } from "./call-model.ts";
import {
  AUTH_REQUEST,
  CommandReader,
  apiResponse,
  commandReply,
  disconnectNotice,
  jsonEvent,
  plainEvent,
  type EslCommand,
  type Headers,
} from "./protocol.ts";

export type GatewayState = "UP" | "DOWN";

export interface EslSwitchOptions {
  /** Default ClueCon, FreeSWITCH's default. */
  password?: string;
  /** Default 0: any free port. */
  port?: number;
  /** Gateways and their state; default `{ carrier1: "UP" }`. */
  gateways?: Record<string, GatewayState>;
  /** The call model; default every call answered by a person (ALWAYS_HUMAN). */
  scenario?: CallScenario;
  /** Wall seconds per model second; default 1. */
  timeScale?: number;
  /** Model seconds an answered person waits, unbridged, before hanging up; default 10. */
  parkedPatienceS?: number;
  /** Model seconds the abandon message plays; default 4. */
  playbackS?: number;
}

export type SwitchCallState = "ringing" | "answered" | "bridged" | "ended";

export interface SwitchCall {
  uuid: string;
  number: string;
  gateway: string;
  /** Channel variables given on the originate, plus those the switch set (amd_result...). */
  variables: Record<string, string>;
  plan: CallPlan;
  state: SwitchCallState;
  endpoint?: string;
  dtmf: string[];
  hangupCause?: string;
  answeredAt?: number;
  /** Wall ms of the bridge and of the hang-up. */
  bridgedAt?: number;
  endedAt?: number;
}

export interface EslSwitch {
  host: string;
  port: number;
  password: string;
  /** Stops listening, ends every connection and every call's timers. */
  close(): Promise<void>;
  setGateway(name: string, state: GatewayState): void;
  /** The next call (queued, in order) gets this result instead of a draw from the model. */
  forceNext(result: ForcedResult): void;
  /** The next originate fails with `-ERR <cause>` before any channel exists (as a gateway error does). */
  refuseNext(cause: string): void;
  /** Originate commands received for `number` (or for every number), placed or not. */
  originateCount(number?: string): number;
  /** Numbers that received more than one originate. */
  numbersDialledTwice(): string[];
  /** Calls that got a channel (the gateway took them). */
  placedCount(): number;
  /** Calls with a channel that has not hung up. */
  activeCount(): number;
  /** The most calls that were up at once since the switch started. */
  peakActiveCount(): number;
  /** Wall milliseconds from each answer the switch reported to the bridge command it then received. */
  answerToBridgeMs(): readonly number[];
  /** Model seconds customers spent bridged (to an agent or IVR) between two wall times. */
  bridgedSecondsBetween(fromMs: number, toMs: number): number;
  call(uuid: string): SwitchCall | undefined;
  /** Every command line received after auth, in order. */
  readonly commands: string[];
  /** Current client connections. */
  connectionCount(): number;
  /** Closes every client connection at once, as a switch restart does. */
  dropConnections(): void;
}

interface Connection {
  socket: Socket;
  /** The replies written so far, in command order. */
  replies: Promise<void>;
  authed: boolean;
  format: "plain" | "json";
  events: Set<string>;
  subclasses: Set<string>;
}

const CORE_UUID = randomUUID();
const HOSTNAME = "esl-switch";

export async function startEslSwitch(options: EslSwitchOptions = {}): Promise<EslSwitch> {
  const password = options.password ?? "ClueCon";
  const timeScale = options.timeScale ?? 1;
  const gateways = new Map<string, GatewayState>(Object.entries(options.gateways ?? { carrier1: "UP" }));
  const model = new CallModel(options.scenario ?? ALWAYS_HUMAN);
  const parkedPatienceS = options.parkedPatienceS ?? 10;
  const playbackS = options.playbackS ?? 4;
  const connections = new Set<Connection>();
  const calls = new Map<string, SwitchCall>();
  const timers = new Map<string, Set<NodeJS.Timeout>>();
  const originates = new Map<string, number>();
  const commands: string[] = [];
  /** Resolves the originate of a ringing call with its BACKGROUND_JOB body. */
  const originateDone = new Map<string, (body: string) => void>();
  const refusals: string[] = [];
  let placed = 0;
  let peakActive = 0;
  /** Wall ms from each CHANNEL_ANSWER sent to the bridge command received. */
  const bridgeLatencies: number[] = [];
  let sessionsSinceStartup = 0;
  const startedAt = Date.now();

  const after = (uuid: string, seconds: number, run: () => void): void => {
    const set = timers.get(uuid) ?? new Set<NodeJS.Timeout>();
    timers.set(uuid, set);
    const timer = setTimeout(
      () => {
        set.delete(timer);
        run();
      },
      Math.max(0, seconds * 1000 * timeScale),
    );
    set.add(timer);
  };
  const cancelTimers = (uuid: string): void => {
    for (const t of timers.get(uuid) ?? []) clearTimeout(t);
    timers.delete(uuid);
  };

  // --- events -------------------------------------------------------------------------------

  const baseHeaders = (name: string): Headers => [
    ["Event-Name", name],
    ["Core-UUID", CORE_UUID],
    ["FreeSWITCH-Hostname", HOSTNAME],
    ["Event-Date-Timestamp", String(Date.now() * 1000)],
  ];

  const channelHeaders = (call: SwitchCall): Headers => [
    ["Unique-ID", call.uuid],
    ["Channel-Name", `sofia/gateway/${call.gateway}/${call.number}`],
    ["Call-Direction", "outbound"],
    ["Answer-State", call.state === "ringing" ? "ringing" : call.state === "ended" ? "hangup" : "answered"],
    ["Caller-Destination-Number", call.number],
    ["Caller-Caller-ID-Number", call.variables.origination_caller_id_number ?? "0000000000"],
    ["Caller-Unique-ID", call.uuid],
    ...Object.entries(call.variables).map(([k, v]): [string, string] => [`variable_${k}`, v]),
  ];

  const publish = (name: string, headers: Headers, body?: string): void => {
    const subclass = headers.find(([k]) => k === "Event-Subclass")?.[1];
    for (const conn of connections) {
      if (!conn.authed) continue;
      const wanted =
        conn.events.has("ALL") ||
        (name === "CUSTOM" ? subclass !== undefined && conn.subclasses.has(subclass) : conn.events.has(name));
      if (!wanted) continue;
      conn.socket.write(conn.format === "json" ? jsonEvent(headers, body) : plainEvent(headers, body));
    }
  };

  const channelEvent = (name: string, call: SwitchCall, extra: Headers = []): void => {
    publish(name, [...baseHeaders(name), ...channelHeaders(call), ...extra]);
  };

  // --- calls --------------------------------------------------------------------------------

  const billsec = (call: SwitchCall): number =>
    call.answeredAt === undefined ? 0 : Math.round((Date.now() - call.answeredAt) / 1000 / timeScale);

  const hangup = (call: SwitchCall, cause: string): void => {
    if (call.state === "ended") return;
    cancelTimers(call.uuid);
    const seconds = billsec(call);
    call.state = "ended";
    call.endedAt = Date.now();
    call.hangupCause = cause;
    call.variables.hangup_cause = cause;
    call.variables.billsec = String(seconds);
    channelEvent("CHANNEL_HANGUP_COMPLETE", call, [["Hangup-Cause", cause]]);
    originateDone.get(call.uuid)?.(`-ERR ${cause}\n`);
    originateDone.delete(call.uuid);
  };

  const answer = (call: SwitchCall): void => {
    call.state = "answered";
    call.answeredAt = Date.now();
    channelEvent("CHANNEL_ANSWER", call);
    originateDone.get(call.uuid)?.(`+OK ${call.uuid}\n`);
    originateDone.delete(call.uuid);
    const onAnswer = call.variables.execute_on_answer ?? "";
    if (/^amd\b/.test(onAnswer)) {
      after(call.uuid, call.plan.amdLatencyS, () => {
        const machine = call.plan.amdVerdict === "MACHINE";
        call.variables.amd_result = call.plan.amdVerdict;
        call.variables.amd_cause = machine ? "LONGGREETING" : "SILENCEAFTERGREETING";
        channelEvent("CHANNEL_EXECUTE_COMPLETE", call, [
          ["Application", "amd"],
          ["Application-Response", "_none_"],
        ]);
      });
    }
    // A machine hangs up when its greeting is over; a person waits a while for someone to speak.
    if (call.plan.truth === "machine") after(call.uuid, call.plan.talkS, () => hangup(call, "NORMAL_CLEARING"));
    else after(call.uuid, parkedPatienceS, () => hangup(call, "NORMAL_CLEARING"));
  };

  const originate = (arg: string): Promise<string> => {
    const parsed = /^\s*(?:\{([^}]*)\})?sofia\/gateway\/([^/\s]+)\/(\S+)\s+(.+)$/.exec(arg);
    if (!parsed) return Promise.resolve("-ERR INVALID_URL\n");
    const [, rawVars = "", gateway = "", number = ""] = parsed;
    originates.set(number, (originates.get(number) ?? 0) + 1);
    const refusal = refusals.shift();
    if (refusal !== undefined) return Promise.resolve(`-ERR ${refusal}\n`);
    const state = gateways.get(gateway);
    if (state === undefined) return Promise.resolve("-ERR INVALID_GATEWAY\n");
    if (state === "DOWN") return Promise.resolve("-ERR GATEWAY_DOWN\n");
    const variables: Record<string, string> = {};
    for (const pair of rawVars.split(",")) {
      const eq = pair.indexOf("=");
      if (eq > 0) variables[pair.slice(0, eq).trim()] = pair.slice(eq + 1).replace(/^'(.*)'$/, "$1");
    }
    const uuid = variables.origination_uuid ?? randomUUID();
    if (calls.get(uuid)?.state !== undefined && calls.get(uuid)?.state !== "ended") {
      return Promise.resolve("-ERR DESTINATION_OUT_OF_ORDER\n");
    }
    variables.uuid = uuid;
    const timeout = variables.originate_timeout === undefined ? undefined : Number(variables.originate_timeout);
    const plan = model.next(timeout);
    const call: SwitchCall = { uuid, number, gateway, variables, plan, state: "ringing", dtmf: [] };
    calls.set(uuid, call);
    placed += 1;
    sessionsSinceStartup += 1;
    peakActive = Math.max(peakActive, [...calls.values()].filter((c) => c.state !== "ended").length);
    const done = new Promise<string>((resolve) => originateDone.set(uuid, resolve));
    channelEvent("CHANNEL_CREATE", call);
    switch (plan.truth) {
      case "human":
      case "machine":
        channelEvent("CHANNEL_PROGRESS", call);
        after(uuid, plan.answerAfterS, () => answer(call));
        break;
      case "noAnswer":
        channelEvent("CHANNEL_PROGRESS", call);
        after(uuid, plan.failAfterS, () => hangup(call, plan.failCause));
        break;
      default:
        after(uuid, plan.failAfterS, () => hangup(call, plan.failCause));
    }
    return done;
  };

  const transfer = (call: SwitchCall, apps: string): string => {
    if (call.state === "ringing") return "-ERR Channel not answered\n";
    cancelTimers(call.uuid);
    let delayS = 0;
    for (const step of apps.split(",")) {
      const colon = step.indexOf(":");
      const app = colon < 0 ? step : step.slice(0, colon);
      const appArg = colon < 0 ? "" : step.slice(colon + 1);
      if (app === "bridge") {
        if (call.answeredAt !== undefined) bridgeLatencies.push(Date.now() - call.answeredAt);
        call.bridgedAt = Date.now();
        call.state = "bridged";
        call.endpoint = appArg;
        channelEvent("CHANNEL_BRIDGE", call, [
          ["Other-Leg-Unique-ID", randomUUID()],
          ["Other-Leg-Destination-Number", appArg],
          ["Other-Leg-Channel-Name", appArg],
        ]);
        delayS += call.plan.talkS;
      } else if (app === "playback") {
        delayS += playbackS;
      } else if (app === "hangup") {
        const cause = appArg || "NORMAL_CLEARING";
        after(call.uuid, delayS, () => hangup(call, cause));
        return "+OK\n";
      }
    }
    after(call.uuid, delayS, () => hangup(call, "NORMAL_CLEARING"));
    return "+OK\n";
  };

  const gatewayStatus = (name: string): string => {
    const state = gateways.get(name);
    if (state === undefined) return "Invalid Gateway!\n";
    const line = "=".repeat(96);
    return [
      line,
      `Name    \t${name}`,
      "Profile \texternal",
      "Scheme  \tDigest",
      `Realm   \t${name}.example.net`,
      `State   \t${state === "UP" ? "REGED" : "FAIL_WAIT"}`,
      `Status  \t${state}`,
      line,
      "",
    ].join("\n");
  };

  const execute = (commandLine: string): Promise<string> => {
    const space = commandLine.indexOf(" ");
    const name = space < 0 ? commandLine : commandLine.slice(0, space);
    const arg = space < 0 ? "" : commandLine.slice(space + 1).trim();
    const args = arg.split(/\s+/).filter((a) => a.length > 0);
    const withCall = (run: (call: SwitchCall) => string): Promise<string> => {
      const call = calls.get(args[0] ?? "");
      return Promise.resolve(call && call.state !== "ended" ? run(call) : "-ERR No such channel!\n");
    };
    switch (name) {
      case "originate":
        return originate(arg);
      case "uuid_transfer":
        if (args[2] !== "inline") return Promise.resolve("-USAGE: only inline transfers are supported here\n");
        return withCall((call) => transfer(call, args[1] ?? ""));
      case "uuid_kill":
        return withCall((call) => {
          hangup(call, args[1] ?? "NORMAL_CLEARING");
          return "+OK\n";
        });
      case "uuid_send_dtmf":
        return withCall((call) => {
          call.dtmf.push(args[1] ?? "");
          return "+OK Success\n";
        });
      case "uuid_exists":
        return Promise.resolve(
          calls.get(args[0] ?? "")?.state !== "ended" && calls.has(args[0] ?? "") ? "true" : "false",
        );
      case "sofia":
        if (args[0] === "status" && args[1] === "gateway" && args[2] !== undefined) {
          return Promise.resolve(gatewayStatus(args[2]));
        }
        return Promise.resolve("-ERR Unsupported sofia command\n");
      case "status": {
        const up = Math.floor((Date.now() - startedAt) / 1000);
        const active = [...calls.values()].filter((c) => c.state !== "ended").length;
        return Promise.resolve(
          `UP 0 years, 0 days, 0 hours, 0 minutes, ${up} seconds, 0 milliseconds, 0 microseconds\n` +
            "FreeSWITCH (Version 1.10.12-release 64bit) is ready\n" +
            `${sessionsSinceStartup} session(s) since startup\n` +
            `${active} session(s) - peak ${active}, last 5min ${active}\n`,
        );
      }
      default:
        return Promise.resolve(`-ERR ${name} Command not found!\n`);
    }
  };

  // --- connections --------------------------------------------------------------------------

  const handle = (conn: Connection, command: EslCommand): void => {
    const { socket } = conn;
    const [verb = "", ...rest] = command.line.split(" ");
    const arg = rest.join(" ");
    if (!conn.authed) {
      if (verb !== "auth") {
        socket.write(commandReply("-ERR command not found"));
        return;
      }
      if (arg === password) {
        conn.authed = true;
        socket.write(commandReply("+OK accepted"));
      } else {
        socket.write(commandReply("-ERR invalid"));
        socket.end(disconnectNotice());
      }
      return;
    }
    commands.push(command.line);
    // Every reply after auth keeps command order (see `api` below).
    const reply = (text: string | Buffer, after?: () => void) => {
      conn.replies = conn.replies.then(() => {
        if (!socket.destroyed) socket.write(text);
        after?.();
      });
    };
    switch (verb) {
      case "event": {
        const [format = "", ...names] = rest;
        if (format !== "plain" && format !== "json") {
          reply(commandReply("-ERR invalid format"));
          return;
        }
        conn.format = format;
        let custom = false;
        for (const n of names) {
          if (n === "CUSTOM") custom = true;
          else if (custom) conn.subclasses.add(n);
          else conn.events.add(n.toUpperCase());
        }
        reply(commandReply(`+OK event listener enabled ${format}`));
        return;
      }
      case "noevents":
        conn.events.clear();
        conn.subclasses.clear();
        reply(commandReply("+OK no longer listening for events"));
        return;
      case "exit":
        reply(commandReply("+OK bye"), () => socket.end(disconnectNotice()));
        return;
      case "api":
        // FreeSWITCH runs an `api` command before it reads the connection's next command, so
        // replies come in command order: later replies wait for this one.
        conn.replies = conn.replies.then(async () => {
          const body = await execute(arg);
          if (!socket.destroyed) socket.write(apiResponse(body));
        });
        return;
      case "bgapi": {
        const jobUuid = command.headers.get("job-uuid") ?? randomUUID();
        const space = arg.indexOf(" ");
        const jobCommand = space < 0 ? arg : arg.slice(0, space);
        const jobArg = space < 0 ? "" : arg.slice(space + 1);
        // The job starts once its command/reply is out, as FreeSWITCH's job thread does.
        reply(commandReply(`+OK Job-UUID: ${jobUuid}`, [["Job-UUID", jobUuid]]), () => {
          void execute(arg).then((body) => {
            publish(
              "BACKGROUND_JOB",
              [
                ...baseHeaders("BACKGROUND_JOB"),
                ["Job-UUID", jobUuid],
                ["Job-Command", jobCommand],
                ["Job-Command-Arg", jobArg],
              ],
              body,
            );
          });
        });
        return;
      }
      default:
        reply(commandReply("-ERR command not found"));
    }
  };

  const server: Server = createServer((socket) => {
    const conn: Connection = {
      socket,
      replies: Promise.resolve(),
      authed: false,
      format: "plain",
      events: new Set(),
      subclasses: new Set(),
    };
    connections.add(conn);
    const reader = new CommandReader();
    socket.on("data", (chunk: Buffer) => {
      for (const command of reader.push(chunk)) handle(conn, command);
    });
    socket.on("error", () => socket.destroy());
    socket.on("close", () => connections.delete(conn));
    socket.write(AUTH_REQUEST);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    host: "127.0.0.1",
    port,
    password,
    commands,
    async close() {
      for (const uuid of [...timers.keys()]) cancelTimers(uuid);
      for (const conn of connections) conn.socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    setGateway: (name, state) => void gateways.set(name, state),
    forceNext: (result) => model.forceNext(result),
    refuseNext: (cause) => void refusals.push(cause),
    originateCount: (number) =>
      number === undefined ? [...originates.values()].reduce((a, n) => a + n, 0) : (originates.get(number) ?? 0),
    placedCount: () => placed,
    activeCount: () => [...calls.values()].filter((c) => c.state !== "ended").length,
    peakActiveCount: () => peakActive,
    numbersDialledTwice: () => [...originates].filter(([, n]) => n > 1).map(([number]) => number),
    answerToBridgeMs: () => bridgeLatencies,
    bridgedSecondsBetween: (fromMs, toMs) => {
      let wallMs = 0;
      for (const c of calls.values()) {
        if (c.bridgedAt === undefined) continue;
        const start = Math.max(c.bridgedAt, fromMs);
        const end = Math.min(c.endedAt ?? toMs, toMs);
        if (end > start) wallMs += end - start;
      }
      return wallMs / 1000 / timeScale;
    },
    call: (uuid) => calls.get(uuid),
    connectionCount: () => connections.size,
    dropConnections() {
      for (const conn of connections) conn.socket.destroy();
    },
  };
}
