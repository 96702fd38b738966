/**
 * Hub configuration: config/default.json, then the file named by DIALMESH_CONFIG, then the
 * environment (MONGO_URL, TRANSPORTER, PORT, DIALMESH_DATA_DIR, DIALMESH_PUBLIC_URL).
 * Each layer is validated against schemas/hub-config.schema.json on its own, so an error
 * names the file it is in.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { schemaValidator, validateWith, type ValidationDetail } from "../validation/json-schema.ts";
import type { HubConfig } from "./types.ts";

export const DEFAULT_CONFIG_FILE = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../../config/default.json",
);

export class ConfigError extends Error {
  readonly source: string;
  readonly details: ValidationDetail[];
  constructor(source: string, details: ValidationDetail[], summary?: string) {
    const lines = details.map((d) => `  ${source}: ${d.path || "/"} ${d.message}`);
    super(`${summary ?? `Invalid configuration in ${source}`}\n${lines.join("\n")}`);
    this.name = "ConfigError";
    this.source = source;
    this.details = details;
  }
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Objects merge key by key; arrays and scalars of a later layer replace earlier ones. */
export function mergeConfig(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [key, value] of Object.entries(over)) {
    out[key] = isObject(value) && isObject(out[key]) ? mergeConfig(out[key], value) : value;
  }
  return out;
}

export function readConfigFile(file: string): Json {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(file, [{ path: "", message: `cannot be read (${(err as NodeJS.ErrnoException).code})` }]);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(file, [{ path: "", message: `is not valid JSON: ${(err as Error).message}` }]);
  }
  if (!isObject(parsed)) throw new ConfigError(file, [{ path: "", message: "must be a JSON object" }]);
  validateLayer(file, parsed);
  return parsed;
}

function validateLayer(source: string, layer: Json): void {
  const details = validateWith(schemaValidator("hub-config.schema.json"), layer);
  if (details.length > 0) throw new ConfigError(source, details);
}

function envLayer(env: NodeJS.ProcessEnv): Json {
  const layer: Json = {};
  const api: Json = {};
  if (env.PORT !== undefined) {
    const port = Number(env.PORT);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new ConfigError("environment", [{ path: "/PORT", message: `must be a port number, got "${env.PORT}"` }]);
    }
    api.port = port;
  }
  if (env.DIALMESH_PUBLIC_URL) api.publicUrl = env.DIALMESH_PUBLIC_URL;
  if (Object.keys(api).length > 0) layer.api = api;
  if (env.MONGO_URL) layer.store = { mongoUrl: env.MONGO_URL };
  if (env.TRANSPORTER !== undefined) layer.transporter = env.TRANSPORTER === "" ? null : env.TRANSPORTER;
  if (env.DIALMESH_DATA_DIR) layer.dataDir = env.DIALMESH_DATA_DIR;
  if (env.DIALMESH_NODE_ID) layer.nodeId = env.DIALMESH_NODE_ID;
  return layer;
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  defaultFile?: string;
  /** Extra layer applied last (tests, embedding). */
  overrides?: Json;
}

export function loadConfig(opts: LoadOptions = {}): HubConfig {
  const env = opts.env ?? process.env;
  let merged = readConfigFile(opts.defaultFile ?? DEFAULT_CONFIG_FILE);
  if (env.DIALMESH_CONFIG) merged = mergeConfig(merged, readConfigFile(path.resolve(env.DIALMESH_CONFIG)));
  const fromEnv = envLayer(env);
  validateLayer("environment", fromEnv);
  merged = mergeConfig(merged, fromEnv);
  if (opts.overrides) {
    validateLayer("overrides", opts.overrides);
    merged = mergeConfig(merged, opts.overrides);
  }
  validateLayer("merged configuration", merged);
  const config = merged as unknown as HubConfig;
  const relations = crossFieldDetails(config);
  if (relations.length > 0) throw new ConfigError("merged configuration", relations);
  return config;
}

/** What one field may be given another (a JSON schema cannot say it). */
function crossFieldDetails(config: HubConfig): ValidationDetail[] {
  const { claimAheadMs, leaseMs } = config.scheduler;
  // A send starts only with half its claim's lease left: work claimed ahead must leave that.
  return claimAheadMs > leaseMs / 4
    ? [
        {
          path: "/scheduler/claimAheadMs",
          message: `must be at most a quarter of scheduler.leaseMs (${leaseMs / 4}), got ${claimAheadMs}`,
        },
      ]
    : [];
}
