/**
 * Schemathesis (PyPI), installed once into the project's cache as the toolchain script does for
 * Node: a venv at `$DIALMESH_CACHE/schemathesis-<version>`. Needs python3 with venv.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";

export const SCHEMATHESIS_VERSION = "4.32.5";

export function schemathesisBinary(): string {
  const cache = process.env.DIALMESH_CACHE ?? path.join(homedir(), ".cache", "dialmesh");
  const venv = path.join(cache, `schemathesis-${SCHEMATHESIS_VERSION}`);
  const st = path.join(venv, "bin", "st");
  if (existsSync(st)) return st;
  try {
    execFileSync("python3", ["-m", "venv", venv], { stdio: "pipe" });
    execFileSync(
      path.join(venv, "bin", "pip"),
      ["install", "--quiet", "--disable-pip-version-check", `schemathesis==${SCHEMATHESIS_VERSION}`],
      {
        stdio: "pipe",
        timeout: 300_000,
      },
    );
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(
      `cannot install schemathesis ${SCHEMATHESIS_VERSION} into ${venv} (needs python3 with venv and PyPI): ` +
        `${e.stderr?.toString().trim() || e.message}`,
      { cause: err },
    );
  }
  return st;
}
