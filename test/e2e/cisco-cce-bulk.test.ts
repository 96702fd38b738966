/**
 * cisco-cce in bulk through the hub (issue 10): voice activities POSTed through the REST API
 * (in requests of the API's maxBatch) reach the local AW as 3 imports, each contact once,
 * through an injected burst of 503s.
 *
 * The hub holds at most `scheduler.concurrency` (64) sends in flight and a send times out
 * after 20 s; the plugin answers a send once the contact is in its outbox, so what makes an
 * import is the outbox alone: `batchSize` rows waiting, or `batchWindowMs` after the oldest
 * waiting row.
 *
 * Size: the 25,000 (3 imports of at most 10,000) does not fit this test's budget.
 * Measured on the 2 shared cores: the hub dispatches 200-300 voice activities a second (about
 * 25 ms of each send is the plugin's outbox insert), and under a loaded CI machine a quarter of
 * that. The test keeps the shape with batchSize 2,000: 6,000 activities arrive as 3 imports.
 * Every import is closed by `batchSize`, never by the window (an hour): a window short enough
 * for a test closed a batch early when the machine was slow (2,784 rows instead of 3,000), so
 * the count of imports depended on the machine, not on the plugin. The window's own rule is
 * unit-tested (plugins/cisco-common/cisco-common.test.ts, flushPlan), and the plugin tests append
 * 25,000 as 10,000/10,000/5,000 without the hub.
 */
import assert from "node:assert/strict";
import { afterAll, beforeAll, describe, test } from "@jest/globals";
import { startCiscoAwServer, type CiscoAwServer } from "../vendors/cisco-aw-server.ts";
import { eventually, startTestHub, type TestHub } from "../support/hub.ts";
import { getActivity } from "./digital-helpers.ts";

const BATCH_SIZE = 2_000;
const TOTAL = 3 * BATCH_SIZE;
/** The API takes at most this many activities a request (api.maxBatch, default). */
const MAX_BATCH = 10_000;
/** Longer than the test: imports are closed by batchSize alone. */
const WINDOW_MS = 3_600_000;
const CAMPAIGN = 5001;

describe("cisco-cce: thousands of activities through the hub", () => {
  let aw: CiscoAwServer;
  let hub: TestHub;

  beforeAll(async () => {
    aw = await startCiscoAwServer({ campaigns: [CAMPAIGN] });
    hub = await startTestHub({
      plugins: [
        {
          id: "cce",
          use: "cisco-cce",
          options: {
            baseUrl: aw.baseUrl,
            username: aw.username,
            password: aw.password,
            campaignMap: { bulk: CAMPAIGN },
            batchSize: BATCH_SIZE,
            batchWindowMs: WINDOW_MS,
            pollIntervalMs: 60_000,
          },
        },
      ],
    });
  });
  afterAll(async () => {
    await hub?.stop();
    await aw?.stop();
  });

  test(`${TOTAL} voice activities arrive as 3 imports of batchSize, each contact once, through 503s`, async () => {
    aw.injectUnavailable(4);
    const ids: string[] = [];
    for (let offset = 0; offset < TOTAL; offset += MAX_BATCH) {
      const count = Math.min(MAX_BATCH, TOTAL - offset);
      const res = await hub.api("POST", "/api/v1/activities", {
        activities: Array.from({ length: count }, (_, i) => {
          const n = offset + i;
          return {
            customer: { id: `bulk-${n}`, phone: `+1415${String(5_000_000 + n).padStart(7, "0")}` },
            channel: "voice",
            campaignId: "bulk",
            content: {},
          };
        }),
      });
      assert.equal(res.status, 202, res.text);
      ids.push(...(res.body as { activities: { id: string }[] }).activities.map((a) => a.id));
    }

    await eventually(
      async () => aw.appliedImports().reduce((n, i) => n + i.accountNumbers.length, 0) >= TOTAL,
      160_000,
      `${TOTAL} contacts imported`,
    );
    assert.deepEqual(
      aw.appliedImports().map((i) => i.accountNumbers.length),
      [BATCH_SIZE, BATCH_SIZE, BATCH_SIZE],
    );
    assert.deepEqual(
      aw.imports.map((i) => i.status),
      [503, 503, 503, 503, 200, 200, 200],
      "the burst of 503s retried with the same rows",
    );
    const rows = new Map<string, number>();
    for (const c of aw.campaignContacts(CAMPAIGN)) rows.set(c.accountNumber, (rows.get(c.accountNumber) ?? 0) + 1);
    assert.equal(rows.size, TOTAL, "every contact imported");
    assert.ok(
      [...rows.values()].every((n) => n === 1),
      "no contact twice",
    );
    // The account numbers are the activities' attempts: a sample, read through the API.
    for (const id of [ids[0], ids[BATCH_SIZE], ids[TOTAL - 1], ids[4321]] as string[]) {
      const activity = await getActivity(hub, id);
      assert.equal(activity.status, "QUEUED");
      const attempt = activity.attempts[0]!;
      assert.equal(attempt.vendorId, attempt.id);
      assert.equal(rows.get(attempt.id), 1, attempt.id);
    }
  }, 180_000);
});
