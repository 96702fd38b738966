/**
 * One Dialmesh hub node for the benchmark, in its own process: the real startHub() with the
 * email-smtp plugin pointed at the benchmark's SMTP server. Settings come in BENCH_HUB (JSON).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadConfig } from "../../core/config/load.ts";
import { startHub } from "../../core/hub.ts";
import { FROM, toParent, type DriverMessage } from "./common.ts";

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

try {
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
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await hub.stop();
    toParent({ type: "stopped" });
    process.exit(0);
  };
  process.on("message", (m: DriverMessage) => {
    if (m.type === "stop") void stop();
  });
  process.on("disconnect", () => void stop());
} catch (err) {
  toParent({ type: "error", message: (err as Error).stack ?? String(err) });
  process.exit(1);
}
