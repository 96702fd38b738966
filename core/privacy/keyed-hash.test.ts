import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "@jest/globals";
import { isHashed, keyedHasher } from "./keyed-hash.ts";

test("the keyed hash is stable per key, differs across keys and is not the plain SHA-256", () => {
  const a = keyedHasher(Buffer.alloc(32, 1));
  const b = keyedHasher(Buffer.alloc(32, 2));
  assert.equal(a("+33612345678"), a("+33612345678"));
  assert.notEqual(a("+33612345678"), a("+33612345679"));
  assert.notEqual(a("+33612345678"), b("+33612345678"));
  const plain = createHash("sha256").update("+33612345678").digest("base64url");
  assert.ok(!a("+33612345678").includes(plain));
  assert.ok(isHashed(a("x")));
  assert.ok(!isHashed("+33612345678"));
  assert.throws(() => keyedHasher(Buffer.alloc(16)), /at least 32 bytes/);
});
