/**
 * What one hub node needs before its broker starts: the store (open, with its unique indexes),
 * the plugin registry, the configuration checked, and the runtime the services share. Used by
 * `startHub` (npm start, tests, bench) and by moleculer.config.ts (moleculer-runner).
 */
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type { ApiKeyConfig, HubConfig } from "./config/types.ts";
import { openStore } from "./store/connection.ts";
import { createRuntime, type HubRuntime } from "./services/runtime.ts";
import { PLUGINS_DIR } from "./plugins/catalog.ts";
import { PluginRegistry } from "./plugins/registry.ts";
import { configProblems } from "./plugins/config-check.ts";
import { loadSecretKey, secretBox } from "./store/secret-box.ts";
import { keyedHasher } from "./privacy/keyed-hash.ts";

export interface NodeOptions {
  mongoUrl: string;
  /** API keys in force (config keys, or the generated admin key). */
  keys: ApiKeyConfig[];
  pluginsDir?: string;
  nodeId?: string;
}

export interface PreparedNode {
  nodeId: string;
  runtime: HubRuntime;
  /** Closes the store (after the broker has stopped). */
  close(): Promise<void>;
}

export async function prepareNode(config: HubConfig, opts: NodeOptions): Promise<PreparedNode> {
  const nodeId = opts.nodeId ?? config.nodeId ?? `${hostname()}-${process.pid}-${randomBytes(2).toString("hex")}`;
  const registry = new PluginRegistry(opts.pluginsDir ?? PLUGINS_DIR, {
    routing: config.routing,
    failureThreshold: config.pluginHealth.failureThreshold,
  });
  // Plugins named in the config must exist, have valid options and a clear route per channel.
  const problems = configProblems(config, registry);
  if (problems.length > 0)
    throw new Error(`Invalid plugin configuration:\n${problems.map((p) => `  ${p.path} ${p.message}`).join("\n")}`);
  const store = await openStore(opts.mongoUrl, config.store?.database ? { database: config.store.database } : {});
  const key = loadSecretKey(config.dataDir);
  const secrets = { ...secretBox(key), keyedHash: keyedHasher(key) };
  const runtime = createRuntime(config, nodeId, store, registry, opts.keys, secrets, opts.pluginsDir);
  return { nodeId, runtime, close: () => store.close() };
}
