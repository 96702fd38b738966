/**
 * What the dialer's parts share on one node: its store and rules, the live calls, the campaigns
 * it paces and the agents it has seen, and the way results go to the activities (ccm.ingest).
 */
import type { ServiceBroker } from "moleculer";
import type { CanonicalEvent, Logger, VoiceControl } from "@dialmesh/sdk";
import type { AgentRecord } from "../../dialer/agents.ts";
import type { DialerCampaignSpec } from "../../dialer/campaign.ts";
import { LiveCalls } from "../../dialer/calls.ts";
import type { PacingPolicy, PacingStatisticsTracker } from "../../pacing/index.ts";
import { loadPhoneZoneTable, loadRegulationTable } from "../../regulation/load.ts";
import { DialerStore } from "../../store/dialer.ts";
import type { HubRuntime } from "../runtime.ts";

/** A campaign this node paces: its term and the policy's memory and statistics. */
export interface OwnedCampaign {
  term: number;
  spec: DialerCampaignSpec;
  policy: PacingPolicy | undefined;
  memory: unknown;
  stats: PacingStatisticsTracker;
  startedAtMs: number;
  tokens: number;
  lastPulseMs: number;
}

export interface DialerNode {
  readonly runtime: HubRuntime;
  readonly store: DialerStore;
  readonly rules: ReturnType<typeof loadRegulationTable>;
  readonly zones: ReturnType<typeof loadPhoneZoneTable>;
  readonly calls: LiveCalls;
  readonly owned: Map<string, OwnedCampaign>;
  /** Agents seen at the last pulse, per campaign this node paces. */
  readonly agentCache: Map<string, AgentRecord>;
  /** Agents this node has put on a call and not yet seen free again (before the store says so). */
  readonly busyAgents: Set<string>;
  /** Answered calls waiting for their AMD verdict. */
  readonly amdPending: Set<string>;
  readonly leaseMs: number;
  /** The service's, set when Moleculer creates it. */
  logger: Logger;
  broker: ServiceBroker;
  voiceOf(pluginId: string): VoiceControl | undefined;
  /** The call's events onto its activity (throws when they could not be recorded). */
  report(pluginId: string, events: CanonicalEvent[]): Promise<void>;
}

export function createDialerNode(runtime: HubRuntime): DialerNode {
  const node: Omit<DialerNode, "logger" | "broker"> & Partial<Pick<DialerNode, "logger" | "broker">> = {
    runtime,
    store: new DialerStore(runtime.store.conn, runtime.secrets.keyedHash),
    rules: loadRegulationTable(),
    zones: loadPhoneZoneTable(),
    calls: new LiveCalls(),
    owned: new Map(),
    agentCache: new Map(),
    busyAgents: new Set(),
    amdPending: new Set(),
    leaseMs: runtime.config.dialer.leaseMs,
    voiceOf: (pluginId) => runtime.registry.hosts.get(pluginId)?.voice,
    report: async (pluginId, events) => {
      await node.broker!.call("ccm.ingest", { pluginId, events });
    },
  };
  return node as DialerNode;
}
