import { test } from "@jest/globals";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ConfigError, loadConfig } from "./load.ts";

function file(content: string): string {
  const f = path.join(mkdtempSync(path.join(tmpdir(), "dm-config-")), "hub.json");
  writeFileSync(f, content);
  return f;
}

test("defaults load and validate on their own", () => {
  const config = loadConfig({ env: {} });
  assert.equal(config.api.port, 8080);
  assert.equal(config.transporter, null);
  assert.equal(config.plugins[0]?.use, "email-smtp");
});

test("layers: the DIALMESH_CONFIG file, then the environment", () => {
  const f = file(
    JSON.stringify({
      api: { port: 9000, publicUrl: "https://hub.example.com" },
      fallbacks: { x: { steps: [{ channel: "sms" }] } },
    }),
  );
  const config = loadConfig({
    env: { DIALMESH_CONFIG: f, PORT: "9100", MONGO_URL: "mongodb://db:27017/dm", TRANSPORTER: "nats://n:4222" },
  });
  assert.equal(config.api.port, 9100);
  assert.equal(config.api.publicUrl, "https://hub.example.com");
  assert.equal(config.api.maxBatch, 10000, "objects merge key by key");
  assert.equal(config.store?.mongoUrl, "mongodb://db:27017/dm");
  assert.equal(config.transporter, "nats://n:4222");
  assert.deepEqual(Object.keys(config.fallbacks).sort(), ["default", "x"]);
});

test("an invalid file stops the start with the file, the JSON pointer and what was expected", () => {
  const f = file(
    JSON.stringify({
      api: { port: 70000, keys: [{ id: "ops", key: "short", roles: ["root"] }] },
      plugins: [{ use: "email-smtp" }],
    }),
  );
  assert.throws(
    () => loadConfig({ env: { DIALMESH_CONFIG: f } }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.source, f);
      const byPath = Object.fromEntries(err.details.map((d) => [d.path, d.message]));
      assert.match(byPath["/api/port"] ?? "", /<= 65535/);
      assert.match(byPath["/api/keys/0/key"] ?? "", /fewer than 16/);
      assert.match(byPath["/api/keys/0/roles/0"] ?? "", /one of "admin", "writer", "reader"/);
      assert.equal(byPath["/plugins/0/id"], "is required");
      assert.ok(err.message.includes(`${f}: /api/port`), err.message);
      return true;
    },
  );
});

test("malformed JSON names the file and the position; a bad PORT names the variable", () => {
  const f = file('{ "api": { "port": 80, } }');
  assert.throws(
    () => loadConfig({ env: { DIALMESH_CONFIG: f } }),
    (err: unknown) => err instanceof ConfigError && err.source === f && /not valid JSON/.test(err.message),
  );
  assert.throws(() => loadConfig({ env: { PORT: "eighty" } }), /environment: \/PORT must be a port number/);
  assert.throws(() => loadConfig({ env: { DIALMESH_CONFIG: "/nonexistent/x.json" } }), /cannot be read \(ENOENT\)/);
});

test("a fallback step with a malformed duration is refused", () => {
  const f = file(JSON.stringify({ fallbacks: { x: { steps: [{ channel: "sms", after: "10 minutes" }] } } }));
  assert.throws(() => loadConfig({ env: { DIALMESH_CONFIG: f } }), /\/fallbacks\/x\/steps\/0\/after/);
});

test("claimAheadMs beyond a quarter of the lease is refused, naming both fields", () => {
  const f = file(JSON.stringify({ scheduler: { leaseMs: 8000, claimAheadMs: 2001 } }));
  assert.throws(
    () => loadConfig({ env: { DIALMESH_CONFIG: f } }),
    /merged configuration: \/scheduler\/claimAheadMs must be at most a quarter of scheduler.leaseMs \(2000\), got 2001/,
  );
  const ok = file(JSON.stringify({ scheduler: { leaseMs: 8000, claimAheadMs: 2000 } }));
  assert.equal(loadConfig({ env: { DIALMESH_CONFIG: ok } }).scheduler.claimAheadMs, 2000);
});
