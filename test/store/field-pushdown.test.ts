/**
 * 04-sqlite-field-pushdown.patch: equality on fields answered from an index, and counts in SQL,
 * with MongoDB's semantics kept. Each filter's answer is compared with FerretDB's own evaluation
 * in Go of the same filter under a double `$nor` (never pushed down), over documents that match
 * through arrays, miss the field, hold it under another type (a date with a number's text, a
 * string of digits, a boolean for 1), as an ObjectID, a negative zero or a double.
 */
import { afterAll, beforeAll, describe, test } from "@jest/globals";
import assert from "node:assert/strict";
import { ObjectId, type Collection, type Document } from "mongodb";
import { openStore, refreshPlannerStatistics, type Store } from "../../core/store/connection.ts";
import { freshDatabaseUrl } from "../support/mongo.ts";

let store: Store;
let docs: Collection<Document>;

const HEX = "5f0000000000000000000001";
const SINCE = new Date("2026-06-01T00:00:00Z");
const SAMPLE: Document[] = [
  { _id: "scalar", lastName: "Smith", since: SINCE, attributes: { segment: "gold", vip: true, balance: 150 } },
  { _id: "array", lastName: ["Jones", "Smith"], attributes: { segment: ["silver", "gold"], balance: [50, 700] } },
  { _id: "array-of-docs", lastName: "Brown", attributes: [{ segment: "gold", balance: 150.0 }, { segment: "bronze" }] },
  { _id: "missing", attributes: {} },
  { _id: "scalar-parent", lastName: "smith", attributes: "gold" },
  { _id: "number", lastName: 7, since: SINCE.getTime(), attributes: { segment: 7, vip: 1, balance: 150.5 } },
  { _id: "object-id", lastName: new ObjectId(HEX), attributes: { segment: HEX, balance: "150" } },
  { _id: "escaped", lastName: "O<Neil", attributes: { segment: 'say "gold"', balance: -0.0 } },
  { _id: "spaces", lastName: "van der Berg", attributes: { segment: "gold ", vip: false, balance: 0 } },
  {
    _id: "null",
    lastName: null,
    since: new Date("2025-01-01T00:00:00Z"),
    attributes: { segment: null, balance: null },
  },
  { _id: "big", lastName: "Zed", attributes: { balance: 2 ** 60, vip: 0 } },
];

const FILTERS: Document[] = [
  { lastName: "Smith" },
  { lastName: "smith" },
  { lastName: "van der Berg" },
  { lastName: "O<Neil" },
  { lastName: HEX },
  { lastName: { $eq: "Brown" } },
  { lastName: { $in: ["Smith", "Brown", "Nobody"] } },
  { lastName: 7 },
  { "attributes.segment": "gold" },
  { "attributes.segment": "gold " },
  { "attributes.segment": 'say "gold"' },
  { "attributes.segment": HEX },
  { "attributes.vip": true },
  { "attributes.vip": false },
  { "attributes.vip": 1 },
  { "attributes.balance": 150 },
  { "attributes.balance": 150.5 },
  { "attributes.balance": 0 },
  { "attributes.balance": { $in: [150, 700] } },
  { "attributes.balance": 2 ** 60 },
  { "attributes.balance": { $gt: 100 } },
  { "attributes.balance": { $gte: 0, $lt: 151 } },
  { "attributes.balance": { $lte: -0.0 } },
  { "attributes.balance": { $gt: "100" } },
  { lastName: { $gte: "Smith" } },
  { lastName: { $gt: "van" } },
  { lastName: { $lt: "O<P" } },
  { since: SINCE },
  { since: { $gte: new Date("2026-01-01T00:00:00Z") } },
  { since: { $gt: 0 } },
  { $and: [{ lastName: "Smith" }, { "attributes.segment": "gold" }] },
  { $and: [{ "attributes.segment": { $in: ["gold", "silver"] } }, { $and: [{ lastName: "Smith" }] }] },
  { $and: [{ "attributes.segment": "gold" }, { "attributes.balance": { $gt: 100, $lte: 700 } }] },
  // Not pushed down whole: the count cannot be taken in SQL, the find still narrows.
  { $and: [{ lastName: "Smith" }, { "attributes.segment": { $ne: "silver" } }] },
  { lastName: "Smith", "attributes.segment": { $exists: true } },
  { "attributes.balance": { $gt: 100, $lt: "z" } },
  { $or: [{ lastName: "Smith" }, { lastName: "Brown" }] },
];

