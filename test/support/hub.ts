/** A real hub node for tests: its own database on the suite's FerretDB, ephemeral API port. */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadConfig, mergeConfig } from "../../core/config/load.ts";
import type { HubConfig } from "../../core/config/types.ts";
import { startHub, type Hub } from "../../core/hub.ts";
import { freshDatabaseUrl } from "./mongo.ts";

export const TEST_KEYS = {
  admin: "test-admin-key-0123456789",
  writer: "test-writer-key-0123456789",
  reader: "test-reader-key-0123456789",
};

export interface TestHub extends Hub {
  /** The node's data dir (keys, journal, import spool). */
  dataDir: string;
  api(
    method: string,
    url: string,
    body?: unknown,
    key?: string,
  ): Promise<{ status: number; body: unknown; text: string }>;
}

export async function startTestHub(
  overrides: Record<string, unknown>,
  opts: { mongoUrl?: string; nodeId?: string; pluginsDir?: string } = {},
): Promise<TestHub> {
  const base = {
    api: {
      port: 0,
      publicUrl: "http://hub.test",
      keys: [
        { id: "admin", key: TEST_KEYS.admin, roles: ["admin"] },
        { id: "writer", key: TEST_KEYS.writer, roles: ["writer"] },
        { id: "reader", key: TEST_KEYS.reader, roles: ["reader"] },
      ],
    },
    dataDir: mkdtempSync(path.join(tmpdir(), "dialmesh-hub-")),
    logLevel: "warn",
    scheduler: { pollIntervalMs: 50, retryBaseMs: 100 },
    webhooks: { allowPrivateNetworks: true, pollIntervalMs: 50 },
  };
  const config: HubConfig = loadConfig({ env: {}, overrides: mergeConfig(base, overrides) });
  const hub = await startHub(config, {
    mongoUrl: opts.mongoUrl ?? freshDatabaseUrl("hub"),
    keys: config.api.keys!,
    ...(opts.nodeId ? { nodeId: opts.nodeId } : {}),
    ...(opts.pluginsDir ? { pluginsDir: opts.pluginsDir } : {}),
  });
  return {
    ...hub,
    dataDir: config.dataDir,
    async api(method, url, body, key = TEST_KEYS.admin) {
      const res = await fetch(hub.apiUrl + url, {
        method,
        headers: {
          Authorization: `Bearer ${key}`,
          ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
        },
        ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
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

/** Polls until `check` returns a value, or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined | false>,
  timeoutMs = 10_000,
  what = "condition",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}
