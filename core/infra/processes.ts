/** Local services the project starts itself (FerretDB, nats-server, redis-server): build, find, spawn, stop. */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { homedir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const FERRETDB_VERSION = "v1.24.2";
/** Bumped when scripts/ferretdb-patches changes, so that a cached binary is rebuilt. */
export const FERRETDB_PATCH_LEVEL = "dm8";

export function cacheDir(): string {
  return (
    process.env.DIALMESH_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), ".cache"), "dialmesh")
  );
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode} before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect(port, "127.0.0.1");
      sock.once("connect", () => (sock.destroy(), resolve(true)));
      sock.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
}

export interface RunningService {
  url: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 5000).unref();
    });
}

/** The FerretDB binary (with scripts/ferretdb-patches), built once through the Go module proxy and cached. */
export function ferretDbBinary(): string {
  const bin = path.join(cacheDir(), `ferretdb-${FERRETDB_VERSION}-${FERRETDB_PATCH_LEVEL}`, "ferretdb");
  if (!existsSync(bin)) {
    execFileSync("bash", [path.join(ROOT, "scripts/build-ferretdb.sh"), bin], {
      stdio: ["ignore", "inherit", "inherit"],
    });
  }
  return bin;
}

/**
 * Runs `bin` so that it dies with this process, whatever kills it (SIGKILL included): Linux's
 * parent-death signal, set by util-linux's setpriv where it is installed. Without it a hub killed
 * hard would leave its embedded database running, and the next start would open a second one on
 * the same files.
 */
function dyingWithParent(bin: string, args: string[]): [string, string[]] {
  const setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].find((p) => existsSync(p));
  return setpriv ? [setpriv, ["--pdeathsig", "KILL", "--", bin, ...args]] : [bin, args];
}

/** Whether a process with this pid exists (signal 0 probes without signalling). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * One FerretDB per data dir: `ferretdb.pid` names the one running on it. A FerretDB left by a
 * process that died without ending it (no setpriv, or a crash of the supervisor itself) is
 * stopped before a new one opens the same files.
 */
async function claimDataDir(dataDir: string): Promise<string> {
  const pidFile = path.join(dataDir, "ferretdb.pid");
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    const cmdline = (() => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8");
      } catch {
        return "";
      }
    })();
    if (pid > 0 && isAlive(pid) && cmdline.includes("ferretdb") && cmdline.includes(dataDir)) {
      process.stderr.write(`[ferretdb] stopping the FerretDB (pid ${pid}) a previous run left on ${dataDir}\n`);
      process.kill(pid, "SIGTERM");
      for (let i = 0; i < 50 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
      if (isAlive(pid)) process.kill(pid, "SIGKILL");
    }
    rmSync(pidFile, { force: true });
  }
  return pidFile;
}

function sqliteQuery(pragmas: string[]): string {
  return pragmas.length ? `?${pragmas.map((p) => `_pragma=${encodeURIComponent(p)}`).join("&")}` : "";
}

