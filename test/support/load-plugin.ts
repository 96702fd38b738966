/**
 * Loads one plugin instance the way a hub node does (catalog + PluginHost, outside any test
 * runner), sends one message and prints the outcome as JSON. Used by tests that need Node's
 * own module resolution, e.g. a plugin folder symlinked in from elsewhere.
 *
 *   node test/support/load-plugin.ts <pluginsDir> <kind> '<options JSON>'
 */
import { tmpdir } from "node:os";
import { discoverPlugins } from "../../core/plugins/catalog.ts";
import { PluginHost } from "../../core/plugins/host.ts";

const [pluginsDir, kind, optionsJson] = process.argv.slice(2);
if (!pluginsDir || !kind) throw new Error("usage: load-plugin.ts <pluginsDir> <kind> [options JSON]");
const entry = discoverPlugins(pluginsDir).get(kind);
if (!entry?.manifest) throw new Error(`no valid plugin ${kind} in ${pluginsDir}: ${JSON.stringify(entry?.errors)}`);
const silent = { debug() {}, info() {}, warn() {}, error() {} };
const host = new PluginHost(
  entry,
  { id: "probe", use: kind, options: JSON.parse(optionsJson ?? "{}") as Record<string, unknown> },
  {
    publicUrl: "http://127.0.0.1:1",
    dataDir: tmpdir(),
    logger: () => silent,
    rateLimiter: { acquire: async () => undefined },
    conversations: { lastInboundAt: async () => undefined },
    emit: async () => undefined,
  },
);
await host.start();
const outcome =
  host.state === "ready"
    ? await host.send({
        attemptId: "att_probe",
        activityId: "act_probe",
        conversationId: "conv_probe",
        channel: entry.manifest.channels[0] ?? "sms",
        customer: { id: "c-1", phone: "+14155550123" },
        content: { text: "hello" },
      })
    : undefined;
process.stdout.write(JSON.stringify({ state: host.state, error: host.lastError, outcome }) + "\n");
await host.stop();
