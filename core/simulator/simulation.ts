/**
 * Deterministic discrete-event simulation of one outbound campaign under one pacing policy.
 *
 * Every second the policy is asked for a decision on a snapshot built exactly as the dialer
 * service builds it (core/pacing). Calls ring for a lognormal time to answer, or fail (busy,
 * invalid, ring timeout). Answered calls are screened by AMD when enabled (after its
 * latency; humans it mistakes for machines are hung up on: the false positives the UK
 * counts), then queue for an agent; a live call no agent takes within 2 seconds is
 * abandoned. Agents talk and wrap up for lognormal times and take breaks between calls.
 * Same scenario + seed + policy = same result, on any machine.
 */
import { createPolicy, type PacingPolicy, type PolicyName } from "../pacing/index.ts";
import { PacingStatisticsTracker } from "../pacing/statistics.ts";
import type { AgentActivity, AgentView, CallInFlight, PacingSnapshot, PacingStep } from "../pacing/types.ts";
import { EventQueue } from "./event-queue.ts";
import { Random } from "./random.ts";
import type { Scenario } from "./scenario.ts";

/** The 2-second rule: a live answer must reach an agent within this many seconds. */
export const CONNECT_WITHIN_SECONDS = 2;
const MACHINE_WRAP_SECONDS = 3;

type Truth = "human" | "machine" | "noAnswer" | "busy" | "invalid";
const TRUTHS: readonly Truth[] = ["human", "machine", "noAnswer", "busy", "invalid"];

interface SimCall {
  id: number;
  dialAt: number;
  truth: Truth;
  phase: "ringing" | "screening" | "waiting" | "withAgent" | "ended";
  /** Preview calls belong to the agent who dialled them. */
  owner: SimAgent | undefined;
  /** AMD verdict drawn at dial time (common random numbers across policies). */
  screenedAsMachine: boolean;
}

interface SimAgent {
  id: string;
  activity: AgentActivity;
  since: number;
  /** When the agent last became free for a call (idle wait runs from here). */
  freeSince: number;
  breakDueAt: number;
  skipsUsed: number;
  preview: { decideAt: number; choice: "dial" | "skip" } | undefined;
  talkStart: number;
  wrapStart: number;
  /** When the current call's talk and drawn wrap-up will both be over (what the oracle knows). */
  freeAt: number;
  onHuman: boolean;
}

type SimEvent =
  | { kind: "tick" }
  | { kind: "answered"; call: SimCall }
  | { kind: "failed"; call: SimCall }
  | { kind: "screened"; call: SimCall }
  | { kind: "waitExpired"; call: SimCall }
  | { kind: "talkEnd"; agent: SimAgent; call: SimCall; wrapSeconds: number }
  | { kind: "wrapEnd"; agent: SimAgent }
  | { kind: "breakEnd"; agent: SimAgent };

/** Per-day counts for the regulators' abandonment definitions (day 0 = the start day). */
export interface DayTally {
  day: number;
  liveAnswered: number;
  abandoned: number;
  amdFalsePositives: number;
}

/** Everything measured in one run; summaries are computed in metrics.ts. */
export interface RunResult {
  policy: PolicyName;
  seed: number;
  durationSeconds: number;
  agents: number;
  breakSeconds: number;
  humanTalkSeconds: number;
  /** Talk plus wrap-up, people and machines. */
  handleSeconds: number;
  dials: number;
  /** People who reached an agent. */
  humanConnects: number;
  liveAnswered: number;
  abandoned: number;
  amdFalsePositives: number;
  idleWaits: number[];
  liveAnswerTimes: number[];
  abandonTimes: number[];
  days: DayTally[];
}

function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(":").map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

export interface SimulateOptions {
  /** Called after every pacing decision (for tracing and debugging). */
  onStep?: (atSeconds: number, step: PacingStep<unknown>, snapshot: PacingSnapshot) => void;
}

