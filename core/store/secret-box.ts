/**
 * Secrets at rest: webhook signing secrets and the secret options of plugins added by API are
 * stored sealed with AES-256-GCM (`enc:v1:<iv>:<tag>:<ciphertext>`, base64url), so the database
 * and its files never hold them in clear. The key comes from DIALMESH_SECRET_KEY (32 bytes,
 * base64 or hex) or, failing that, a key file generated once in the data dir, readable by the
 * hub's user only. Every node of a mesh needs the same key.
 *
 * Values stored before sealing existed (no prefix) are read as they are; `npm start` seals them
 * the next time they are written. Rotation: see docs/reliability.md.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

const PREFIX = "enc:v1:";

export interface SecretBox {
  seal(plain: string): string;
  open(stored: string): string;
}

export function isSealed(value: string): boolean {
  return value.startsWith(PREFIX);
}

export function secretBox(key: Buffer): SecretBox {
  if (key.length !== 32) throw new Error(`the secret key must be 32 bytes (it has ${key.length})`);
  return {
    seal(plain) {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, iv);
      const data = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
      const parts = [iv, cipher.getAuthTag(), data].map((b) => b.toString("base64url"));
      return PREFIX + parts.join(":");
    },
    open(stored) {
      if (!isSealed(stored)) return stored;
      const [iv, tag, data] = stored
        .slice(PREFIX.length)
        .split(":")
        .map((p) => Buffer.from(p, "base64url"));
      if (!iv || !tag || !data) throw new Error("a sealed secret is malformed");
      const decipher = createDecipheriv("aes-256-gcm", key, iv);
      decipher.setAuthTag(tag);
      try {
        return Buffer.concat([decipher.update(data), decipher.final()]).toString("utf8");
      } catch {
        throw new Error(
          "a stored secret cannot be opened with this key (DIALMESH_SECRET_KEY or the data dir's secret.key)",
        );
      }
    },
  };
}

function decodeKey(text: string): Buffer {
  const t = text.trim();
  return /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, "hex") : Buffer.from(t, "base64");
}

/** The hub's key: DIALMESH_SECRET_KEY, else `<dataDir>/secret.key` (created 0600 in a 0700 dir). */
export function loadSecretKey(dataDir: string, env: NodeJS.ProcessEnv = process.env): Buffer {
  if (env.DIALMESH_SECRET_KEY) return decodeKey(env.DIALMESH_SECRET_KEY);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
  const file = path.join(dataDir, "secret.key");
  if (!existsSync(file)) writeFileSync(file, `${randomBytes(32).toString("base64")}\n`, { mode: 0o600, flag: "wx" });
  return decodeKey(readFileSync(file, "utf8"));
}
