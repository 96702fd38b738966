/**
 * Builds one hub node: a Moleculer broker with every service (options from moleculer.config.ts),
 * on the in-process transport or over NATS (`transporter`), sharing the store with the other nodes.
 */
import { ServiceBroker } from "moleculer";
import type { HubConfig } from "./config/types.ts";
import type { HubRuntime } from "./services/runtime.ts";
import type { PluginRegistry } from "./plugins/registry.ts";
import { HUB_SERVICES } from "./services/index.ts";
import { prepareNode, type NodeOptions } from "./node.ts";
import { brokerOptions } from "../moleculer.config.ts";

export type HubOptions = NodeOptions;

export interface Hub {
  broker: ServiceBroker;
  runtime: HubRuntime;
  registry: PluginRegistry;
  /** Where the API listens, e.g. http://127.0.0.1:8080. */
  apiUrl: string;
  stop(): Promise<void>;
}

export async function startHub(config: HubConfig, opts: HubOptions): Promise<Hub> {
  const node = await prepareNode(config, opts);
  const { runtime } = node;
  const broker = new ServiceBroker(brokerOptions(config, runtime));
  for (const service of HUB_SERVICES) broker.createService(service);

  await broker.start();
  const api = broker.getLocalService("api") as unknown as { server?: { address(): { port: number } | string | null } };
  const addr = api.server?.address();
  const port = addr && typeof addr === "object" ? addr.port : config.api.port;
  const apiUrl = `http://${config.api.host ?? "127.0.0.1"}:${port}`;

  return {
    broker,
    runtime,
    registry: runtime.registry,
    apiUrl,
    async stop() {
      await broker.stop();
      await node.close();
    },
  };
}
