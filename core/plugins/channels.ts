/**
 * The channels one instance carries: those of its kind, narrowed by the instance's `channels`,
 * and only those whose `channelOptions` rule (in the manifest) its options satisfy. Routing is
 * built on this, so an SMS sender never carries WhatsApp because it happens to be listed first.
 */
import type { PluginManifest } from "@dialmesh/sdk";
import type { PluginInstanceConfig } from "../config/types.ts";
import { createAjv, type ValidationDetail } from "../validation/json-schema.ts";

const ajv = createAjv();

export interface InstanceChannels {
  channels: string[];
  /** Channels asked for in the instance's `channels` that its options do not allow. */
  problems: ValidationDetail[];
}

export function instanceChannels(
  manifest: PluginManifest,
  config: PluginInstanceConfig,
  pointer = "",
): InstanceChannels {
  const asked = config.channels?.length ? manifest.channels.filter((c) => config.channels!.includes(c)) : undefined;
  const channels: string[] = [];
  const problems: ValidationDetail[] = [];
  for (const channel of asked ?? manifest.channels) {
    const rule = manifest.channelOptions?.[channel];
    if (!rule || ajv.validate(rule, config.options ?? {})) {
      channels.push(channel);
      continue;
    }
    if (asked) {
      const why = typeof rule.description === "string" ? rule.description : "its options do not allow it";
      problems.push({ path: `${pointer}/channels`, message: `${config.use} cannot carry ${channel}: ${why}` });
    }
  }
  return { channels, problems };
}
