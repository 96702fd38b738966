/**
 * The keyed hash that stands in for personal data erasure must not keep in clear: the addresses
 * of suppression entries, the customer id of a kept objection. HMAC-SHA256 under a key derived
 * with HKDF from the hub's secret key (secret-box.ts), never a plain hash: phone numbers are few
 * enough to be found from a plain hash by trying them all. Every node has the same secret key, so
 * every node computes the same hash.
 */
import { createHmac, hkdfSync } from "node:crypto";

/** Marks a hashed value (addresses are `+…` or contain `@`; customer ids are the caller's). */
export const HASH_PREFIX = "h1:";

export type KeyedHash = (value: string) => string;

export function keyedHasher(secretKey: Buffer): KeyedHash {
  if (secretKey.length < 32) throw new Error(`the secret key must be at least 32 bytes (it has ${secretKey.length})`);
  const key = Buffer.from(hkdfSync("sha256", secretKey, Buffer.alloc(0), "dialmesh/privacy/keyed-hash/v1", 32));
  return (value) => HASH_PREFIX + createHmac("sha256", key).update(value, "utf8").digest("base64url");
}

export const isHashed = (value: string): boolean => value.startsWith(HASH_PREFIX);
