/**
 * The start-up check of the plugin part of the configuration: every enabled instance exists and
 * has valid options, every channel has a clear route (two carriers need a `routing` entry), and
 * every fallback step that names a `pluginId` names an instance that carries its channel.
 */
import type { HubConfig } from "../config/types.ts";
import type { ValidationDetail } from "../validation/json-schema.ts";
import type { PluginRegistry } from "./registry.ts";

export function configProblems(config: HubConfig, registry: PluginRegistry): ValidationDetail[] {
  const enabled = config.plugins.filter((p) => p.enabled !== false);
  const problems = config.plugins.flatMap((p, i) => (p.enabled === false ? [] : registry.validate(p, `/plugins/${i}`)));
  if (problems.length > 0) return problems;
  problems.push(...registry.plan(enabled).problems);
  const carries = registry.instances(enabled);
  for (const [name, policy] of Object.entries(config.fallbacks)) {
    policy.steps.forEach((step, k) => {
      if (!step.pluginId) return;
      const path = `/fallbacks/${name}/steps/${k}/pluginId`;
      const channels = carries.get(step.pluginId);
      if (!channels) problems.push({ path, message: `"${step.pluginId}" is not an enabled plugin instance` });
      else if (!channels.includes(step.channel))
        problems.push({
          path,
          message: `"${step.pluginId}" does not carry ${step.channel} (it carries: ${channels.join(", ") || "nothing"})`,
        });
    });
  }
  return problems;
}
