/**
 * Query parameters as the API accepts them: single strings only (a `?x[$ne]=y` or `?x[]=a`
 * never reaches a service, let alone the store), and `limit` within its documented range
 * (refused beyond it, not silently clamped).
 */
import { ValidationError } from "./errors.ts";

/** 400 for any query parameter that is not one plain string. */
export function checkQueryStrings(query: Record<string, unknown> | undefined): void {
  const details = Object.entries(query ?? {})
    .filter(([, v]) => typeof v !== "string")
    .map(([k]) => ({
      path: `/query/${k}`,
      message: "must be one plain value (no operators, objects or repeated parameters)",
    }));
  if (details.length) throw new ValidationError("Invalid query parameters", details);
}

export function parseLimit(value: unknown, opts: { default: number; max: number }): number {
  if (value === undefined || value === "") return opts.default;
  const n = typeof value === "number" ? value : /^\d+$/.test(String(value)) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > opts.max)
    throw new ValidationError("Invalid limit", [
      { path: "/query/limit", message: `must be an integer from 1 to ${opts.max}` },
    ]);
  return n;
}