/**
 * The target handed to the pacing policy: the scenario's, or for the UK's definition, net
 * of the share of live calls AMD is expected to hang up on (they count as abandoned there
 * and the dialer cannot see them). Never below a tenth of the target.
 */
export function pacingTarget(scenario: Scenario): number {
  return Math.max(scenario.abandonTarget / 10, scenario.abandonTarget - unseenAbandonShare(scenario));
}

/** The AMD false-positive estimate the UK rule counts: 1 - specificity of the people answering. */
export function unseenAbandonShare(scenario: Scenario): number {
  return scenario.abandonRule === "GB" && scenario.amd.enabled ? 1 - scenario.amd.specificity : 0;
}

export function simulate(
  scenario: Scenario,
  policyName: PolicyName,
  seed: number,
  options: SimulateOptions = {},
): RunResult {
  const policy = createPolicy(policyName, {
    power: scenario.power,
    preview: { maxSkips: scenario.preview.maxSkips, autoDialAfterSeconds: scenario.preview.autoDialAfterSeconds },
    ...(scenario.predictive ? { predictive: scenario.predictive } : {}),
    ...(scenario.vicidial ? { vicidial: scenario.vicidial } : {}),
  });
  return new Simulation(scenario, policy, seed, options).run();
}

class Simulation {
  readonly #s: Scenario;
  readonly #policy: PacingPolicy;
  #memory: unknown;
  readonly #end: number;
  readonly #startMinute: number;
  readonly #events = new EventQueue<SimEvent>();
  readonly #stats: PacingStatisticsTracker;
  readonly #outcomeRng: Random;
  readonly #handleRng: Random;
  readonly #agentRng: Random;
  readonly #previewRng: Random;
  readonly #agents: SimAgent[] = [];
  readonly #inFlight = new Set<SimCall>();
  #waiting: SimCall[] = [];
  #nextCallId = 0;
  #now = 0;
  readonly #result: RunResult;

  readonly #onStep: SimulateOptions["onStep"];

