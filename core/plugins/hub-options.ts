/**
 * Hub-wide settings that plugins receive through their own options, so that a plugin needs
 * no hub-specific code for them. Pure.
 *
 * - `compliance.optOutKeywords` goes to every plugin whose options schema declares an
 *   `optOutKeywords` option, merged per language with the instance's own keywords: both
 *   apply. A plugin that does not declare the option receives nothing extra.
 */
import type { OptOutKeywords } from "@dialmesh/sdk";
import type { PluginManifest } from "@dialmesh/sdk";

export interface HubPluginDefaults {
  /** The hub config's `compliance.optOutKeywords`. */
  optOutKeywords?: OptOutKeywords;
}

/** Whether the plugin's options schema has a top-level property `name`. */
export function declaresOption(manifest: PluginManifest, name: string): boolean {
  const properties = manifest.optionsSchema.properties;
  return typeof properties === "object" && properties !== null && Object.hasOwn(properties, name);
}

/** Union of two keyword sets, per language; each list keeps its order, without repeats. */
export function mergeOptOutKeywords(a: OptOutKeywords | undefined, b: OptOutKeywords | undefined): OptOutKeywords {
  const out: OptOutKeywords = {};
  for (const source of [a ?? {}, b ?? {}]) {
    for (const [lang, words] of Object.entries(source)) {
      const into = (out[lang] ??= {});
      for (const kind of ["optOut", "optIn"] as const) {
        const list = words[kind];
        if (list?.length) into[kind] = [...new Set([...(into[kind] ?? []), ...list])];
      }
    }
  }
  return out;
}

/** The options a plugin instance is started with: its own, plus the hub-wide settings it declares. */
export function withHubDefaults(
  manifest: PluginManifest,
  options: Record<string, unknown>,
  hub: HubPluginDefaults,
): Record<string, unknown> {
  const hubKeywords = hub.optOutKeywords;
  if (!hubKeywords || Object.keys(hubKeywords).length === 0 || !declaresOption(manifest, "optOutKeywords"))
    return options;
  return {
    ...options,
    optOutKeywords: mergeOptOutKeywords(hubKeywords, options.optOutKeywords as OptOutKeywords | undefined),
  };
}
