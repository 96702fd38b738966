/**
 * The broker configuration of a Dialmesh hub node, the one place its Moleculer options live.
 *
 * - `startHub` (npm start, tests, benchmarks) builds its broker with `brokerOptions(...)`.
 * - moleculer-runner loads this file's default export, which prepares the node from the hub
 *   configuration (config/default.json, DIALMESH_CONFIG, the environment) and attaches its
 *   runtime to the broker in the `created` hook; the services in core/services/*.service.ts
 *   read it from there:
 *
 *     MONGO_URL=mongodb://127.0.0.1:27017/dialmesh npm run start:runner
 */
import path from "node:path";
import type { BrokerOptions, ServiceBroker } from "moleculer";
import { ConfigError, loadConfig } from "./core/config/load.ts";
import type { HubConfig } from "./core/config/types.ts";
import { apiKeys } from "./core/config/api-keys.ts";
import { prepareNode } from "./core/node.ts";
import { attachRuntime, type HubRuntime } from "./core/services/runtime.ts";

export function brokerOptions(
  config: HubConfig,
  runtime: HubRuntime,
  hooks: Partial<BrokerOptions> = {},
): BrokerOptions {
  return {
    nodeID: runtime.nodeId,
    namespace: "dialmesh",
    transporter: (config.transporter ?? null) as BrokerOptions["transporter"],
    logger: {
      type: "Console",
      options: {
        // The framework's own start-up chatter (routes, registry) only when debugging.
        level: ["debug", "trace"].includes(config.logLevel)
          ? config.logLevel
          : {
              BROKER: "warn",
              REGISTRY: "warn",
              API: "warn",
              TRANSIT: "warn",
              TRANSPORTER: "warn",
              $NODE: "warn",
              "**": config.logLevel,
            },
        formatter: "short",
        colors: process.stdout.isTTY,
      },
    },
    registry: { strategy: "RoundRobin", preferLocal: true },
    requestTimeout: 60_000,
    heartbeatInterval: 2,
    heartbeatTimeout: 6,
    metrics: false,
    tracing: false,
    ...hooks,
    created(broker: ServiceBroker) {
      attachRuntime(broker, runtime);
    },
  };
}

/** For moleculer-runner: a node of the configured hub on `store.mongoUrl` (MONGO_URL). */
export default async function runnerBrokerOptions(): Promise<BrokerOptions> {
  let config: HubConfig;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) process.stderr.write(`${err.message}\n`);
    throw err;
  }
  const mongoUrl = config.store?.mongoUrl;
  if (!mongoUrl) throw new Error("moleculer-runner needs the database: set MONGO_URL (or store.mongoUrl)");
  const dataDir = path.resolve(config.dataDir);
  config = { ...config, dataDir };
  const { keys } = apiKeys(config, dataDir);
  const node = await prepareNode(config, { mongoUrl, keys });
  return brokerOptions(config, node.runtime, { stopped: () => node.close() });
}
