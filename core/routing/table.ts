/**
 * The routing table: for each channel, the instances that carry it and the strategy between
 * them. Built from the `routing` configuration and the set of instances (config + API), never
 * from load or reload order. Pure; problems come back as JSON-pointer details.
 */
import type { ValidationDetail } from "../validation/json-schema.ts";
import type { ChannelRoute, StrategyName } from "./strategies.ts";

export type RoutingTable = ReadonlyMap<string, ChannelRoute>;

export interface RoutingConfigEntry {
  strategy: StrategyName;
  plugins: string[];
  weights?: Record<string, number>;
}

export type RoutingConfig = Record<string, RoutingConfigEntry>;

/** One enabled instance and the channels it can carry with its options. */
export interface RoutableInstance {
  id: string;
  channels: readonly string[];
}

export function buildRoutingTable(
  routing: RoutingConfig,
  instances: readonly RoutableInstance[],
  pointer = "/routing",
): { table: RoutingTable; problems: ValidationDetail[] } {
  const table = new Map<string, ChannelRoute>();
  const problems: ValidationDetail[] = [];
  const byId = new Map(instances.map((i) => [i.id, i]));

  for (const [channel, entry] of Object.entries(routing)) {
    const at = `${pointer}/${channel}`;
    entry.plugins.forEach((id, k) => {
      const instance = byId.get(id);
      if (!instance) {
        const known = instances.map((i) => i.id).join(", ") || "none";
        problems.push({
          path: `${at}/plugins/${k}`,
          message: `"${id}" is not an enabled plugin instance (known: ${known})`,
        });
      } else if (!instance.channels.includes(channel)) {
        problems.push({
          path: `${at}/plugins/${k}`,
          message: `"${id}" does not carry ${channel} with its options (it carries: ${instance.channels.join(", ") || "nothing"})`,
        });
      }
    });
    for (const id of Object.keys(entry.weights ?? {})) {
      if (!entry.plugins.includes(id))
        problems.push({ path: `${at}/weights/${id}`, message: `"${id}" is not in ${at}/plugins` });
    }
    if (entry.strategy !== "weighted" && entry.weights)
      problems.push({
        path: `${at}/weights`,
        message: `only applies to strategy "weighted" (this is "${entry.strategy}")`,
      });
    table.set(channel, {
      strategy: entry.strategy,
      plugins: entry.plugins.filter((id) => byId.get(id)?.channels.includes(channel)),
      ...(entry.weights ? { weights: entry.weights } : {}),
    });
  }

  // Channels without an entry: exactly one instance may carry them.
  const carriers = new Map<string, string[]>();
  for (const instance of instances)
    for (const channel of instance.channels) carriers.set(channel, [...(carriers.get(channel) ?? []), instance.id]);
  for (const [channel, ids] of carriers) {
    if (routing[channel]) continue;
    if (ids.length === 1) {
      table.set(channel, { strategy: "failover", plugins: ids });
      continue;
    }
    const list = ids.map((id) => `"${id}"`).join(", ");
    problems.push({
      path: `${pointer}/${channel}`,
      message:
        `channel "${channel}" is carried by ${ids.join(" and ")}: say which to use, e.g. ` +
        `"routing": { "${channel}": { "strategy": "failover", "plugins": [${list}] } }, ` +
        `or limit an instance with "channels"`,
    });
  }
  return { table, problems };
}