  constructor(scenario: Scenario, policy: PacingPolicy, seed: number, options: SimulateOptions) {
    this.#onStep = options.onStep;
    this.#s = scenario;
    this.#policy = policy;
    this.#memory = policy.initialMemory();
    this.#end = scenario.durationMinutes * 60;
    this.#startMinute = minutesOf(scenario.startTime);
    const settleAfter = scenario.ringTimeoutSeconds + (scenario.amd.enabled ? scenario.amd.latencySeconds : 0) + 5;
    this.#stats = new PacingStatisticsTracker(this.#startMinute, settleAfter);
    this.#outcomeRng = new Random(seed, 1);
    this.#handleRng = new Random(seed, 2);
    this.#agentRng = new Random(seed, 3);
    this.#previewRng = new Random(seed, 4);
    this.#result = {
      policy: policy.name,
      seed,
      durationSeconds: this.#end,
      agents: scenario.agents,
      breakSeconds: 0,
      humanTalkSeconds: 0,
      handleSeconds: 0,
      dials: 0,
      humanConnects: 0,
      liveAnswered: 0,
      abandoned: 0,
      amdFalsePositives: 0,
      idleWaits: [],
      liveAnswerTimes: [],
      abandonTimes: [],
      days: [],
    };
  }

  run(): RunResult {
    for (let i = 0; i < this.#s.agents; i++) {
      const agent: SimAgent = {
        id: `agent-${i + 1}`,
        activity: "ready",
        since: 0,
        freeSince: 0,
        breakDueAt: this.#nextBreakDue(0),
        skipsUsed: 0,
        preview: undefined,
        talkStart: 0,
        wrapStart: 0,
        freeAt: 0,
        onHuman: false,
      };
      this.#agents.push(agent);
      this.#becomeFree(agent);
    }
    for (let t = 0; t < this.#end; t++) this.#events.push(t, { kind: "tick" });

    for (;;) {
      const next = this.#events.peekTime();
      if (next === undefined || next >= this.#end) break;
      const { at, value } = this.#events.pop() as { at: number; value: SimEvent };
      this.#now = at;
      this.#handle(value);
    }
    this.#now = this.#end;
    this.#closeBooks();
    return this.#result;
  }

  // --- agents -------------------------------------------------------------------------

  #nextBreakDue(from: number): number {
    const breaks = this.#s.breaks;
    return breaks ? from + this.#agentRng.logNormal(breaks.everyMinutes) * 60 : Infinity;
  }

  #setActivity(agent: SimAgent, activity: AgentActivity): void {
    agent.activity = activity;
    agent.since = this.#now;
  }

  /** The agent has nothing to do: take a waiting call, preview a contact, or wait. */
  #becomeFree(agent: SimAgent): void {
    agent.freeSince = this.#now;
    if (this.#policy.name === "preview") {
      this.#startPreview(agent);
      return;
    }
    this.#setActivity(agent, "ready");
    const call = this.#waiting.shift();
    if (call) this.#connect(call, agent);
  }

  #startPreview(agent: SimAgent): void {
    const p = this.#s.preview;
    const decideAt = this.#now + this.#previewRng.logNormal(p.reviewSeconds);
    const choice = this.#previewRng.chance(p.skipRate) ? "skip" : "dial";
    agent.preview = { decideAt, choice };
    this.#setActivity(agent, "previewing");
  }

  #afterCall(agent: SimAgent): void {
    if (this.#now >= agent.breakDueAt && this.#s.breaks) {
      this.#setActivity(agent, "paused");
      const length = this.#agentRng.logNormal(this.#s.breaks.durationMinutes) * 60;
      this.#result.breakSeconds += Math.min(length, this.#end - this.#now);
      this.#events.push(this.#now + length, { kind: "breakEnd", agent });
      return;
    }
    this.#becomeFree(agent);
  }

  /** Longest-idle ready agent, or undefined. */
  #freeAgent(): SimAgent | undefined {
    let best: SimAgent | undefined;
    for (const agent of this.#agents) {
      if (agent.activity === "ready" && (!best || agent.since < best.since)) best = agent;
    }
    return best;
  }

  // --- calls --------------------------------------------------------------------------

  #dial(owner: SimAgent | undefined): void {
    const rng = this.#outcomeRng;
    const o = this.#s.outcomes;
    let truth = TRUTHS[rng.pick([o.human, o.machine, o.noAnswer, o.busy, o.invalid])] as Truth;
    const timeToAnswer = rng.logNormal(this.#s.timeToAnswerSeconds);
    const amdDraw = rng.next();
    if ((truth === "human" || truth === "machine") && timeToAnswer > this.#s.ringTimeoutSeconds) truth = "noAnswer";
    const amd = this.#s.amd;
    const screenedAsMachine = truth === "machine" ? amdDraw < amd.sensitivity : amdDraw >= amd.specificity;
    const call: SimCall = {
      id: this.#nextCallId++,
      dialAt: this.#now,
      truth,
      phase: "ringing",
      owner,
      screenedAsMachine,
    };
    this.#result.dials++;
    if (!owner) {
      this.#inFlight.add(call);
      this.#stats.dialed(this.#now);
    }
    switch (truth) {
      case "human":
      case "machine":
        this.#events.push(this.#now + timeToAnswer, { kind: "answered", call });
        break;
      case "noAnswer":
        this.#events.push(this.#now + this.#s.ringTimeoutSeconds, { kind: "failed", call });
        break;
      case "busy":
        this.#events.push(this.#now + this.#s.busySeconds, { kind: "failed", call });
        break;
      case "invalid":
        this.#events.push(this.#now + this.#s.invalidSeconds, { kind: "failed", call });
        break;
    }
  }

  #endPoolCall(call: SimCall): void {
    call.phase = "ended";
    this.#inFlight.delete(call);
    if (!call.owner) this.#stats.failed(this.#now, this.#now - call.dialAt);
  }

  #answered(call: SimCall): void {
    if (call.owner) {
      // Preview: the agent is on the line already; no screening, no queue.
      if (call.truth === "human") this.#countLiveAnswer();
      this.#connect(call, call.owner);
      return;
    }
    if (this.#s.amd.enabled) {
      call.phase = "screening";
      this.#events.push(this.#now + this.#s.amd.latencySeconds, { kind: "screened", call });
    } else this.#toQueue(call);
  }

  #screened(call: SimCall): void {
    if (!call.screenedAsMachine) {
      this.#toQueue(call);
      return;
    }
    if (call.truth === "human") {
      // Hung up on a person: invisible to the dialer, counted by Ofcom's estimate.
      this.#result.amdFalsePositives++;
      this.#day().amdFalsePositives++;
    }
    this.#endPoolCall(call);
  }

  #toQueue(call: SimCall): void {
    this.#inFlight.delete(call);
    this.#stats.connected(this.#now, this.#now - call.dialAt);
    if (call.truth === "human") {
      this.#countLiveAnswer();
      this.#stats.liveAnswered(this.#now);
    }
    const agent = this.#freeAgent();
    if (agent) this.#connect(call, agent);
    else {
      call.phase = "waiting";
      this.#waiting.push(call);
      this.#events.push(this.#now + CONNECT_WITHIN_SECONDS, { kind: "waitExpired", call });
    }
  }

  #countLiveAnswer(): void {
    this.#result.liveAnswered++;
    this.#result.liveAnswerTimes.push(this.#now);
    this.#day().liveAnswered++;
  }

  #waitExpired(call: SimCall): void {
    if (call.phase !== "waiting") return;
    call.phase = "ended";
    this.#waiting = this.#waiting.filter((c) => c !== call);
    if (call.truth === "human") {
      this.#result.abandoned++;
      this.#result.abandonTimes.push(this.#now);
      this.#day().abandoned++;
      this.#stats.abandoned(this.#now);
    }
  }

  #connect(call: SimCall, agent: SimAgent): void {
    call.phase = "withAgent";
    this.#result.idleWaits.push(this.#now - agent.freeSince);
    const human = call.truth === "human";
    const talk = this.#handleRng.logNormal(human ? this.#s.talkSeconds : this.#s.machineHandleSeconds);
    const wrap = human ? this.#handleRng.logNormal(this.#s.wrapSeconds) : MACHINE_WRAP_SECONDS;
    if (human) this.#result.humanConnects++;
    agent.onHuman = human;
    agent.talkStart = this.#now;
    agent.freeAt = this.#now + talk + wrap;
    this.#setActivity(agent, "talking");
    this.#events.push(this.#now + talk, { kind: "talkEnd", agent, call, wrapSeconds: wrap });
  }

  #talkEnd(agent: SimAgent, call: SimCall, wrapSeconds: number): void {
    const talk = this.#now - agent.talkStart;
    if (agent.onHuman) this.#result.humanTalkSeconds += talk;
    this.#result.handleSeconds += talk;
    if (!call.owner) this.#stats.handled(talk, wrapSeconds);
    call.phase = "ended";
    agent.wrapStart = this.#now;
    this.#setActivity(agent, "wrapping");
    this.#events.push(this.#now + wrapSeconds, { kind: "wrapEnd", agent });
  }

  #previewCallFailed(call: SimCall): void {
    const agent = call.owner as SimAgent;
    call.phase = "ended";
    this.#becomeFree(agent);
  }

  #day(): DayTally {
    const day = Math.floor((this.#startMinute * 60 + this.#now) / 86_400);
    let tally = this.#result.days.find((d) => d.day === day);
    if (!tally) {
      tally = { day, liveAnswered: 0, abandoned: 0, amdFalsePositives: 0 };
      this.#result.days.push(tally);
    }
    return tally;
  }

  // --- the loop -----------------------------------------------------------------------

  #handle(event: SimEvent): void {
    switch (event.kind) {
      case "tick":
        this.#decide();
        break;
      case "answered":
        this.#answered(event.call);
        break;
      case "screened":
        this.#screened(event.call);
        break;
      case "failed":
        if (event.call.owner) this.#previewCallFailed(event.call);
        else this.#endPoolCall(event.call);
        break;
      case "waitExpired":
        this.#waitExpired(event.call);
        break;
      case "talkEnd":
        this.#talkEnd(event.agent, event.call, event.wrapSeconds);
        break;
      case "wrapEnd":
        this.#result.handleSeconds += this.#now - event.agent.wrapStart;
        this.#afterCall(event.agent);
        break;
      case "breakEnd":
        event.agent.breakDueAt = this.#nextBreakDue(this.#now);
        this.#becomeFree(event.agent);
        break;
    }
  }

  #snapshot(): PacingSnapshot {
    const agents: AgentView[] = this.#agents.map((a) => {
      const view: AgentView = { id: a.id, activity: a.activity, secondsInActivity: this.#now - a.since };
      if (a.activity === "previewing" && a.preview) {
        view.preview = {
          secondsShown: this.#now - a.since,
          skipsUsed: a.skipsUsed,
          ...(this.#now >= a.preview.decideAt ? { choice: a.preview.choice } : {}),
        };
      }
      return view;
    });
    const callsInFlight: CallInFlight[] = [];
    for (const call of this.#inFlight) callsInFlight.push({ secondsSinceDial: this.#now - call.dialAt });
    let withAgents = 0;
    for (const a of this.#agents) if (a.activity === "talking") withAgents++;
    return {
      atSeconds: this.#now,
      localMinuteOfDay: (this.#startMinute + this.#now / 60) % 1440,
      agents,
      callsInFlight,
      callsWaitingForAgent: this.#waiting.length,
      callsWithAgents: withAgents,
      abandonTarget: pacingTarget(this.#s),
      ...(unseenAbandonShare(this.#s) > 0 ? { unseenAbandonShare: unseenAbandonShare(this.#s) } : {}),
      stats: this.#stats.snapshot(this.#now),
      // Only the oracle is told: every other policy sees what the dialer service would.
      ...(this.#policy.name === "oracle" ? { knownSecondsUntilFree: this.#knownSecondsUntilFree() } : {}),
    };
  }

  /** Busy agents' drawn release times; one due a break after this call is left out. */
  #knownSecondsUntilFree(): Record<string, number> {
    const known: Record<string, number> = {};
    for (const a of this.#agents) {
      if (a.activity !== "talking" && a.activity !== "wrapping") continue;
      if (this.#s.breaks && a.freeAt >= a.breakDueAt) continue;
      known[a.id] = a.freeAt - this.#now;
    }
    return known;
  }

  #decide(): void {
    const snapshot = this.#snapshot();
    const step = this.#policy.decide(snapshot, this.#memory);
    this.#memory = step.memory;
    this.#onStep?.(this.#now, step, snapshot);
    const { decision } = step;
    for (let i = 0; i < decision.dials; i++) this.#dial(undefined);
    for (const id of decision.agentSkips) {
      const agent = this.#agents.find((a) => a.id === id);
      if (!agent || agent.activity !== "previewing") continue;
      agent.skipsUsed++;
      this.#startPreview(agent);
    }
    for (const id of decision.agentDials) {
      const agent = this.#agents.find((a) => a.id === id);
      if (!agent || agent.activity !== "previewing") continue;
      agent.preview = undefined;
      this.#setActivity(agent, "dialing");
      this.#dial(agent);
    }
  }

  /** Counts work still under way at the end of the run up to the end. */
  #closeBooks(): void {
    for (const agent of this.#agents) {
      if (agent.activity === "talking") {
        const talk = this.#now - agent.talkStart;
        if (agent.onHuman) this.#result.humanTalkSeconds += talk;
        this.#result.handleSeconds += talk;
      } else if (agent.activity === "wrapping") this.#result.handleSeconds += this.#now - agent.wrapStart;
    }
  }
}
