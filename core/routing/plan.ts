/**
 * Which instances one attempt may use, in order, and why others were passed over. Pure: the
 * caller supplies the routing table, what it knows of each instance right now, and the turn.
 */
import { STRATEGIES } from "./strategies.ts";
import type { RoutingTable } from "./table.ts";

/** What the routing needs to know of one instance on this node. */
export interface InstanceStatus {
  /** Loaded and started here. False while it is still loading (not a reason to fail). */
  loaded: boolean;
  /** Failed to load: it answers every attempt with its load error. */
  unusable?: string;
  /** Unhealthy by its health checks or its recent failures. */
  unhealthy?: string;
  idempotentSend: boolean;
}

export interface PassedOver {
  pluginId: string;
  /** Why: `unhealthy: …`, `failed to load: …`, or the vendor error that made the hub fail over. */
  reason: string;
  code?: string;
}

export type RoutePlan =
  | { kind: "route"; candidates: string[]; passedOver: PassedOver[] }
  /** Nothing carries the channel: the attempt fails (NO_PLUGIN). */
  | { kind: "none"; reason: string }
  /** The instances that carry it are still loading on this node: look again shortly. */
  | { kind: "wait"; reason: string };

export function planRoute(
  table: RoutingTable,
  channel: string,
  status: (pluginId: string) => InstanceStatus | undefined,
  turn: number,
  pinned?: string,
): RoutePlan {
  const route = table.get(channel);
  const order = pinned ? [pinned] : route ? STRATEGIES[route.strategy](route, turn) : [];
  if (order.length === 0) return { kind: "none", reason: `no plugin instance carries channel "${channel}"` };

  const candidates: string[] = [];
  /** Unhealthy or failed: tried only when nothing else can take the attempt. */
  const lastResort: string[] = [];
  const passedOver: PassedOver[] = [];
  let loading = 0;
  for (const id of order) {
    const s = status(id);
    if (!s) passedOver.push({ pluginId: id, reason: "not an enabled plugin instance" });
    else if (!s.loaded) {
      loading++;
      passedOver.push({ pluginId: id, reason: "still loading on this node" });
    } else if (s.unusable) {
      lastResort.push(id);
      passedOver.push({ pluginId: id, reason: s.unusable });
    } else if (s.unhealthy) {
      lastResort.push(id);
      passedOver.push({ pluginId: id, reason: `unhealthy: ${s.unhealthy}` });
    } else candidates.push(id);
  }
  if (candidates.length > 0) return { kind: "route", candidates, passedOver };
  if (loading > 0) return { kind: "wait", reason: `${order.join(", ")} still loading on this node` };
  // Every instance is unhealthy or failed: try them anyway rather than fail without asking
  // (health checks lag; an instance marked down may be back). A failed one answers
  // PLUGIN_UNAVAILABLE with its load error, so the attempt says why.
  if (lastResort.length > 0) return { kind: "route", candidates: lastResort, passedOver: [] };
  const why = passedOver.map((p) => `${p.pluginId}: ${p.reason}`).join("; ");
  return { kind: "none", reason: `no plugin instance for channel "${channel}" (${why})` };
}
