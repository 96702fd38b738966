/**
 * `npm start`: one hub node. Without MONGO_URL (or store.mongoUrl) it runs FerretDB itself,
 * data in DIALMESH_DATA_DIR (default .data/). Prints the API address, the admin key and a
 * curl that sends a first activity.
 */
import { chmodSync, mkdirSync } from "node:fs";
import path from "node:path";
import { ConfigError, loadConfig } from "./config/load.ts";
import type { HubConfig } from "./config/types.ts";
import { apiKeys } from "./config/api-keys.ts";
import { startSupervisedFerretDb, type SupervisedDatabase } from "./infra/supervised-ferretdb.ts";
import { startHub } from "./hub.ts";
import { startDevMailbox, type DevMailbox } from "./infra/dev-mailbox.ts";

async function main(): Promise<void> {
  let config: HubConfig;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const dataDir = path.resolve(config.dataDir);
  // The data dir holds the database, the generated keys and plugin state: the hub's user only.
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
  config = { ...config, dataDir };

  let ferret: SupervisedDatabase | undefined;
  let mongoUrl = config.store?.mongoUrl;
  if (!mongoUrl) {
    process.stdout.write(`Starting FerretDB (SQLite) with data in ${path.join(dataDir, "db")}\n`);
    ferret = await startSupervisedFerretDb(
      path.join(dataDir, "db"),
      (line) => process.stderr.write(`[ferretdb] ${line}\n`),
      config.store?.embeddedSynchronous,
    );
    mongoUrl = `${ferret.url}/dialmesh`;
  }

  // The embedded default (no config file): give the default email plugin a local mailbox.
  let mailbox: DevMailbox | undefined;
  const defaultMail = config.plugins.find((p) => p.use === "email-smtp" && p.options?.host === "127.0.0.1");
  if (!process.env.DIALMESH_CONFIG && defaultMail && process.env.DIALMESH_DEV_MAILBOX !== "0") {
    const port = Number(defaultMail.options?.port ?? 2525);
    mailbox = await startDevMailbox({
      port,
      dir: path.join(dataDir, "mailbox"),
      log: (l) => process.stdout.write(`${l}\n`),
    }).catch((err: Error) => {
      process.stdout.write(
        `dev mailbox not started on 127.0.0.1:${port} (${err.message}); email goes to whatever listens there\n`,
      );
      return undefined;
    });
  }

  const { keys, generated } = apiKeys(config, dataDir);
  let hub;
  try {
    hub = await startHub(config, { mongoUrl, keys });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    await mailbox?.stop();
    await ferret?.stop();
    process.exit(2);
  }

  const key = generated ?? "<one of api.keys>";
  const sample = JSON.stringify({
    customer: { id: "c-1", firstName: "Ada", email: "ada@example.com", timezone: "Europe/London" },
    channel: "email",
    content: { subject: "Hello {{firstName}}", text: "Hi {{firstName}}, this is Dialmesh." },
  });
  process.stdout.write(
    [
      "",
      `Dialmesh hub ${hub.runtime.nodeId} is up.`,
      `  API:       ${hub.apiUrl}  (health: ${hub.apiUrl}/health)`,
      `  Admin key: ${key}${generated ? `  (kept in ${path.join(dataDir, "admin-key")})` : ""}`,
      `  Plugins:   ${[...hub.registry.hosts.values()].map((h) => `${h.id} (${h.manifest.name}, ${h.state})`).join(", ") || "none"}`,
      ...(mailbox
        ? [`  Mailbox:   dev SMTP server on 127.0.0.1:${mailbox.port}, messages saved in ${mailbox.dir}`]
        : []),
      "",
      "Send a first activity:",
      `  curl -s -X POST ${hub.apiUrl}/api/v1/activities \\`,
      `    -H 'Authorization: Bearer ${key}' -H 'Content-Type: application/json' \\`,
      `    -d '${sample}'`,
      "",
    ].join("\n"),
  );

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping\n`);
    await hub.stop().catch(() => undefined);
    await mailbox?.stop();
    await ferret?.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}

await main();
