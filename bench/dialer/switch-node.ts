/**
 * The local switch of the dialer benchmark, in its own process (so that its CPU is its own):
 * starts on a free port, reports it to the parent, and answers `stats` requests over IPC.
 */
import { startEslSwitch } from "../../test/support/esl-switch/switch.ts";
import { withDefaults } from "../../core/simulator/scenario.ts";

const settings = JSON.parse(process.env.BENCH_SWITCH ?? "{}") as { password: string; talkSeconds: number };
const sw = await startEslSwitch({
  password: settings.password,
  scenario: withDefaults({
    agents: 1,
    durationMinutes: 1,
    outcomes: { human: 1, machine: 0, noAnswer: 0, busy: 0, invalid: 0 },
    timeToAnswerSeconds: { mean: 2, sd: 0.5 },
    talkSeconds: { mean: settings.talkSeconds, sd: 2 },
  }),
  parkedPatienceS: 30,
});

export interface SwitchStats {
  originates: number;
  placed: number;
  active: number;
  peakActive: number;
  answerToBridgeMs: number[];
  numbersDialledTwice: string[];
  cpuMs: number;
}

process.send?.({ type: "ready", port: sw.port });
process.on("message", (msg: { type: string }) => {
  if (msg.type === "stats") {
    const cpu = process.cpuUsage();
    const stats: SwitchStats = {
      originates: sw.originateCount(),
      placed: sw.placedCount(),
      active: sw.activeCount(),
      peakActive: sw.peakActiveCount(),
      answerToBridgeMs: [...sw.answerToBridgeMs()],
      numbersDialledTwice: sw.numbersDialledTwice(),
      cpuMs: (cpu.user + cpu.system) / 1000,
    };
    process.send?.({ type: "stats", stats });
  } else if (msg.type === "stop") {
    void sw.close().then(() => process.exit(0));
  }
});
