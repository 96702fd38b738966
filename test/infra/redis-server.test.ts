/**
 * startRedis (core/infra/processes.ts), the store of the hub benchmark's BullMQ baseline: the
 * persistence docs/benchmarks.md states (AOF fsynced every second, no RDB snapshots) is the one
 * the running server reports, its AOF is in the given data dir, and stop() ends it.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, test } from "@jest/globals";
import { startRedis, type RunningService } from "../../core/infra/processes.ts";

/** One command in RESP; the reply's bulk strings and simple strings, in order, once it is complete. */
function redisCommand(port: number, ...args: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, "127.0.0.1");
    let buf = "";
    sock.on("error", reject);
    sock.on("data", (chunk: Buffer) => {
      buf += chunk.toString("utf8");
      try {
        const parsed = parseReply(buf);
        if (parsed) {
          sock.destroy();
          resolve(parsed);
        }
      } catch (err) {
        sock.destroy();
        reject(err as Error);
      }
    });
    sock.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`);
  });
}

/** A complete reply (a simple string, a bulk string or an array of them), or undefined if more is to come. */
function parseReply(text: string): string[] | undefined {
  const lines = text.split("\r\n");
  if (lines.length < 2) return undefined;
  const header = lines[0]!;
  if (header.startsWith("-")) throw new Error(`redis error: ${header.slice(1)}`);
  if (header.startsWith("+")) return [header.slice(1)];
  const count = header.startsWith("*") ? Number(header.slice(1)) : 1;
  const start = header.startsWith("*") ? 1 : 0;
  const values: string[] = [];
  for (let i = start; values.length < count; i += 2) {
    if (lines[i + 1] === undefined || lines.length <= i + 2) return undefined;
    values.push(lines[i + 1]!);
  }
  return values;
}

describe("startRedis", () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), "dialmesh-redis-test-"));
  let redis: RunningService | undefined;
  afterAll(async () => {
    await redis?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("runs with an AOF fsynced every second in its data dir, no snapshots, until stopped", async () => {
    redis = await startRedis({ dataDir });
    assert.deepEqual(await redisCommand(redis.port, "CONFIG", "GET", "appendonly"), ["appendonly", "yes"]);
    assert.deepEqual(await redisCommand(redis.port, "CONFIG", "GET", "appendfsync"), ["appendfsync", "everysec"]);
    assert.deepEqual(await redisCommand(redis.port, "CONFIG", "GET", "save"), ["save", ""]);
    assert.deepEqual(await redisCommand(redis.port, "CONFIG", "GET", "dir"), ["dir", dataDir]);
    assert.deepEqual(await redisCommand(redis.port, "SET", "bench", "1"), ["OK"]);
    assert.ok(existsSync(path.join(dataDir, "appendonlydir")), "the AOF directory is in the data dir");

    await redis.stop();
    assert.notEqual(redis.process.exitCode ?? redis.process.signalCode, null);
  });
});
