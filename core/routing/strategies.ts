/**
 * Routing strategies, in the manner of notifme-sdk's: tiny pure functions of one type. Each
 * returns the instances of a channel in the order to try them for one attempt; the dispatcher
 * takes the first usable one and fails over to the next on a vendor error that means "not sent".
 * `turn` counts the attempts routed on this channel so far (per node).
 */
export type StrategyName = "failover" | "roundrobin" | "weighted";

export interface ChannelRoute {
  strategy: StrategyName;
  /** Instance ids, in the admin's order. */
  plugins: readonly string[];
  /** Weights per instance for `weighted` (default 1). */
  weights?: Readonly<Record<string, number>>;
}

export type Strategy = (route: ChannelRoute, turn: number) => string[];

/** Always the admin's order: the first one unless it cannot take the attempt. */
export const failover: Strategy = (route) => [...route.plugins];

/** Each attempt starts one further along the list; the rest follow in order. */
export const roundRobin: Strategy = (route, turn) => rotate(route.plugins, turn);

/**
 * Smooth weighted round robin (nginx's): over one cycle of sum(weights) turns each instance
 * leads as often as its weight, spread out rather than in runs. The rest follow in list order.
 */
export const weighted: Strategy = (route, turn) => {
  const weights = route.plugins.map((id) => Math.max(0, route.weights?.[id] ?? 1));
  const total = weights.reduce((a, b) => a + b, 0);
  if (total === 0) return [...route.plugins];
  const current = weights.map(() => 0);
  let lead = 0;
  for (let t = 0; t <= turn % total; t++) {
    for (let i = 0; i < weights.length; i++) current[i]! += weights[i]!;
    lead = current.indexOf(Math.max(...current));
    current[lead]! -= total;
  }
  const first = route.plugins[lead]!;
  return [first, ...route.plugins.filter((id) => id !== first)];
};

export const STRATEGIES: Readonly<Record<StrategyName, Strategy>> = {
  failover,
  roundrobin: roundRobin,
  weighted,
};

function rotate<T>(list: readonly T[], by: number): T[] {
  if (list.length === 0) return [];
  const k = by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}
