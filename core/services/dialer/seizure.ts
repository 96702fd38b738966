/**
 * Agent seizure for the campaigns this node paces: available agents of a campaign's queue are
 * seized (one campaign at a time, by unique insert), the ones that left are released, and idle
 * seized agents go back to inbound work waiting beyond its SEIZE threshold (call blending).
 */
import { campaignForAgent, isReadyFor, isSeizable, seizeLimit } from "../../dialer/agents.ts";
import type { DialerCampaignDoc } from "../../store/dialer.ts";
import type { DialerNode } from "./node.ts";

export function createSeizure(node: DialerNode): {
  seizeAgents(running: DialerCampaignDoc[], now: Date): Promise<void>;
} {
  const { runtime, store, owned, agentCache, busyAgents } = node;

  /**
   * Seizes the available agents of the queues of the campaigns this node paces, releases the
   * ones that left (BREAK, LOGGED_OUT) and, when inbound work waits in a queue beyond its SEIZE
   * threshold, gives idle seized agents back to it (call blending).
   */
  async function seizeAgents(running: DialerCampaignDoc[], now: Date): Promise<void> {
    const mine = running.filter((c) => owned.has(c._id) && c.spec.mode !== "agentless" && c.spec.queue);
    if (mine.length === 0) return;
    const candidates = running
      .filter((c) => c.spec.mode !== "agentless" && c.spec.queue)
      .map((c) => ({ id: c._id, queue: c.spec.queue!, priority: c.spec.priority }));
    const queues = [...new Set(mine.map((c) => c.spec.queue!))];
    const agents = await store.agentsOfQueues(queues);
    const inbound = new Map((await store.inbound(queues)).map((q) => [q._id, q]));
    for (const queue of queues) {
      const members = agents.filter((a) => a.queues.includes(queue));
      const q = inbound.get(queue);
      const idleSeized = members.filter(
        (a) => a.seizedBy && owned.has(a.seizedBy) && isReadyFor(a, a.seizedBy, now) && !busyAgents.has(a._id),
      );
      const seizable = members.filter((a) => isSeizable(a, now));
      let room =
        seizeLimit(idleSeized.length + seizable.length, q?.waiting ?? 0, q?.seizeThreshold ?? 1) - idleSeized.length;
      // Inbound waits: idle seized agents go back to it, most recently seized last.
      for (const agent of idleSeized) {
        if (room >= 0) break;
        await store.release(agent._id, agent.seizedBy!);
        agent.seizedBy = null;
        room++;
      }
      for (const agent of members) {
        if (agent.seizedBy && owned.has(agent.seizedBy) && agent.presence !== "AVAILABLE" && !agent.callId) {
          await store.release(agent._id, agent.seizedBy);
          agent.seizedBy = null;
        } else if (room > 0 && isSeizable(agent, now)) {
          const target = campaignForAgent(agent, candidates, Math.random);
          if (target && owned.has(target) && (await store.seize(agent, target, runtime.nodeId, now))) {
            agent.seizedBy = target;
            agent.seizeGeneration = (agent.seizeGeneration ?? 0) + 1;
            room--;
          }
        }
        agentCache.set(agent._id, agent);
      }
    }
  }

  return { seizeAgents };
}
