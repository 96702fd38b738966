/**
 * `npm run bench`: every benchmark, one after the other (never together, so that they do not
 * share the machine's cores): the hub-core benchmark (bench/hub/run.ts), then the pacing sweep
 * (bench/pacing/run.ts) when it is present.
 *
 *   npm run bench                      both, with their defaults
 *   npm run bench -- --only hub        one of them (hub | pacing)
 *   npm run bench -- --hub="--runs 3" extra flags for one of them (also --pacing="...")
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";

const root = path.resolve(import.meta.dirname, "..");
const { values } = parseArgs({
  options: {
    only: { type: "string" },
    hub: { type: "string", default: "" },
    pacing: { type: "string", default: "" },
  },
});

const benches = [
  { name: "hub", entry: path.join(root, "bench/hub/run.ts"), args: values.hub },
  { name: "pacing", entry: path.join(root, "bench/pacing/run.ts"), args: values.pacing },
].filter((b) => !values.only || b.name === values.only);

if (benches.length === 0) {
  console.error(`--only must be "hub" or "pacing", got "${values.only}"`);
  process.exit(2);
}

let failed = 0;
for (const b of benches) {
  if (!existsSync(b.entry)) {
    console.log(`[bench] ${b.name}: ${path.relative(root, b.entry)} is not there; skipped`);
    continue;
  }
  console.log(`[bench] ${b.name}: node ${path.relative(root, b.entry)} ${b.args}`.trimEnd());
  const args = b.args.split(/\s+/).filter(Boolean);
  const res = spawnSync(process.execPath, [b.entry, ...args], { cwd: root, stdio: "inherit" });
  if (res.status !== 0) {
    failed++;
    console.error(`[bench] ${b.name} failed (${res.signal ?? `exit code ${res.status}`})`);
  }
}
process.exit(failed ? 1 : 0);