/** Starts FerretDB with its SQLite backend, data in `dataDir`. */
export async function startFerretDb(opts: {
  dataDir: string;
  port?: number;
  logFile?: string;
  /**
   * SQLite's `synchronous` in WAL mode. "normal" (the default): a commit is in the WAL when it
   * returns, fsynced at checkpoints; it survives a crash of FerretDB or of the hub (SIGKILL), and
   * only an OS crash or power loss can take back the last commits. Single-document updates,
   * the hub's hot path, run about twice as fast as with "full" (an fsync per commit).
   */
  synchronous?: "normal" | "full";
  /** Where FerretDB serves /debug/metrics and Go's /debug/pprof (default: none, or DIALMESH_FERRETDB_DEBUG_ADDR). */
  debugAddr?: string;
}): Promise<RunningService> {
  const bin = ferretDbBinary();
  const port = opts.port ?? (await freePort());
  const dataDir = path.resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const pidFile = await claimDataDir(dataDir);
  const log = openSync(opts.logFile ?? path.join(dataDir, "ferretdb.log"), "a");
  const [command, args] = dyingWithParent(bin, [
    "--handler=sqlite",
    // analysis_limit: ANALYZE (run by collStats, see refreshPlannerStatistics) samples 1,000 rows
    // per index instead of reading every index whole: milliseconds, not seconds, at 1,000,000 rows.
    `--sqlite-url=file:${dataDir}/${sqliteQuery([`synchronous(${opts.synchronous ?? "normal"})`, "analysis_limit(1000)"])}`,
    `--listen-addr=127.0.0.1:${port}`,
    "--telemetry=disable",
    `--state-dir=${dataDir}`,
    // Profiling: DIALMESH_FERRETDB_DEBUG_ADDR=127.0.0.1:8088 serves Go's /debug/pprof there.
    `--debug-addr=${opts.debugAddr ?? process.env.DIALMESH_FERRETDB_DEBUG_ADDR ?? "-"}`,
    "--log-level=error",
    // Keep dotted fields in what find and aggregate push down: 04-sqlite-field-pushdown.patch
    // answers them from an index on the field (stock FerretDB drops them, then decodes every row).
    "--test-enable-nested-pushdown",
  ]);
  const child = spawn(command, args, { stdio: ["ignore", log, log] });
  if (child.pid) writeFileSync(pidFile, `${child.pid}\n`);
  child.once("exit", () => {
    if (existsSync(pidFile) && readFileSync(pidFile, "utf8").trim() === String(child.pid))
      rmSync(pidFile, { force: true });
  });
  await waitForPort(port, child, "FerretDB");
  return { url: `mongodb://127.0.0.1:${port}`, port, process: child, stop: stopper(child) };
}

/** `command` from PATH, installed with apt-get from Debian's package `debianPackage` when missing. */
function debianBinary(command: string, debianPackage: string): string {
  const find = () => {
    try {
      return execFileSync("sh", ["-c", `command -v ${command}`], { encoding: "utf8" }).trim();
    } catch {
      return "";
    }
  };
  let bin = find();
  if (!bin) {
    process.stderr.write(`[${command}] ${command} missing; installing ${debianPackage} with apt-get\n`);
    execFileSync(
      "sh",
      ["-c", `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${debianPackage}`],
      {
        stdio: ["ignore", "inherit", "inherit"],
      },
    );
    bin = find();
  }
  if (!bin) throw new Error(`${command} is not installed and apt-get could not install ${debianPackage}`);
  return bin;
}

/** The nats-server binary, installed from Debian's packages when missing. */
export function natsServerBinary(): string {
  return debianBinary("nats-server", "nats-server");
}

export async function startNats(opts: { port?: number } = {}): Promise<RunningService> {
  const port = opts.port ?? (await freePort());
  const child = spawn(natsServerBinary(), ["-a", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
  await waitForPort(port, child, "nats-server");
  return { url: `nats://127.0.0.1:${port}`, port, process: child, stop: stopper(child) };
}

/** The redis-server binary (only the benchmark's BullMQ baseline uses it), from Debian's packages when missing. */
export function redisServerBinary(): string {
  return debianBinary("redis-server", "redis-server");
}

/**
 * Starts redis-server on 127.0.0.1 with its data in `dataDir`, persisted the way BullMQ's users
 * usually run it: append-only file fsynced every second (a crash loses up to a second of
 * writes), no RDB snapshots.
 */
export async function startRedis(opts: { dataDir: string; port?: number; logFile?: string }): Promise<RunningService> {
  const port = opts.port ?? (await freePort());
  const dataDir = path.resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const log = openSync(opts.logFile ?? path.join(dataDir, "redis.log"), "a");
  const [command, args] = dyingWithParent(redisServerBinary(), [
    "--bind",
    "127.0.0.1",
    "--port",
    String(port),
    "--dir",
    dataDir,
    "--appendonly",
    "yes",
    "--appendfsync",
    "everysec",
    "--save",
    "",
  ]);
  const child = spawn(command, args, { stdio: ["ignore", log, log] });
  await waitForPort(port, child, "redis-server");
  return { url: `redis://127.0.0.1:${port}`, port, process: child, stop: stopper(child) };
}
