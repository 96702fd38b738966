/**
 * Customer attributes as the store can keep them: keys that are MongoDB field names (no "." and
 * no leading "$"), nesting and size within limits. Checked with the rest of a batch before
 * anything is stored, so one bad item never leaves half a batch behind. Pure.
 */
import type { ValidationDetail } from "../validation/json-schema.ts";

export const ATTRIBUTE_LIMITS = { depth: 8, bytes: 64 * 1024, keys: 500 } as const;

/** Problems with JSON pointers relative to the attributes object. */
export function attributeProblems(attributes: Record<string, unknown>): ValidationDetail[] {
  const problems: ValidationDetail[] = [];
  let keys = 0;
  const walk = (value: unknown, pointer: string, depth: number): void => {
    if (problems.length >= 20) return;
    if (value === null || typeof value !== "object") return;
    if (depth > ATTRIBUTE_LIMITS.depth) {
      problems.push({ path: pointer, message: `nests deeper than ${ATTRIBUTE_LIMITS.depth} levels` });
      return;
    }
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
    for (const [key, child] of entries) {
      const at = `${pointer}/${key.replace(/~/g, "~0").replace(/\//g, "~1")}`;
      if (!Array.isArray(value)) {
        keys++;
        if (key.includes(".") || key.startsWith("$") || key === "")
          problems.push({ path: at, message: 'is not a usable attribute name (no ".", no leading "$", not empty)' });
      }
      walk(child, at, depth + 1);
    }
  };
  walk(attributes, "", 1);
  if (keys > ATTRIBUTE_LIMITS.keys)
    problems.push({ path: "", message: `has ${keys} keys; at most ${ATTRIBUTE_LIMITS.keys}` });
  const bytes = Buffer.byteLength(JSON.stringify(attributes));
  if (bytes > ATTRIBUTE_LIMITS.bytes)
    problems.push({ path: "", message: `is ${bytes} bytes of JSON; at most ${ATTRIBUTE_LIMITS.bytes}` });
  return problems;
}
