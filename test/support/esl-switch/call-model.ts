/**
 * What happens to each call the local switch places: the simulator's call model (scenario
 * outcome mix, time to answer, ring timeout, busy/invalid delays, talk and machine-message
 * lengths, AMD sensitivity/specificity), drawn from the simulator's seeded generator with the
 * same streams and draw order as core/simulator/simulation.ts, so the k-th call of a seed is
 * the same call in a live run and in `dialmesh simulate`. Times are in model seconds; the
 * switch scales them.
 */
import { Random } from "../../../core/simulator/random.ts";
import { withDefaults, type Scenario } from "../../../core/simulator/scenario.ts";
import type { AmdVerdict } from "@dialmesh/sdk";

export type CallTruth = "human" | "machine" | "noAnswer" | "busy" | "invalid";

/** A result tests can force on the next call: a truth of the model, or a raw hangup cause. */
export type ForcedResult = CallTruth | { cause: string; afterS?: number };

export interface CallPlan {
  truth: CallTruth;
  /** For human and machine: seconds from the dial to the answer. */
  answerAfterS: number;
  /** Seconds until the switch gives up on a busy/invalid/failed call. */
  failAfterS: number;
  /** Hangup cause when the call fails before an answer. */
  failCause: string;
  /** What mod_amd would conclude, and after how long. */
  amdVerdict: AmdVerdict;
  amdLatencyS: number;
  /** Human: seconds of conversation after the bridge. Machine: length of its greeting. */
  talkS: number;
}

/** The scenario fields the call model reads; the rest of a Scenario is ignored. */
export type CallScenario = Pick<
  Scenario,
  | "seed"
  | "outcomes"
  | "timeToAnswerSeconds"
  | "ringTimeoutSeconds"
  | "busySeconds"
  | "invalidSeconds"
  | "talkSeconds"
  | "machineHandleSeconds"
  | "amd"
>;

const TRUTHS: readonly CallTruth[] = ["human", "machine", "noAnswer", "busy", "invalid"];

/** Every call answered by a person after 2 model seconds: the default for unit tests. */
export const ALWAYS_HUMAN: CallScenario = withDefaults({
  agents: 1,
  durationMinutes: 1,
  outcomes: { human: 1, machine: 0, noAnswer: 0, busy: 0, invalid: 0 },
  timeToAnswerSeconds: { mean: 2, sd: 0 },
  talkSeconds: { mean: 30, sd: 0 },
});

export class CallModel {
  readonly #scenario: CallScenario;
  readonly #outcomeRng: Random;
  readonly #handleRng: Random;
  readonly #forced: ForcedResult[] = [];

  constructor(scenario: CallScenario) {
    this.#scenario = scenario;
    this.#outcomeRng = new Random(scenario.seed, 1);
    this.#handleRng = new Random(scenario.seed, 2);
  }

  /** The next call gets this result instead of a draw (queued: several calls, in order). */
  forceNext(result: ForcedResult): void {
    this.#forced.push(result);
  }

  /** The plan of the next call; `ringTimeoutS` is the originate_timeout it was dialled with. */
  next(ringTimeoutS: number | undefined): CallPlan {
    const s = this.#scenario;
    const rng = this.#outcomeRng;
    const o = s.outcomes;
    // Draw in the simulator's order even when the result is forced, so forcing one call
    // does not shift the sequence of the calls after it.
    let truth = TRUTHS[rng.pick([o.human, o.machine, o.noAnswer, o.busy, o.invalid])] as CallTruth;
    const answerAfterS = rng.logNormal(s.timeToAnswerSeconds);
    const amdDraw = rng.next();
    const forced = this.#forced.shift();
    const ringTimeout = ringTimeoutS ?? s.ringTimeoutSeconds;
    if (typeof forced === "string") truth = forced;
    if ((truth === "human" || truth === "machine") && answerAfterS > ringTimeout && forced === undefined) {
      truth = "noAnswer";
    }
    const screenedAsMachine = truth === "machine" ? amdDraw < s.amd.sensitivity : amdDraw >= s.amd.specificity;
    const talkS = this.#handleRng.logNormal(truth === "machine" ? s.machineHandleSeconds : s.talkSeconds);
    const plan: CallPlan = {
      truth,
      answerAfterS: forced === undefined ? answerAfterS : Math.min(answerAfterS, ringTimeout),
      failAfterS: truth === "busy" ? s.busySeconds : truth === "invalid" ? s.invalidSeconds : ringTimeout,
      failCause: truth === "busy" ? "USER_BUSY" : truth === "invalid" ? "UNALLOCATED_NUMBER" : "NO_ANSWER",
      amdVerdict: screenedAsMachine ? "MACHINE" : "HUMAN",
      amdLatencyS: s.amd.latencySeconds,
      talkS,
    };
    if (typeof forced === "object") {
      return { ...plan, truth: "invalid", failCause: forced.cause, failAfterS: forced.afterS ?? s.invalidSeconds };
    }
    return plan;
  }
}
