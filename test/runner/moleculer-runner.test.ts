/**
 * A hub node started by moleculer-runner with moleculer.config.ts and the services folder,
 * the way the README says: it answers the API, loads its plugins and sends an email.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, test } from "@jest/globals";
import { freePort } from "../../core/infra/processes.ts";
import { startSmtpServer, type LocalSmtpServer } from "../vendors/smtp-server.ts";
import { eventually, TEST_KEYS } from "../support/hub.ts";
import { freshDatabaseUrl } from "../support/mongo.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const RUNNER = path.join(ROOT, "node_modules/moleculer/bin/moleculer-runner.mjs");

describe("moleculer-runner with moleculer.config.ts and core/services", () => {
  let smtp: LocalSmtpServer;
  let child: ChildProcess;
  let dir: string;
  let api: string;
  let output = "";

  beforeAll(async () => {
    smtp = await startSmtpServer();
    dir = mkdtempSync(path.join(tmpdir(), "dialmesh-runner-"));
    const port = await freePort();
    const configFile = path.join(dir, "hub.json");
    writeFileSync(
      configFile,
      JSON.stringify({
        api: { port, keys: [{ id: "admin", key: TEST_KEYS.admin, roles: ["admin"] }] },
        dataDir: path.join(dir, "data"),
        logLevel: "warn",
        scheduler: { pollIntervalMs: 50 },
        plugins: [
          {
            id: "mail",
            use: "email-smtp",
            options: { host: "127.0.0.1", port: smtp.port, from: "noreply@example.com" },
          },
        ],
      }),
    );
    child = spawn(
      process.execPath,
      [RUNNER, "--config", "moleculer.config.ts", "--mask", "**/*.service.ts", "core/services"],
      {
        cwd: ROOT,
        env: { ...process.env, DIALMESH_CONFIG: configFile, MONGO_URL: freshDatabaseUrl("runner") },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    child.stdout!.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr!.on("data", (c: Buffer) => (output += c.toString()));
    api = `http://127.0.0.1:${port}`;
    await eventually(
      async () => (await fetch(`${api}/health`).catch(() => undefined))?.ok,
      60_000,
      "the runner's API to answer",
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${output}`);
    });
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
    await smtp?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("the node runs every service: an email is scheduled, dispatched and received", async () => {
    const call = async (method: string, url: string, body?: unknown) => {
      const res = await fetch(api + url, {
        method,
        headers: { Authorization: `Bearer ${TEST_KEYS.admin}`, "Content-Type": "application/json" },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      // Parsed in this realm (jest runs tests in a vm context; fetch answers from the outer one).
      return { status: res.status, body: JSON.parse(await res.text()) as Record<string, unknown> };
    };
    const plugins = await call("GET", "/api/v1/plugins");
    assert.equal(plugins.status, 200);
    assert.deepEqual(
      (plugins.body.instances as { id: string; state: string }[]).map((i) => [i.id, i.state]),
      [["mail", "ready"]],
    );
    const res = await call("POST", "/api/v1/activities", {
      customer: { id: "r-1", email: "runner@example.com" },
      channel: "email",
      content: { subject: "From the runner", text: "hello" },
    });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const id = res.body.id as string;
    await eventually(async () => (await call("GET", `/api/v1/activities/${id}`)).body.status === "SENT", 20_000);
    assert.ok(smtp.messages.some((m) => m.envelope.rcptTo.includes("runner@example.com")));
  });
});

test("npm start and the runner start the same services: every core/services/*.service.ts is in HUB_SERVICES", async () => {
  const { readdirSync } = await import("node:fs");
  const { HUB_SERVICES } = await import("../../core/services/index.ts");
  const files = Array.from(readdirSync(path.join(ROOT, "core/services"))).filter((f) => f.endsWith(".service.ts"));
  const loaded = await Promise.all(
    files.map(async (f) => ((await import(path.join(ROOT, "core/services", f))) as { default: unknown }).default),
  );
  assert.equal(files.length, HUB_SERVICES.length);
  for (const [i, service] of loaded.entries())
    assert.ok((HUB_SERVICES as readonly unknown[]).includes(service), `${files[i]} is not in HUB_SERVICES`);
});