/** What FerretDB's handler alone says (a double $nor is never pushed down). */
const reference = (filter: Document) => ({ $nor: [{ $nor: [filter] }] });
const ids = async (filter: Document) => (await docs.find(filter).toArray()).map((d) => String(d._id)).sort();
const count = async (filter: Document) =>
  ((await store.conn.db!.command({ count: docs.collectionName, query: filter })) as { n: number }).n;

beforeAll(async () => {
  store = await openStore(freshDatabaseUrl("field_pushdown"));
  docs = store.conn.collection("pushdown");
  await docs.createIndex({ lastName: 1 }, { name: "last_name" });
  await docs.createIndex({ "attributes.segment": 1 }, { name: "segment" });
  await docs.insertMany(SAMPLE);
});
afterAll(async () => store?.close());

describe("field conditions pushed down keep MongoDB's answers", () => {
  test.each(FILTERS.map((f) => [JSON.stringify(f), f] as const))("%s: find and count", async (_, filter) => {
    const expected = await ids(reference(filter));
    assert.deepEqual(await ids(filter), expected);
    assert.equal(await count(filter), expected.length);
    assert.equal(await docs.countDocuments(filter), expected.length);
  });

  test("the reference is not trivial: arrays and nested paths match, other types do not", async () => {
    assert.deepEqual(await ids(reference({ lastName: "Smith" })), ["array", "scalar"]);
    assert.deepEqual(await ids(reference({ "attributes.segment": "gold" })), ["array", "array-of-docs", "scalar"]);
    assert.deepEqual(await ids(reference({ "attributes.balance": 0 })), ["escaped", "spaces"]);
    assert.deepEqual(await ids(reference({ "attributes.balance": { $gt: 100 } })), [
      "array",
      "array-of-docs",
      "big",
      "number",
      "scalar",
    ]);
    assert.deepEqual(await ids(reference({ since: { $gt: 0 } })), ["number"]);
  });
});

describe("the plan", () => {
  const plan = async (filter: Document) =>
    JSON.stringify(((await docs.find(filter).explain()) as { queryPlanner: unknown }).queryPlanner);

  test("an equality on an indexed field, dotted or not, is a search of its index", async () => {
    assert.match(await plan({ lastName: "Smith" }), /SEARCH \S+ USING INDEX \S+_last_name/);
    assert.match(await plan({ "attributes.segment": { $in: ["gold", "silver"] } }), /USING INDEX \S+_segment/);
    assert.match(await plan({ $and: [{ "attributes.segment": "gold" }, { lastName: { $ne: "x" } }] }), /_segment/);
  });

  test("a range is evaluated in SQLite, not from the index; what is not pushed down scans", async () => {
    assert.match(await plan({ lastName: { $gt: "A" } }), /SCAN/);
    assert.doesNotMatch(await plan({ lastName: { $gt: "A" } }), /USING INDEX/);
    assert.doesNotMatch(await plan({ lastName: "O<Neil" }), /USING INDEX/);
  });
});

test("with the planner's statistics refreshed, two equalities use the index that narrows most", async () => {
  const skewed = store.conn.collection<{ _id: string; segment: string; lastName: string }>("skewed");
  await skewed.createIndex({ segment: 1 }, { name: "segment" });
  await skewed.createIndex({ lastName: 1 }, { name: "last_name" });
  await skewed.insertMany(
    Array.from({ length: 2_000 }, (_, i) => ({ _id: `s${i}`, segment: "gold", lastName: `L${i}` })),
  );
  const plan = async () =>
    JSON.stringify(
      (
        (await skewed.find({ $and: [{ segment: "gold" }, { lastName: "L7" }] }).explain()) as {
          queryPlanner: unknown;
        }
      ).queryPlanner,
    );
  await refreshPlannerStatistics(store.conn, "skewed");
  assert.match(await plan(), /USING INDEX \S+_last_name/);
  assert.doesNotMatch(await plan(), /USING INDEX \S+_segment/);
});
