/** Customer filters: the schema and declaration checks, relative dates, the compiled query. */
import { describe, test } from "@jest/globals";
import assert from "node:assert/strict";
import type { AttributeDeclaration } from "./attributes.ts";
import { compileFilter, parseFilter, resolveDate, type FilterNode } from "./filters.ts";

const declarations: AttributeDeclaration[] = [
  { name: "segment", type: "enum", values: ["gold", "silver"], required: false, unique: false },
  { name: "balance", type: "number", required: false, unique: false },
  { name: "vip", type: "boolean", required: false, unique: false },
  { name: "lastPurchase", type: "date", required: false, unique: false },
  { name: "city", type: "string", required: false, unique: false },
];
const NOW = new Date("2026-03-31T12:00:00Z");

const paths = (body: unknown) => {
  const out = parseFilter("f1", body, declarations);
  return "details" in out ? out.details.map((d) => d.path) : [];
};
const messages = (body: unknown) => {
  const out = parseFilter("f1", body, declarations);
  return "details" in out ? Object.fromEntries(out.details.map((d) => [d.path, d.message])) : {};
};
const compiled = (where: FilterNode) => {
  const out = parseFilter("f1", { where }, declarations);
  assert.ok("filter" in out, JSON.stringify(out));
  return compileFilter(out.filter.where, declarations, NOW);
};

describe("relative and absolute dates", () => {
  test("durations are resolved against the clock, calendar-aware, in both directions", () => {
    assert.equal(resolveDate("-P30D", NOW)?.toISOString(), "2026-03-01T12:00:00.000Z");
    assert.equal(resolveDate("-P1M", NOW)?.toISOString(), "2026-02-28T12:00:00.000Z");
    assert.equal(resolveDate("+PT36H", NOW)?.toISOString(), "2026-04-02T00:00:00.000Z");
    assert.equal(resolveDate("P1W", NOW)?.toISOString(), "2026-04-07T12:00:00.000Z");
    assert.equal(resolveDate("2026-01-31", NOW)?.toISOString(), "2026-01-31T00:00:00.000Z");
    assert.equal(resolveDate("2026-01-31T09:00:00+02:00", NOW)?.toISOString(), "2026-01-31T07:00:00.000Z");
    for (const bad of ["P", "-PT", "30D", "P30", "2026-13-01", "2026-01-31T09:00", "yesterday"])
      assert.equal(resolveDate(bad, NOW), undefined, bad);
  });
});

describe("checking a filter", () => {
  test("the issue's example is accepted and compiles to plain field operators", () => {
    assert.deepEqual(
      compiled({
        and: [
          { attr: "attributes.segment", op: "eq", value: "gold" },
          { attr: "attributes.balance", op: "gt", value: 100 },
        ],
      }),
      { $and: [{ "attributes.segment": "gold" }, { "attributes.balance": { $gt: 100 } }] },
    );
  });

  test("an unknown attribute is named, with the declared ones", () => {
    const m = messages({ where: { attr: "attributes.colour", op: "eq", value: "red" } });
    assert.match(m["/where/attr"]!, /^colour is not a declared attribute \(declared: segment, balance, vip/);
    assert.deepEqual(paths({ where: { attr: "nickname", op: "eq", value: "x" } }), ["/where/attr"]);
  });

  test("values must fit the attribute's type; ops must fit too; pointers go to the offending place", () => {
    const m = messages({
      where: {
        or: [
          { attr: "attributes.balance", op: "gt", value: "lots" },
          { attr: "attributes.segment", op: "in", value: ["gold", "bronze"] },
          { not: { attr: "attributes.vip", op: "lt", value: true } },
          { attr: "createdAt", op: "gte", value: "last month" },
          { attr: "attributes.balance", op: "between", value: [1] },
          { attr: "attributes.city", op: "exists" },
          { attr: "phones", op: "eq", value: "555" },
        ],
      },
    });
    assert.deepEqual(Object.keys(m), [
      "/where/or/0/value",
      "/where/or/1/value/1",
      "/where/or/2/not/op",
      "/where/or/3/value",
      "/where/or/4/value",
      "/where/or/5/value",
      "/where/or/6/value",
    ]);
    assert.match(m["/where/or/0/value"]!, /is "lots": expected a number/);
    assert.match(m["/where/or/1/value/1"]!, /"bronze": expected one of "gold", "silver"/);
    assert.match(m["/where/or/2/not/op"]!, /lt does not apply to attributes\.vip \(boolean\): expected one of eq, ne/);
    assert.match(m["/where/or/3/value"]!, /relative to now \(-P30D/);
    assert.match(m["/where/or/4/value"]!, /\[low, high\]/);
  });

  test("the schema catches shape errors with JSON pointers; a node is one kind only", () => {
    assert.deepEqual(paths({}), ["/where"]);
    assert.deepEqual(paths({ where: { and: [] } }), ["/where/and"]);
    assert.deepEqual(paths({ where: { attr: "email", op: "like", value: "x" } }), ["/where/op"]);
    assert.deepEqual(paths({ where: { attr: "email", op: "eq", value: "a@b.c", extra: 1 } }), ["/where/extra"]);
    assert.match(
      messages({
        where: {
          and: [{ attr: "email", op: "exists", value: true }],
          not: { attr: "email", op: "exists", value: true },
        },
      })["/where"] ?? "",
      /exactly one of/,
    );
    let deep: FilterNode = { attr: "email", op: "exists", value: true };
    for (let i = 0; i < 9; i++) deep = { not: deep };
    assert.match(messages({ where: deep })["/where/not/not/not/not/not/not/not/not"] ?? "", /deeper than 8/);
    assert.deepEqual(paths({ id: "other", where: { attr: "email", op: "exists", value: true } }), ["/id"]);
  });
});

describe("compiling", () => {
  test("and/or/not nest; not is $nor; dates resolve against the clock", () => {
    assert.deepEqual(
      compiled({
        or: [
          {
            and: [
              { attr: "createdAt", op: "gte", value: "-P30D" },
              { not: { attr: "email", op: "exists", value: true } },
            ],
          },
          { attr: "attributes.lastPurchase", op: "between", value: ["2026-01-01", "-P1D"] },
        ],
      }),
      {
        $or: [
          {
            $and: [{ createdAt: { $gte: new Date("2026-03-01T12:00:00Z") } }, { $nor: [{ email: { $exists: true } }] }],
          },
          // date attributes are stored as ISO strings in UTC, so they compare as strings.
          { "attributes.lastPurchase": { $gte: "2026-01-01T00:00:00.000Z", $lte: "2026-03-30T12:00:00.000Z" } },
        ],
      },
    );
  });

  test("contains and startsWith are case-insensitive regexes of the literal text; emails lower-cased; phones by number", () => {
    const q = compiled({
      and: [
        { attr: "lastName", op: "startsWith", value: "O'(Brien" },
        { attr: "attributes.city", op: "contains", value: "st. john*" },
        { attr: "email", op: "in", value: ["Ada@Example.com"] },
        { attr: "phones", op: "nin", value: ["+14155550100"] },
      ],
    }) as { $and: Record<string, unknown>[] };
    const starts = q.$and[0]!.lastName as RegExp;
    assert.ok(starts.test("o'(brien-smith") && !starts.test("x o'(brien"));
    const contains = q.$and[1]!["attributes.city"] as RegExp;
    assert.ok(contains.test("Old St. John* Road") && !contains.test("St Johns"));
    assert.deepEqual(q.$and[2], { email: { $in: ["ada@example.com"] } });
    assert.deepEqual(q.$and[3], { "phones.number": { $nin: ["+14155550100"] } });
  });
});
