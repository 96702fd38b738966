/**
 * `dialmesh plugin new <kind> --channel <channel> [--channel …] [--dir <path>]`: writes a plugin
 * folder that passes the contract kit as generated (see templates.ts).
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import type { CommandIo } from "../simulator/cli.ts";
import { PLUGINS_DIR } from "../plugins/catalog.ts";
import { scaffoldFiles } from "./templates.ts";

const KIND = /^[a-z][a-z0-9-]{1,62}$/;
const CHANNELS = ["email", "sms", "whatsapp", "voice"];
const ROOT = path.resolve(PLUGINS_DIR, "..");
const MANIFEST_SCHEMA = path.join(ROOT, "packages/sdk/plugin-manifest.schema.json");

const HELP = `Usage: dialmesh plugin new <kind> --channel <channel> [--channel <channel>] [--dir <path>]

Writes a plugin folder that passes the contract kit as generated: plugin.json, the provider,
a private status mapping with its test, a local stand-in vendor server and a contract test.

  <kind>             plugin kind and folder name, e.g. acme-sms (${KIND.source})
  --channel <name>   a channel it carries: ${CHANNELS.join(", ")} (repeatable)
  --dir <path>       parent folder (default: the hub's plugins/); a plugin outside the hub is
                     then symlinked into plugins/
`;

export async function pluginCommand(argv: string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === "--help" || sub === "-h") {
    io.stdout(HELP);
    return sub ? 0 : 2;
  }
  if (sub !== "new") {
    io.stderr(`dialmesh plugin: unknown subcommand "${sub}" (known: new)\n\n${HELP}`);
    return 2;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: { channel: { type: "string", multiple: true }, dir: { type: "string" }, help: { type: "boolean" } },
    });
  } catch (err) {
    io.stderr(`dialmesh plugin new: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (parsed.values.help) {
    io.stdout(HELP);
    return 0;
  }
  const [kind, ...extra] = parsed.positionals;
  const channels = [...new Set(parsed.values.channel ?? [])];
  const problems: string[] = [];
  if (!kind) problems.push("the plugin kind is missing (e.g. dialmesh plugin new acme-sms --channel sms)");
  else if (!KIND.test(kind)) problems.push(`kind "${kind}" must match ${KIND.source} (lower case, digits, dashes)`);
  if (extra.length) problems.push(`unexpected arguments: ${extra.join(" ")}`);
  if (channels.length === 0) problems.push(`--channel is required (one of ${CHANNELS.join(", ")})`);
  for (const c of channels)
    if (!CHANNELS.includes(c)) problems.push(`unknown channel "${c}" (known: ${CHANNELS.join(", ")})`);
  const parent = parsed.values.dir ? path.resolve(io.cwd, parsed.values.dir) : PLUGINS_DIR;
  const dir = kind ? path.join(parent, kind) : parent;
  if (kind && existsSync(dir)) problems.push(`${dir} already exists; choose another kind or remove it`);
  if (problems.length) {
    io.stderr(`dialmesh plugin new: ${problems.join("\n  ")}\n`);
    return 2;
  }
  const inRepo = !path.relative(ROOT, dir).startsWith("..");
  const files = scaffoldFiles({
    kind: kind!,
    channels,
    ...(inRepo ? { manifestSchema: path.relative(dir, MANIFEST_SCHEMA) } : {}),
  });
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(dir, name);
    writeFileSync(file, await formatted(file, content));
  }
  io.stdout(
    [
      `Created ${dir}:`,
      ...Object.keys(files).map((f) => `  ${f}`),
      "",
      inRepo
        ? `Run its tests: npm test -- ${path.relative(ROOT, dir)}`
        : `Link it into the hub: ln -s ${dir} ${path.join(PLUGINS_DIR, kind!)}`,
      `Use it: { "id": "${kind}", "use": "${kind}", "options": { "baseUrl": "…", "apiKey": "…", "from": "…" } }`,
      "",
    ].join("\n"),
  );
  return 0;
}

/** In the project's style when Prettier is installed (a development checkout); as is otherwise. */
async function formatted(file: string, content: string): Promise<string> {
  try {
    const prettier = await import("prettier");
    const options = (await prettier.resolveConfig(path.join(ROOT, "package.json"))) ?? {};
    return await prettier.format(content, { ...options, filepath: file });
  } catch {
    return content;
  }
}
