/**
 * The `dialmesh` command: a small dispatcher; each subcommand lives with its module and
 * returns an exit code. Add a subcommand by adding an entry to COMMANDS.
 */
import { simulateCommand, type CommandIo } from "../core/simulator/cli.ts";
import { pluginCommand } from "../core/scaffold/plugin-new.ts";
import { importCommand } from "../core/audience/import-cli.ts";

interface Command {
  summary: string;
  run: (argv: string[], io: CommandIo) => number | Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  simulate: { summary: "simulate a campaign under pacing policies (dialer simulator)", run: simulateCommand },
  import: {
    summary: "import customers from a CSV file into a hub: `import file.csv --map map.json`",
    run: importCommand,
  },
  plugin: { summary: "plugin tools: `plugin new <kind> --channel <c>` scaffolds a plugin folder", run: pluginCommand },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`);
  return `Usage: dialmesh <command> [options]\n\nCommands:\n${lines.join("\n")}\n\nRun "dialmesh <command> --help" for a command's options.\n`;
}

const io: CommandIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  cwd: process.env.DIALMESH_CWD ?? process.cwd(),
};

const [name, ...rest] = process.argv.slice(2);
if (!name || name === "--help" || name === "-h" || name === "help") {
  io.stdout(usage());
  process.exitCode = name ? 0 : 2;
} else {
  const command = COMMANDS[name];
  if (!command) {
    io.stderr(`dialmesh: unknown command "${name}"\n\n${usage()}`);
    process.exitCode = 2;
  } else process.exitCode = await command.run(rest, io);
}
