import { test } from "@jest/globals";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { signPayload, verifySignature } from "./signature.ts";

const secret = "s3cret-s3cret-s3cret";
const body = '{"id":"e1","event":"activity.status","occurredAt":"2026-01-01T00:00:00.000Z","data":{"a":"é"}}';

test("the signature is sha256=<hex HMAC-SHA256 of the raw body>", () => {
  const expected = createHmac("sha256", secret).update(body).digest("hex");
  assert.equal(signPayload(secret, body), `sha256=${expected}`);
  assert.equal(signPayload(secret, Buffer.from(body)), `sha256=${expected}`);
});

test("verifySignature accepts the right signature on the raw bytes only", () => {
  const sig = signPayload(secret, body);
  assert.equal(verifySignature(secret, Buffer.from(body, "utf8"), sig), true);
  assert.equal(verifySignature(secret, body, sig.toUpperCase().replace("SHA256=", "sha256=")), true);
  assert.equal(verifySignature(secret, body, [sig]), true);
  // Re-serialised JSON is other bytes.
  assert.equal(verifySignature(secret, JSON.stringify(JSON.parse(body), null, 1), sig), false);
  assert.equal(verifySignature("another-secret-value", body, sig), false);
  assert.equal(verifySignature(secret, body + " ", sig), false);
});

test("verifySignature rejects missing and malformed headers", () => {
  const sig = signPayload(secret, body);
  for (const bad of [
    undefined,
    null,
    "",
    sig.slice(7),
    `sha1=${sig.slice(7)}`,
    `${sig}00`,
    sig.slice(0, -2),
    "sha256=zz",
    [sig, sig],
    [],
  ]) {
    assert.equal(verifySignature(secret, body, bad), false, JSON.stringify(bad));
  }
});
