import assert from "node:assert/strict";
import { test } from "@jest/globals";
import { attributeProblems, ATTRIBUTE_LIMITS } from "./attributes.ts";
import { isValidZone } from "./calling-window.ts";

test("attribute names the store cannot keep are refused with their pointer", () => {
  assert.deepEqual(attributeProblems({ segment: "gold", nested: { ok: [1, { fine: true }] } }), []);
  assert.deepEqual(
    attributeProblems({ "utm.source": "x", $where: "y", deep: { "a/b": { "c.d": 1 } } }).map((p) => p.path),
    ["/utm.source", "/$where", "/deep/a~1b/c.d"],
  );
});

test("nesting and size have limits", () => {
  let deep: Record<string, unknown> = { leaf: 1 };
  for (let i = 0; i < 1000; i++) deep = { d: deep };
  const nested = attributeProblems(deep);
  assert.equal(nested.length, 1);
  assert.match(nested[0]!.message, new RegExp(`deeper than ${ATTRIBUTE_LIMITS.depth} levels`));
  const big = attributeProblems({ blob: "x".repeat(ATTRIBUTE_LIMITS.bytes) });
  assert.deepEqual(
    big.map((p) => p.path),
    [""],
  );
  assert.match(big[0]!.message, /bytes of JSON; at most 65536/);
});

test("time zones are IANA names; fixed offsets and abbreviations are not", () => {
  for (const zone of ["Europe/London", "America/Argentina/Cordoba", "America/Port-au-Prince", "UTC", "Etc/UTC"])
    assert.equal(isValidZone(zone), true, zone);
  for (const zone of ["+05:30", "UTC+5", "GMT+2", "Etc/GMT+5", "utc", "Mars/Olympus", "Europe/"])
    assert.equal(isValidZone(zone), false, zone);
});
