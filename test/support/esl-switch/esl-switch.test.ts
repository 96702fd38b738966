/**
 * The local switch on the wire: what a client reads, byte for byte, for each exchange the
 * voice plugin relies on. A raw TCP socket, no ESL client, so the framing is checked on its own.
 */
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { afterEach, describe, it } from "@jest/globals";
import { startEslSwitch, type EslSwitch } from "./switch.ts";
import { CallModel, ALWAYS_HUMAN } from "./call-model.ts";
import { withDefaults } from "../../../core/simulator/scenario.ts";

/** A raw client: everything the switch wrote, and a way to wait for more. */
class RawClient {
  readonly socket: Socket;
  text = "";
  #waiters: (() => void)[] = [];
  closed: Promise<void>;

  constructor(port: number) {
    this.socket = connect(port, "127.0.0.1");
    this.socket.on("data", (chunk: Buffer) => {
      this.text += chunk.toString("utf8");
      for (const w of this.#waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) => this.socket.on("close", () => resolve()));
  }

  send(text: string): void {
    this.socket.write(text);
  }

  /** Resolves once the text read so far contains `needle` (after `from`); returns its index. */
  async waitFor(needle: string, from = 0): Promise<number> {
    for (;;) {
      const at = this.text.indexOf(needle, from);
      if (at >= 0) return at;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }
}

/** The outer messages of what a client read: headers and Content-Length bodies. */
function messages(text: string): { headers: Map<string, string>; body: string }[] {
  const out: { headers: Map<string, string>; body: string }[] = [];
  let rest = Buffer.from(text, "utf8");
  for (;;) {
    const end = rest.indexOf("\n\n");
    if (end < 0) return out;
    const headers = new Map(
      rest
        .subarray(0, end)
        .toString()
        .split("\n")
        .map((l): [string, string] => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 2)]),
    );
    const length = Number(headers.get("Content-Length") ?? 0);
    out.push({ headers, body: rest.subarray(end + 2, end + 2 + length).toString() });
    rest = rest.subarray(end + 2 + length);
  }
}

let esl: EslSwitch | undefined;
const clients: RawClient[] = [];

async function setup(options: Parameters<typeof startEslSwitch>[0] = {}): Promise<RawClient> {
  esl = await startEslSwitch({ timeScale: 0.001, ...options });
  const client = new RawClient(esl.port);
  clients.push(client);
  await client.waitFor("Content-Type: auth/request\n\n");
  return client;
}

async function authed(options: Parameters<typeof startEslSwitch>[0] = {}): Promise<RawClient> {
  const client = await setup(options);
  client.send("auth ClueCon\n\n");
  await client.waitFor("Reply-Text: +OK accepted\n\n");
  return client;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.socket.destroy();
  await esl?.close();
  esl = undefined;
});

describe("esl-switch protocol", () => {
  it("asks for auth first, accepts the right password", async () => {
    const client = await setup();
    assert.equal(client.text, "Content-Type: auth/request\n\n");
    client.send("auth ClueCon\n\n");
    await client.waitFor("+OK accepted");
    assert.equal(client.text.slice(28), "Content-Type: command/reply\nReply-Text: +OK accepted\n\n");
  });

  it("refuses a wrong password with -ERR invalid, a disconnect notice, and closes", async () => {
    const client = await setup();
    client.send("auth nope\n\n");
    await client.closed;
    assert.ok(client.text.includes("Content-Type: command/reply\nReply-Text: -ERR invalid\n\n"));
    assert.ok(client.text.includes("Content-Type: text/disconnect-notice\n"));
  });

  it("api answers api/response with a Content-Length body", async () => {
    const client = await authed();
    const from = client.text.length;
    client.send("api sofia status gateway nosuch\n\n");
    await client.waitFor("Invalid Gateway!\n", from);
    assert.equal(client.text.slice(from), "Content-Type: api/response\nContent-Length: 17\n\nInvalid Gateway!\n");
  });

  it("bgapi replies with the Job-UUID, then a BACKGROUND_JOB plain event with URL-encoded headers", async () => {
    const client = await authed();
    client.send("event plain BACKGROUND_JOB\n\n");
    await client.waitFor("+OK event listener enabled plain\n\n");
    const from = client.text.length;
    client.send("bgapi originate {origination_uuid=u1}sofia/gateway/nosuch/+14155550100 &park()\nJob-UUID: job-1\n\n");
    await client.waitFor("-ERR INVALID_GATEWAY\n", from);
    const out = client.text.slice(from);
    assert.ok(out.startsWith("Content-Type: command/reply\nReply-Text: +OK Job-UUID: job-1\nJob-UUID: job-1\n\n"));
    const event = out.slice(out.indexOf("Content-Length:"));
    const [outer = "", inner = ""] = event.split(/\n\n(.*)/s);
    assert.match(outer, /^Content-Length: \d+\nContent-Type: text\/event-plain$/);
    assert.equal(Buffer.byteLength(inner), Number(/Content-Length: (\d+)/.exec(outer)?.[1]));
    assert.match(inner, /^Event-Name: BACKGROUND_JOB\n/);
    assert.match(inner, /\nJob-UUID: job-1\n/);
    // URL-encoded: braces, slashes, spaces and parentheses of the command argument.
    assert.match(
      inner,
      /\nJob-Command-Arg: %7Borigination_uuid%3Du1%7Dsofia%2Fgateway%2Fnosuch%2F%2B14155550100%20%26park%28%29\n/,
    );
    assert.ok(inner.endsWith("Content-Length: 21\n\n-ERR INVALID_GATEWAY\n"));
  });

  it("event json sends text/event-json with the body in _body, variables echoed as variable_*", async () => {
    const client = await authed();
    client.send("event json BACKGROUND_JOB CHANNEL_ANSWER\n\n");
    await client.waitFor("+OK event listener enabled json");
    client.send("bgapi originate {origination_uuid=u2,campaign_id=c 1}sofia/gateway/carrier1/+14155550101 &park()\n\n");
    await client.waitFor('"Event-Name":"BACKGROUND_JOB"');
    const events = messages(client.text)
      .filter((m) => m.headers.get("Content-Type") === "text/event-json")
      .map((m) => JSON.parse(m.body) as Record<string, string>);
    assert.deepEqual(
      events.map((e) => e["Event-Name"]),
      ["CHANNEL_ANSWER", "BACKGROUND_JOB"],
      "the answer comes before the originate's job result",
    );
    const [answer, job] = events;
    assert.equal(job?._body, "+OK u2\n");
    assert.equal(answer?.["Unique-ID"], "u2");
    assert.equal(answer?.variable_campaign_id, "c 1");
    assert.equal(answer?.variable_origination_uuid, "u2");
  });

  it("only subscribed events are delivered", async () => {
    const client = await authed();
    client.send("event plain CHANNEL_HANGUP_COMPLETE\n\n");
    await client.waitFor("+OK event listener enabled plain");
    esl?.forceNext("busy");
    client.send("bgapi originate {origination_uuid=u3}sofia/gateway/carrier1/+14155550102 &park()\n\n");
    await client.waitFor("Hangup-Cause: USER_BUSY");
    assert.ok(!client.text.includes("BACKGROUND_JOB"), "BACKGROUND_JOB was not subscribed");
    assert.ok(!client.text.includes("CHANNEL_CREATE"), "CHANNEL_CREATE was not subscribed");
  });

  it("a gateway marked down answers -ERR GATEWAY_DOWN; sofia status shows it", async () => {
    const client = await authed();
    esl?.setGateway("carrier1", "DOWN");
    client.send("event plain BACKGROUND_JOB\n\napi sofia status gateway carrier1\n\n");
    await client.waitFor("Status  \tDOWN");
    client.send("bgapi originate {}sofia/gateway/carrier1/+14155550103 &park()\n\n");
    await client.waitFor("-ERR GATEWAY_DOWN\n");
    assert.equal(esl?.originateCount("+14155550103"), 1);
    assert.equal(esl?.placedCount(), 0);
  });
});

describe("esl-switch call model", () => {
  it("draws the simulator's outcome sequence for a seed, and forcing one call does not shift the rest", () => {
    const scenario = withDefaults({
      agents: 1,
      durationMinutes: 1,
      seed: 7,
      outcomes: { human: 0.4, machine: 0.2, noAnswer: 0.2, busy: 0.1, invalid: 0.1 },
    });
    const plain = new CallModel(scenario);
    const forced = new CallModel(scenario);
    forced.forceNext("busy");
    const a = Array.from({ length: 50 }, () => plain.next(60).truth);
    const b = Array.from({ length: 50 }, () => forced.next(60).truth);
    assert.equal(b[0], "busy");
    assert.deepEqual(b.slice(1), a.slice(1));
    assert.ok(new Set(a).size >= 4, `a mixed scenario gives mixed outcomes, got ${[...new Set(a)].join(",")}`);
  });

  it("a call that would answer after the ring timeout is no answer", () => {
    const model = new CallModel({ ...ALWAYS_HUMAN, timeToAnswerSeconds: { mean: 30, sd: 0 } });
    const plan = model.next(20);
    assert.equal(plan.truth, "noAnswer");
    assert.equal(plan.failCause, "NO_ANSWER");
    assert.equal(plan.failAfterS, 20);
  });
});
