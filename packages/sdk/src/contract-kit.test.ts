/**
 * The kit's own test: a sound fixture plugin passes the contract, and each broken variant of it
 * fails exactly where it breaks the rules. Each run is a separate jest process.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "@jest/globals";
import { createTestContext } from "./contract-kit.ts";
import { runTestFile, type TestFileRun } from "../../../test/support/run-test-file.ts";

const runner = path.join(import.meta.dirname, "fixtures/echo-plugin/echo-plugin.contract.ts");

function runContract(flaw: string): Promise<TestFileRun> {
  return runTestFile(runner, { DIALMESH_FIXTURE_FLAW: flaw });
}

test("a sound plugin passes every contract test", async () => {
  const run = await runContract("none");
  assert.equal(run.code, 0, run.output);
  assert.deepEqual(run.failed, []);
  assert.equal(run.passed.length, 11, run.output);
});

const expectations: [flaw: string, failing: RegExp][] = [
  ["leak-log", /^secrets:/],
  ["leak-error", /^secrets:/],
  ["permanent-retryable", /^send: a permanent vendor refusal/],
  ["transient-final", /^send: a transient vendor failure/],
  ["bad-status", /^send: the vendor accepts one message/],
  ["no-vendor-count", /^send: the vendor accepts one message/],
  ["accept-forged", /^webhooks:/],
];

for (const [flaw, failing] of expectations) {
  test(`a plugin with flaw "${flaw}" fails the contract where it should`, async () => {
    const run = await runContract(flaw);
    assert.notEqual(run.code, 0, `the contract must fail\n${run.output}`);
    assert.ok(
      run.failed.some((name) => failing.test(name)),
      `expected a failure matching ${failing}, failed: ${JSON.stringify(run.failed)}`,
    );
    assert.ok(
      run.passed.some((name) => name.startsWith("manifest:")),
      "the rest of the contract still ran",
    );
  });
}

test("createTestContext records logs, events and rate-limiter calls, and tees given hooks", async () => {
  const seen: string[] = [];
  const tc = createTestContext(
    { a: 1 },
    {
      instanceId: "x1",
      logger: {
        debug: () => {},
        info: (msg) => seen.push(`info ${msg}`),
        warn: () => {},
        error: () => {},
      },
      emit: async (events) => {
        seen.push(`emit ${events.length}`);
      },
    },
  );
  try {
    assert.equal(tc.context.webhookUrl, "https://hub.test/webhooks/x1");
    tc.context.logger.info("hello", { n: 1 });
    tc.context.logger.warn("careful");
    await tc.context.emit([{ kind: "status", vendorId: "v", status: "SENT", raw: "sent", at: new Date() }]);
    await tc.context.rateLimiter.acquire("k", 3);
    assert.equal(tc.logText(), 'info hello {"n":1}\nwarn careful');
    assert.equal(tc.emitted.length, 1);
    assert.deepEqual(tc.rateLimits, [{ key: "k", perSecond: 3 }]);
    assert.deepEqual(seen, ["info hello", "emit 1"]);
  } finally {
    tc.cleanup();
  }
});
