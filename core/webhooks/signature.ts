/**
 * Webhook signatures.
 *
 * Every delivery carries `X-Dialmesh-Signature: sha256=<hex>`, the HMAC-SHA256 of the raw
 * request body (the exact bytes received, before any JSON parsing) keyed with the
 * subscription secret. Subscribers check it with {@link verifySignature}, or with the
 * equivalent few lines shown in docs/webhooks.md.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export const SIGNATURE_HEADER = "X-Dialmesh-Signature";
export const EVENT_HEADER = "X-Dialmesh-Event";
export const DELIVERY_HEADER = "X-Dialmesh-Delivery";
export const ATTEMPT_HEADER = "X-Dialmesh-Attempt";

const PREFIX = "sha256=";

/** `sha256=<hex HMAC-SHA256 of rawBody keyed with secret>`. */
export function signPayload(secret: string, rawBody: string | Uint8Array): string {
  return PREFIX + createHmac("sha256", secret).update(rawBody).digest("hex");
}

/**
 * Check a received `X-Dialmesh-Signature` header against the raw body, in constant time.
 *
 * @param secret    the secret given when the subscription was created
 * @param rawBody   the request body exactly as received (a Buffer or the undecoded string);
 *                  re-serialising parsed JSON changes the bytes and fails the check
 * @param signature the header value (Node gives `string | string[] | undefined`)
 * @returns true only when the header is present, well formed and matches
 *
 * ```ts
 * import { verifySignature } from "dialmesh/core/webhooks/signature.ts";
 * http.createServer((req, res) => {
 *   const chunks: Buffer[] = [];
 *   req.on("data", (c) => chunks.push(c)).on("end", () => {
 *     const raw = Buffer.concat(chunks);
 *     if (!verifySignature(process.env.WEBHOOK_SECRET!, raw, req.headers["x-dialmesh-signature"])) {
 *       res.writeHead(401).end();
 *       return;
 *     }
 *     const event = JSON.parse(raw.toString("utf8"));
 *     // ... dedupe on event.id, handle, then answer 2xx quickly
 *     res.writeHead(204).end();
 *   });
 * });
 * ```
 */
export function verifySignature(
  secret: string,
  rawBody: string | Uint8Array,
  signature: string | readonly string[] | undefined | null,
): boolean {
  const header = typeof signature === "string" ? signature : signature?.length === 1 ? signature[0] : undefined;
  if (typeof header !== "string" || !header.startsWith(PREFIX)) return false;
  const hex = header.slice(PREFIX.length).trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) return false;
  const expected = createHmac("sha256", secret).update(rawBody).digest();
  const received = Buffer.from(hex, "hex");
  return received.length === expected.length && timingSafeEqual(received, expected);
}
