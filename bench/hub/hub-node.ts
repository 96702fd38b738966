/**
 * One Dialmesh hub node for the benchmark, in its own process: the real startHub() with the
 * email-smtp plugin pointed at the benchmark's SMTP server. Settings come in BENCH_HUB (JSON).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadConfig } from "../../core/config/load.ts";
import { startHub } from "../../core/hub.ts";
import { FROM, runChild, toParent } from "./common.ts";

export interface HubNodeSettings {
  mongoUrl: string;
  database: string;
  smtpPort: number;
  apiKey: string;
  /** Overrides of the `scheduler` config section (pollIntervalMs, batchSize, concurrency, leaseMs). */
  scheduler: Record<string, number>;
  smtpMaxConnections: number;
}

const settings = JSON.parse(process.env.BENCH_HUB ?? "{}") as HubNodeSettings;

await runChild(async () => {
  const config = loadConfig({
    env: {},
    overrides: {
      api: { port: 0, publicUrl: "http://127.0.0.1", keys: [{ id: "bench", key: settings.apiKey, roles: ["admin"] }] },
      dataDir: mkdtempSync(path.join(tmpdir(), "dialmesh-bench-hub-")),
      logLevel: "warn",
      store: { database: settings.database },
      scheduler: settings.scheduler,
      plugins: [
        {
          id: "mail",
          use: "email-smtp",
          options: {
            host: "127.0.0.1",
            port: settings.smtpPort,
            secure: false,
            from: FROM,
            maxConnections: settings.smtpMaxConnections,
          },
        },
      ],
    },
  });
  const hub = await startHub(config, { mongoUrl: settings.mongoUrl, keys: config.api.keys! });
  toParent({ type: "ready", apiUrl: hub.apiUrl });
  return async () => {
    await hub.stop();
  };
});
