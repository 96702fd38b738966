/**
 * FerretDB patch 05 (scripts/ferretdb-patches/05-update-one-transaction.patch) writes what an
 * update command's statements by _id modified in one transaction at the command's end. These
 * check that a bulk still means what it means on MongoDB: each statement sees the writes of the
 * statements before it, whatever their kind, and the counts are those of the statements.
 */
import { test, beforeAll, afterAll } from "@jest/globals";
import assert from "node:assert/strict";
import { ObjectId } from "mongodb";
import { openStore, type Store } from "../../core/store/connection.ts";
import { freshDatabaseUrl } from "../support/mongo.ts";

let store: Store;
beforeAll(async () => {
  store = await openStore(freshDatabaseUrl("update_batch"));
});
afterAll(async () => store?.close());

interface Row {
  _id: string | ObjectId;
  n: number;
  tags?: string[];
  group?: string;
  at?: Date;
}
const rows = () => store.conn.collection<Row>("update_batch_rows");

test("statements by _id on the same document see each other's writes, in order", async () => {
  await rows().insertMany([
    { _id: "a", n: 0 },
    { _id: "b", n: 0 },
  ]);
  const res = await rows().bulkWrite(
    [
      { updateOne: { filter: { _id: "a" }, update: { $inc: { n: 1 } } } },
      { updateOne: { filter: { _id: "b" }, update: { $inc: { n: 10 } } } },
      // Guarded on what the first statement wrote: matches only if it is seen.
      { updateOne: { filter: { _id: "a", n: 1 }, update: { $inc: { n: 1 }, $push: { tags: "second" } } } },
      { updateOne: { filter: { _id: "a", n: 1 }, update: { $push: { tags: "stale" } } } },
    ],
    { ordered: false },
  );
  assert.equal(res.matchedCount, 3);
  assert.equal(res.modifiedCount, 3);
  assert.deepEqual(await rows().find({}).sort({ _id: 1 }).toArray(), [
    { _id: "a", n: 2, tags: ["second"] },
    { _id: "b", n: 10 },
  ]);
});

test("a multi update or an upsert between statements by _id sees what they wrote, and they see its writes", async () => {
  const ids = [new ObjectId(), new ObjectId()];
  await rows().insertMany([
    { _id: ids[0]!, n: 0, group: "g" },
    { _id: ids[1]!, n: 0, group: "g" },
  ]);
  const res = await rows().bulkWrite(
    [
      { updateOne: { filter: { _id: ids[0]! }, update: { $set: { n: 5 } } } },
      // Multi, by another field: must see n = 5 on the first row.
      { updateMany: { filter: { group: "g", n: 5 }, update: { $set: { tags: ["multi"] } } } },
      { updateOne: { filter: { _id: "up" }, update: { $setOnInsert: { n: 7 } }, upsert: true } },
      { updateOne: { filter: { _id: "up", n: 7 }, update: { $inc: { n: 1 } } } },
      { updateOne: { filter: { _id: ids[1]!, tags: "multi" }, update: { $set: { n: -1 } } } },
    ],
    { ordered: true },
  );
  assert.equal(res.upsertedCount, 1);
  assert.equal(res.modifiedCount, 3, "n = 5, the multi's one row, the upserted row's increment");
  const byId = new Map(
    (
      await rows()
        .find({ _id: { $in: [...ids, "up"] } })
        .toArray()
    ).map((r) => [String(r._id), r]),
  );
  assert.deepEqual(byId.get(String(ids[0]))?.tags, ["multi"]);
  assert.equal(byId.get(String(ids[0]))?.n, 5);
  assert.equal(byId.get(String(ids[1]))?.n, 0, "the multi did not match n = 0, so the guarded update did not either");
  assert.equal(byId.get("up")?.n, 8);
});

test("a bulk of 300 guarded updates applies the ones whose guard holds, and counts them", async () => {
  await rows().insertMany(Array.from({ length: 300 }, (_, i) => ({ _id: `k${i}`, n: i % 3 })));
  const res = await rows().bulkWrite(
    Array.from({ length: 300 }, (_, i) => ({
      updateOne: { filter: { _id: `k${i}`, n: 0 }, update: { $set: { n: 100 } } },
    })),
    { ordered: false },
  );
  assert.equal(res.matchedCount, 100);
  assert.equal(res.modifiedCount, 100);
  assert.equal(await rows().countDocuments({ _id: { $regex: "^k" }, n: 100 }), 100);
  assert.equal(await rows().countDocuments({ _id: { $regex: "^k" }, n: { $in: [1, 2] } }), 200);
});

test("a multi update writes all it matched, and the statements after it see its writes", async () => {
  const old = new Date("2026-01-01T00:00:00Z");
  const later = new Date("2026-06-01T00:00:00Z");
  await rows().insertMany(Array.from({ length: 50 }, (_, i) => ({ _id: `m${i}`, n: i, group: "max" })));
  await rows().updateMany({ _id: { $in: ["m0", "m1"] } }, { $set: { at: later } });
  const res = await rows().bulkWrite(
    [
      // m0 and m1 already hold a later date: $max leaves them as they are.
      { updateMany: { filter: { group: "max" }, update: { $max: { at: old } } } },
      { updateOne: { filter: { _id: "m2", at: old }, update: { $set: { n: -2 } } } },
      { updateOne: { filter: { _id: "m0", at: old }, update: { $set: { n: -1 } } } },
    ],
    { ordered: true },
  );
  assert.equal(res.matchedCount, 51);
  assert.equal(res.modifiedCount, 49);
  assert.equal(await rows().countDocuments({ group: "max", at: old }), 48);
  assert.equal((await rows().findOne({ _id: "m2" }))?.n, -2, "saw the multi's write");
  assert.equal((await rows().findOne({ _id: "m0" }))?.n, 0, "m0 kept its later date");
});
