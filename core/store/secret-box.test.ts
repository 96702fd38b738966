import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "@jest/globals";
import { isSealed, loadSecretKey, secretBox } from "./secret-box.ts";

test("sealed secrets open with the key, never show the plain text, and refuse another key or tampering", () => {
  const box = secretBox(Buffer.alloc(32, 1));
  const sealed = box.seal("whsec-very-secret");
  assert.ok(isSealed(sealed));
  assert.ok(!sealed.includes("very-secret"));
  assert.notEqual(box.seal("whsec-very-secret"), sealed, "a fresh IV each time");
  assert.equal(box.open(sealed), "whsec-very-secret");
  assert.equal(box.open("stored-before-sealing"), "stored-before-sealing", "older plain values still read");
  assert.throws(() => secretBox(Buffer.alloc(32, 2)).open(sealed), /cannot be opened with this key/);
  const tampered = sealed.slice(0, -2) + (sealed.endsWith("A") ? "BB" : "AA");
  assert.throws(() => box.open(tampered), /cannot be opened|malformed/);
  assert.throws(() => secretBox(Buffer.alloc(16)), /32 bytes/);
});

test("the key: DIALMESH_SECRET_KEY, else a key file made once, 0600 in a 0700 data dir", () => {
  const dir = path.join(mkdtempSync(path.join(tmpdir(), "dialmesh-key-")), "data");
  try {
    const first = loadSecretKey(dir, {});
    assert.equal(first.length, 32);
    assert.deepEqual([...loadSecretKey(dir, {})], [...first], "the same key on the next start");
    assert.equal(statSync(path.join(dir, "secret.key")).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    const fromEnv = loadSecretKey(dir, { DIALMESH_SECRET_KEY: "ab".repeat(32) });
    assert.deepEqual([...fromEnv], [...Buffer.alloc(32, 0xab)]);
  } finally {
    rmSync(path.dirname(dir), { recursive: true, force: true });
  }
});
