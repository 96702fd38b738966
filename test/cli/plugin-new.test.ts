/**
 * `dialmesh plugin new`: the generated folder passes the contract kit as generated (its own
 * test, run in a child jest), loads through the hub when symlinked in from outside, and bad
 * requests are refused with exit code 2 and a reason.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, test } from "@jest/globals";
import { pluginCommand } from "../../core/scaffold/plugin-new.ts";
import { runTestFile } from "../support/run-test-file.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const run = promisify(execFile);

function io() {
  const out = { stdout: "", stderr: "" };
  return {
    out,
    io: { stdout: (t: string) => (out.stdout += t), stderr: (t: string) => (out.stderr += t), cwd: tmpdir() },
  };
}

describe("dialmesh plugin new", () => {
  const parent = mkdtempSync(path.join(tmpdir(), "dialmesh-scaffold-"));
  afterAll(() => rmSync(parent, { recursive: true, force: true }));

  for (const channel of ["sms", "email"]) {
    test(`a ${channel} plugin passes the contract kit as generated`, async () => {
      const kind = `acme-${channel}`;
      const { io: cli, out } = io();
      assert.equal(await pluginCommand(["new", kind, "--channel", channel, "--dir", parent], cli), 0, out.stderr);
      const dir = path.join(parent, kind);
      assert.deepEqual([...readdirSync(dir)].sort(), [
        "README.md",
        `${kind}.mapping.test.ts`,
        `${kind}.mapping.ts`,
        `${kind}.provider.test.ts`,
        `${kind}.provider.ts`,
        `${kind}.vendor-server.ts`,
        "plugin.json",
      ]);
      const contract = await runTestFile(path.join(dir, `${kind}.provider.test.ts`));
      assert.equal(contract.code, 0, contract.output);
      assert.deepEqual(contract.failed, []);
      assert.ok(contract.passed.length >= 11, `the contract ran: ${JSON.stringify(contract.passed)}`);
      assert.ok(
        contract.passed.some((t) => t.startsWith("webhooks:")),
        "including the signed webhooks",
      );
      const mapping = await runTestFile(path.join(dir, `${kind}.mapping.test.ts`));
      assert.equal(mapping.code, 0, mapping.output);
      assert.equal(mapping.passed.length, 2);
    });
  }

  test("generated outside the hub and symlinked into plugins/, it loads and sends through the hub", async () => {
    const kind = "acme-linked";
    const { io: cli } = io();
    assert.equal(await pluginCommand(["new", kind, "--channel", "sms", "--dir", parent], cli), 0);
    const dir = path.join(parent, kind);
    const vendorModule = (await import(path.join(dir, `${kind}.vendor-server.ts`))) as {
      AcmeLinkedVendorServer: new () => {
        start(): Promise<{ baseUrl: string; apiKey: string; messages: unknown[]; stop(): Promise<void> }>;
      };
    };
    const vendor = await new vendorModule.AcmeLinkedVendorServer().start();
    const pluginsDir = mkdtempSync(path.join(tmpdir(), "dialmesh-plugins-"));
    try {
      symlinkSync(dir, path.join(pluginsDir, kind));
      const options = { baseUrl: vendor.baseUrl, apiKey: vendor.apiKey, from: "Acme" };
      const { stdout } = await run(
        process.execPath,
        [path.join(ROOT, "test/support/load-plugin.ts"), pluginsDir, kind, JSON.stringify(options)],
        { cwd: ROOT },
      );
      const result = JSON.parse(stdout.trim()) as { state: string; error?: string; outcome?: { ok: boolean } };
      assert.equal(result.state, "ready", result.error);
      assert.equal(result.outcome?.ok, true, stdout);
      assert.equal(vendor.messages.length, 1);
    } finally {
      await vendor.stop();
      rmSync(pluginsDir, { recursive: true, force: true });
    }
  });

  test("refuses an existing folder, a bad kind, an unknown or missing channel, with exit code 2", async () => {
    const cases: [string[], RegExp][] = [
      [["new", "acme-sms", "--channel", "sms", "--dir", parent], /already exists/],
      [["new", "Acme_SMS", "--channel", "sms", "--dir", parent], /must match/],
      [["new", "acme-fax", "--channel", "fax", "--dir", parent], /unknown channel "fax"/],
      [["new", "acme-none", "--dir", parent], /--channel is required/],
      [["old", "x"], /unknown subcommand "old"/],
    ];
    for (const [argv, message] of cases) {
      const { io: cli, out } = io();
      assert.equal(await pluginCommand(argv, cli), 2, argv.join(" "));
      assert.match(out.stderr, message);
    }
  });
});
