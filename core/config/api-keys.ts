/** The API keys in force: the configuration's, or one admin key generated once into the data dir. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import path from "node:path";
import type { ApiKeyConfig, HubConfig } from "./types.ts";

export function apiKeys(config: HubConfig, dataDir: string): { keys: ApiKeyConfig[]; generated?: string } {
  if (config.api.keys?.length) return { keys: config.api.keys };
  mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, "admin-key");
  let key: string;
  if (existsSync(file)) key = readFileSync(file, "utf8").trim();
  else {
    key = `dm_${randomBytes(24).toString("base64url")}`;
    writeFileSync(file, `${key}\n`, { mode: 0o600 });
  }
  return { keys: [{ id: "admin", key, roles: ["admin"] }], generated: key };
}
