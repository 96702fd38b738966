/** Discovery of plugin folders: plugins/<name>/plugin.json, validated against the manifest schema. */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { PluginManifest } from "@dialmesh/sdk";
import { schemaValidator, validateWith, type ValidationDetail } from "../validation/json-schema.ts";

/** The manifest schema ships with the SDK: plugins and the hub validate against the same file. */
const MANIFEST_SCHEMA = fileURLToPath(import.meta.resolve("@dialmesh/sdk/plugin-manifest.schema.json"));

export const PLUGINS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../plugins");

export interface CatalogEntry {
  name: string;
  dir: string;
  manifest?: PluginManifest;
  /** Why the folder is not usable. */
  errors: ValidationDetail[];
}

export function readManifest(dir: string): CatalogEntry {
  const name = path.basename(dir);
  const file = path.join(dir, "plugin.json");
  const entry: CatalogEntry = { name, dir, errors: [] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    entry.errors.push({ path: "", message: `${file}: ${(err as Error).message}` });
    return entry;
  }
  const details = validateWith(schemaValidator(MANIFEST_SCHEMA), parsed);
  if (details.length > 0) {
    entry.errors.push(...details.map((d) => ({ path: d.path, message: `${file}: ${d.path || "/"} ${d.message}` })));
    return entry;
  }
  const manifest = parsed as PluginManifest;
  if (manifest.name !== name) {
    entry.errors.push({
      path: "/name",
      message: `${file}: /name "${manifest.name}" must equal the folder name "${name}"`,
    });
    return entry;
  }
  entry.manifest = manifest;
  return entry;
}

/** Every plugin folder under `root`. */
export function discoverPlugins(root = PLUGINS_DIR): Map<string, CatalogEntry> {
  const out = new Map<string, CatalogEntry>();
  if (!existsSync(root)) return out;
  for (const name of readdirSync(root)) {
    const dir = path.join(root, name);
    // statSync follows symlinks: a plugin developed elsewhere can be linked in.
    if (statSync(dir).isDirectory() && existsSync(path.join(dir, "plugin.json"))) out.set(name, readManifest(dir));
  }
  return out;
}
