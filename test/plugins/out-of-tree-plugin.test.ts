/**
 * A plugin developed in its own folder, outside the hub, symlinked into plugins/: it imports
 * the SDK by name and loads under Node's own resolution (a child process, as a hub node runs).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { test } from "@jest/globals";

const ROOT = path.resolve(import.meta.dirname, "../..");
const run = promisify(execFile);

test("a plugin folder symlinked from outside the hub imports @dialmesh/sdk and sends", async () => {
  const outside = mkdtempSync(path.join(tmpdir(), "dialmesh-outside-"));
  const pluginsDir = mkdtempSync(path.join(tmpdir(), "dialmesh-plugins-"));
  try {
    const dir = path.join(outside, "acme-sms");
    mkdirSync(dir);
    writeFileSync(
      path.join(dir, "plugin.json"),
      JSON.stringify({
        name: "acme-sms",
        version: "1.0.0",
        channels: ["sms"],
        entry: "./acme-sms.provider.ts",
        capabilities: {},
        optionsSchema: { type: "object", properties: { prefix: { type: "string" } }, additionalProperties: false },
      }),
    );
    writeFileSync(
      path.join(dir, "acme-sms.provider.ts"),
      [
        'import { definePlugin, normalizePhone, PluginError } from "@dialmesh/sdk";',
        "export default definePlugin<{ prefix?: string }>((ctx) => ({",
        "  async send(req) {",
        '    const to = normalizePhone(req.customer.phone ?? "");',
        '    if (!to) throw new PluginError("ACME_BAD_NUMBER", "no number");',
        '    return { status: "SENT", vendorId: `${ctx.options.prefix ?? "acme"}-${to}` };',
        "  },",
        "  async health() { return { ok: true }; },",
        "}));",
        "",
      ].join("\n"),
    );
    symlinkSync(dir, path.join(pluginsDir, "acme-sms"));
    const { stdout } = await run(
      process.execPath,
      [path.join(ROOT, "test/support/load-plugin.ts"), pluginsDir, "acme-sms", JSON.stringify({ prefix: "x" })],
      { cwd: ROOT },
    );
    const result = JSON.parse(stdout.trim()) as { state: string; error?: string; outcome?: unknown };
    assert.equal(result.state, "ready", result.error);
    assert.deepEqual(result.outcome, { ok: true, result: { status: "SENT", vendorId: "x-+14155550123" } });
  } finally {
    rmSync(outside, { recursive: true, force: true });
    rmSync(pluginsDir, { recursive: true, force: true });
  }
});
