/**
 * A hub node as a real child process: `node core/main.ts` (the `npm start` path) with its own
 * config file in a temp dir, MONGO_URL, TRANSPORTER, PORT=0 and DIALMESH_NODE_ID in its
 * environment. For multi-node and crash tests, where a node must be killed with SIGKILL.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { mergeConfig } from "../../core/config/load.ts";
import { TEST_KEYS } from "./hub.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const MAIN = path.join(ROOT, "core/main.ts");
/** One key for every test node (real meshes set DIALMESH_SECRET_KEY the same on each node). */
const MESH_SECRET_KEY = Buffer.alloc(32, 7).toString("base64");

export interface NodeProcessOptions {
  nodeId: string;
  mongoUrl: string;
  /** nats://... ; omitted: the in-process transport. */
  transporter?: string;
  /** Port of the test SMTP server the `mail` plugin sends to. */
  smtpPort: number;
  /** Extra config merged over the defaults below (e.g. `{ scheduler: { leaseMs: 5000 } }`). */
  config?: Record<string, unknown>;
  /** How long to wait for the "API:" line. Default 60 s. */
  readyTimeoutMs?: number;
}

export interface HubNodeProcess {
  readonly nodeId: string;
  readonly apiUrl: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Everything the node printed so far (stdout and stderr interleaved). */
  output(): string;
  /** The last `lines` lines of output, for failure messages. */
  tail(lines?: number): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** SIGTERM (graceful stop), SIGKILL after `graceMs`; removes the temp dir. */
  stop(graceMs?: number): Promise<void>;
  api(method: string, url: string, body?: unknown): Promise<{ status: number; body: unknown; text: string }>;
}

/** The config file a test node runs with: the email plugin on the test SMTP server, a short lease and poll. */
export function nodeConfig(
  opts: Pick<NodeProcessOptions, "smtpPort" | "config">,
  dataDir: string,
): Record<string, unknown> {
  const base = {
    api: {
      host: "127.0.0.1",
      publicUrl: "http://hub.test",
      keys: [{ id: "admin", key: TEST_KEYS.admin, roles: ["admin"] }],
    },
    dataDir,
    logLevel: "warn",
    // Lease: a claim round on FerretDB (SQLite) under three busy nodes takes 2-4 s (candidate
    // queries and $in reads decode the whole collection); a lease shorter than a round expires
    // before its first attempt starts, and the nodes keep taking the work from each other.
    scheduler: { pollIntervalMs: 250, leaseMs: 8000, retryBaseMs: 200 },
    plugins: [
      {
        id: "mail",
        use: "email-smtp",
        options: { host: "127.0.0.1", port: opts.smtpPort, secure: false, from: "Campaigns <noreply@example.com>" },
      },
    ],
    webhooks: { allowPrivateNetworks: true, pollIntervalMs: 200 },
  };
  return opts.config ? mergeConfig(base, opts.config) : base;
}

export async function startNodeProcess(opts: NodeProcessOptions): Promise<HubNodeProcess> {
  const dir = mkdtempSync(path.join(tmpdir(), `dialmesh-node-${opts.nodeId}-`));
  const configFile = path.join(dir, "hub.json");
  writeFileSync(configFile, JSON.stringify(nodeConfig(opts, path.join(dir, "data")), null, 2));

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DIALMESH_CONFIG: configFile,
    MONGO_URL: opts.mongoUrl,
    TRANSPORTER: opts.transporter ?? "",
    PORT: "0",
    DIALMESH_NODE_ID: opts.nodeId,
    // Every node of a mesh seals and opens secrets with the same key.
    DIALMESH_SECRET_KEY: process.env.DIALMESH_SECRET_KEY ?? MESH_SECRET_KEY,
  };
  const child = spawn(process.execPath, [MAIN], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => (out += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (out += s));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const tail = (lines = 40) => out.split("\n").slice(-lines).join("\n");

  const readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;
  let apiUrl: string;
  try {
    apiUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "API:" line within ${readyTimeoutMs} ms`)), readyTimeoutMs);
      const check = () => {
        const m = /^\s*API:\s+(http:\/\/\S+)/m.exec(out);
        if (m) {
          clearTimeout(timer);
          child.stdout.off("data", check);
          resolve(m[1]!);
        }
      };
      child.stdout.on("data", check);
      void exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`exited (code ${code}, signal ${signal}) before it was ready`));
      });
    });
  } catch (err) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`hub node ${opts.nodeId}: ${(err as Error).message}\n--- output ---\n${tail()}`, { cause: err });
  }

  const kill = async (signal: NodeJS.Signals = "SIGKILL") => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };

  return {
    nodeId: opts.nodeId,
    apiUrl,
    pid: child.pid!,
    child,
    exited,
    output: () => out,
    tail,
    kill,
    async stop(graceMs = 10_000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
    async api(method, url, body) {
      const res = await fetch(apiUrl + url, {
        method,
        headers: {
          Authorization: `Bearer ${TEST_KEYS.admin}`,
          ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* not JSON */
      }
      return { status: res.status, body: parsed, text };
    },
  };
}
