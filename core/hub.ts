/**
 * Builds one hub node: a Moleculer broker with every service, on the in-process transport
 * or over NATS (`transporter`), sharing the store with the other nodes.
 */
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { ServiceBroker, type BrokerOptions } from "moleculer";
import type { ApiKeyConfig, HubConfig } from "./config/types.ts";
import { openStore } from "./store/connection.ts";
import { createRuntime, type HubRuntime } from "./services/runtime.ts";
import { pluginsService, PLUGINS_DIR } from "./services/plugins.service.ts";
import { PluginRegistry } from "./plugins/registry.ts";
import { configProblems } from "./plugins/config-check.ts";
import { schedulerService } from "./services/scheduler.service.ts";
import { ccmService } from "./services/ccm.service.ts";
import { conversationsService } from "./services/conversations.service.ts";
import { complianceService } from "./services/compliance.service.ts";
import { webhooksService } from "./services/webhooks.service.ts";
import { apiService } from "./services/api.service.ts";

export interface HubOptions {
  mongoUrl: string;
  /** API keys in force (config keys, or the generated admin key). */
  keys: ApiKeyConfig[];
  pluginsDir?: string;
  nodeId?: string;
}

export interface Hub {
  broker: ServiceBroker;
  runtime: HubRuntime;
  registry: PluginRegistry;
  /** Where the API listens, e.g. http://127.0.0.1:8080. */
  apiUrl: string;
  stop(): Promise<void>;
}

export async function startHub(config: HubConfig, opts: HubOptions): Promise<Hub> {
  const nodeId = opts.nodeId ?? config.nodeId ?? `${hostname()}-${process.pid}-${randomBytes(2).toString("hex")}`;
  const store = await openStore(opts.mongoUrl, config.store?.database ? { database: config.store.database } : {});
  const runtime = createRuntime(config, nodeId, store, opts.pluginsDir);
  const registry = new PluginRegistry(opts.pluginsDir ?? PLUGINS_DIR, {
    routing: config.routing,
    failureThreshold: config.pluginHealth.failureThreshold,
  });

  // Plugins named in the config must exist, have valid options and a clear route per channel.
  const problems = configProblems(config, registry);
  if (problems.length > 0) {
    await store.close();
    throw new Error(`Invalid plugin configuration:\n${problems.map((p) => `  ${p.path} ${p.message}`).join("\n")}`);
  }

  const broker = new ServiceBroker({
    nodeID: nodeId,
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
  });

  broker.createService(webhooksService(runtime));
  broker.createService(complianceService(runtime));
  broker.createService(conversationsService(runtime));
  broker.createService(pluginsService(runtime, registry));
  broker.createService(ccmService(runtime, registry));
  broker.createService(schedulerService(runtime, registry));
  broker.createService(apiService(runtime, opts.keys));

  await broker.start();
  const api = broker.getLocalService("api") as unknown as { server?: { address(): { port: number } | string | null } };
  const addr = api.server?.address();
  const port = addr && typeof addr === "object" ? addr.port : config.api.port;
  const apiUrl = `http://${config.api.host ?? "127.0.0.1"}:${port}`;

  return {
    broker,
    runtime,
    registry,
    apiUrl,
    async stop() {
      await broker.stop();
      await store.close();
    },
  };
}
