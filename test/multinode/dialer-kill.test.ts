/**
 * Two hub nodes (real processes) on one database and one switch: the node pacing a dialer
 * campaign is killed with SIGKILL while its calls are up. The other takes the campaign over once
 * the lease passes, ends the dead node's calls as NETWORK_ERROR (NODE_LOST) without dialling them
 * again, and dials the rest: no number is dialled twice.
 */
import assert from "node:assert/strict";
import { afterAll, beforeAll, describe, test } from "@jest/globals";
import { startEslSwitch, type EslSwitch } from "../support/esl-switch/switch.ts";
import { freshDatabaseUrl } from "../support/mongo.ts";
import { startNodeProcess, type HubNodeProcess } from "../support/node-process.ts";
import { startSmtpServer, type LocalSmtpServer } from "../vendors/smtp-server.ts";
import { afternoonZone } from "../support/zones.ts";

const PASSWORD = "kill-test-secret";
const COUNT = 12;
const LEASE_MS = 3_000;

function note(line: string): void {
  process.stdout.write(`[dialer-kill.test.ts] ${line}\n`);
}

describe("a dialer node killed mid-call", () => {
  let sw: EslSwitch;
  let smtp: LocalSmtpServer;
  beforeAll(async () => {
    // 1 model second = 100 ms: a call rings 0.2 s and talks 3 s, long enough to be killed under.
    sw = await startEslSwitch({ password: PASSWORD, timeScale: 0.1, parkedPatienceS: 100 });
    smtp = await startSmtpServer();
  });
  afterAll(async () => {
    await sw?.close();
    await smtp?.stop();
  });

  test("the other node takes the campaign over; no number is dialled twice", async () => {
    const mongoUrl = freshDatabaseUrl("dialer_kill");
    const config = {
      dialer: { pulseMs: 100, leaseMs: LEASE_MS },
      plugins: [
        {
          id: "dialer",
          use: "voice-freeswitch",
          options: {
            esl: { host: "127.0.0.1", port: sw.port, password: PASSWORD },
            gateway: "carrier1",
            callerId: "+14155550100",
          },
        },
      ],
    };
    const nodes: HubNodeProcess[] = [];
    try {
      nodes.push(await startNodeProcess({ nodeId: "dk-a", mongoUrl, smtpPort: smtp.port, config }));
      nodes.push(await startNodeProcess({ nodeId: "dk-b", mongoUrl, smtpPort: smtp.port, config }));
      const [a] = nodes;
      for (let i = 0; i < 4; i++) {
        assert.equal(
          (await a!.api("PUT", `/api/v1/agents/k${i}`, { endpoint: `user/20${i}`, queues: ["kq"] })).status,
          201,
        );
        assert.equal((await a!.api("POST", `/api/v1/agents/k${i}/state`, { state: "AVAILABLE" })).status, 200);
      }
      const put = await a!.api("PUT", "/api/v1/dialer/campaigns/kill", {
        mode: "progressive",
        queue: "kq",
        voicePlugin: "dialer",
        wrapUpS: 0,
      });
      assert.equal(put.status, 201, put.text);
      assert.equal((await a!.api("POST", "/api/v1/dialer/campaigns/kill/start")).status, 200);
      const zone = afternoonZone();
      const numbers = Array.from({ length: COUNT }, (_, i) => `+1415556${String(1000 + i)}`);
      const res = await a!.api("POST", "/api/v1/activities", {
        activities: numbers.map((phone, i) => ({
          customer: { id: `dk-${i}`, phone, timezone: zone },
          channel: "voice",
          campaignId: "kill",
          content: {},
          idempotencyKey: `dk-${i}`,
        })),
      });
      assert.equal(res.status, 202, res.text);
      const ids = (res.body as { activities: { id: string }[] }).activities.map((x) => x.id);

      // Kill the pacing node once it has calls up.
      const deadline = Date.now() + 60_000;
      let pacer: string | null = null;
      while (Date.now() < deadline) {
        const status = (await a!.api("GET", "/api/v1/dialer/campaigns/kill/status")).body as { pacedBy: string | null };
        pacer = status.pacedBy;
        if (pacer && sw.activeCount() >= 2) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(pacer, "nobody paced the campaign");
      const victim = nodes.find((n) => n.nodeId === pacer)!;
      const survivor = nodes.find((n) => n.nodeId !== pacer)!;
      const upAtKill = sw.activeCount();
      await victim.kill("SIGKILL");
      const killedAt = Date.now();

      const final = await (async () => {
        for (;;) {
          const all = await Promise.all(
            ids.map(
              async (id) =>
                (await survivor.api("GET", `/api/v1/activities/${id}`)).body as {
                  status: string;
                  attempts: { status: string; reasonCode?: string }[];
                },
            ),
          );
          if (all.every((x) => ["CONNECTED", "NETWORK_ERROR", "FAILED"].includes(x.status))) return all;
          if (Date.now() - killedAt > LEASE_MS + 60_000) {
            const status = await survivor.api("GET", "/api/v1/dialer/campaigns/kill/status");
            assert.fail(`${JSON.stringify(all.map((x) => x.status))}\n${status.text}\n${survivor.tail(30)}`);
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      const twice = numbers.filter((n) => sw.originateCount(n) > 1);
      assert.deepEqual(twice, [], "numbers dialled twice");
      // A number never dialled is one the dead node had marked for dialling just before it died:
      // ended NODE_LOST like its calls, never dialled by the survivor.
      const lostIds = new Set(
        final.flatMap((x, i) => (x.attempts.some((t) => t.reasonCode === "NODE_LOST") ? [i] : [])),
      );
      const undialled = numbers.flatMap((n, i) => (sw.originateCount(n) === 0 ? [i] : []));
      for (const i of undialled) assert.ok(lostIds.has(i), `${numbers[i]} was never dialled and not NODE_LOST`);
      // Progressive with 4 agents: never more than 4 calls outstanding, so at most 4 lost.
      assert.ok(
        lostIds.size > 0 && lostIds.size <= 4,
        `${lostIds.size} ended NODE_LOST (${upAtKill} calls up at the kill)`,
      );
      const lost = lostIds.size;
      const status = (await survivor.api("GET", "/api/v1/dialer/campaigns/kill/status")).body as { pacedBy: string };
      assert.equal(status.pacedBy, survivor.nodeId);
      note(
        `killed ${victim.nodeId} with ${upAtKill} calls up; ${survivor.nodeId} took over, ${lost} ended NODE_LOST, ` +
          `${final.filter((x) => x.status === "CONNECTED").length} CONNECTED, ${undialled.length} never dialled; no number dialled twice`,
      );
    } finally {
      await Promise.all(nodes.map((n) => n.stop()));
    }
  });
});
