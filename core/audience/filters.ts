/**
 * Customer filters (`PUT /api/v1/filters/:id`): `and`/`or`/`not` of conditions over customer
 * facts and declared attributes, checked against schemas/customer-filter.schema.json and then
 * against the declarations, and compiled to a Mongo query that MongoDB and FerretDB 1.24 both
 * run (plain field operators, `$and`/`$or`/`$nor`, anchored regexes; no `$expr`, no `$lookup`).
 * Relative dates (`-P30D`) are resolved against the clock given to `compileFilter`, so a stored
 * filter means "the last 30 days" whenever it is evaluated. Pure.
 */
import { Duration, DateTime } from "luxon";
import type { Document } from "mongodb";
import { schemaValidator, validateWith, type ValidationDetail } from "../validation/json-schema.ts";
import { expectedOf, type AttributeDeclaration, type AttributeType } from "./attributes.ts";

export const FILTER_OPS = [
  "eq",
  "ne",
  "in",
  "nin",
  "lt",
  "lte",
  "gt",
  "gte",
  "between",
  "contains",
  "startsWith",
  "exists",
] as const;
export type FilterOp = (typeof FILTER_OPS)[number];

type Scalar = string | number | boolean;
export interface FilterCondition {
  attr: string;
  op: FilterOp;
  value?: Scalar | Scalar[];
}
export type FilterNode = { and: FilterNode[] } | { or: FilterNode[] } | { not: FilterNode } | FilterCondition;

export interface FilterDefinition {
  name?: string;
  description?: string;
  where: FilterNode;
}

/** How deep `and`/`or`/`not` may nest (a deeper filter is a mistake, and costly to run). */
export const MAX_DEPTH = 8;

/** Filter ids appear in URLs and as `_id`. */
export const FILTER_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/**
 * What a field holds, as far as filtering goes. `instant` is a BSON date (createdAt,
 * updatedAt); a `date` attribute is stored as an ISO-8601 UTC string, which orders the same way.
 */
type FieldType = AttributeType | "instant";

interface Field {
  /** The document path the query uses. */
  path: string;
  type: FieldType;
  declaration?: AttributeDeclaration;
}

const FACTS: Record<string, Field> = {
  firstName: { path: "firstName", type: "string" },
  lastName: { path: "lastName", type: "string" },
  email: { path: "email", type: "email" },
  phones: { path: "phones.number", type: "phone" },
  timezone: { path: "timezone", type: "string" },
  createdAt: { path: "createdAt", type: "instant" },
  updatedAt: { path: "updatedAt", type: "instant" },
};

const ORDERED: ReadonlySet<FieldType> = new Set(["string", "number", "date", "instant"]);
const TEXT: ReadonlySet<FieldType> = new Set(["string", "email", "phone", "enum"]);
const OPS_OF = (t: FieldType): FilterOp[] =>
  FILTER_OPS.filter((op) => {
    if (["lt", "lte", "gt", "gte", "between"].includes(op)) return ORDERED.has(t);
    if (op === "contains" || op === "startsWith") return TEXT.has(t);
    return true;
  });

const RELATIVE = /^([-+])?(P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?)$/;
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2}))?$/i;

/** `-P30D` (30 days before now), `P1M` / `+P1M` (a month after), or an ISO-8601 date or date-time. */
export function resolveDate(text: string, now: Date): Date | undefined {
  const rel = RELATIVE.exec(text);
  if (rel) {
    const d = Duration.fromISO(rel[2]!);
    if (!d.isValid) return undefined;
    const base = DateTime.fromJSDate(now, { zone: "utc" });
    return (rel[1] === "-" ? base.minus(d) : base.plus(d)).toJSDate();
  }
  if (!ISO_INSTANT.test(text)) return undefined;
  const t = new Date(text.length === 10 ? `${text}T00:00:00Z` : text);
  return Number.isNaN(t.getTime()) ? undefined : t;
}

function expectedValue(field: Field): string {
  if (field.type === "instant" || field.type === "date")
    return "an ISO-8601 date or date-time (2026-01-31, 2026-01-31T09:00:00Z) or a duration relative to now (-P30D, -PT12H)";
  if (field.type === "phone") return "a phone number in E.164 (+14155550100)";
  if (field.declaration) return expectedOf(field.declaration);
  return field.type === "email" ? "an email address" : "a string";
}

/** Why `v` cannot be compared with the field (undefined when it can). */
function scalarProblem(field: Field, v: unknown): string | undefined {
  const bad = `is ${JSON.stringify(v)}: expected ${expectedValue(field)}`;
  switch (field.type) {
    case "number":
      return typeof v === "number" && Number.isFinite(v) ? undefined : bad;
    case "boolean":
      return typeof v === "boolean" ? undefined : bad;
    case "instant":
    case "date":
      return typeof v === "string" && resolveDate(v, new Date(0)) ? undefined : bad;
    case "enum":
      return typeof v === "string" && (field.declaration?.values ?? []).includes(v) ? undefined : bad;
    case "phone":
      return typeof v === "string" && /^\+[1-9]\d{6,14}$/.test(v) ? undefined : bad;
    default:
      return typeof v === "string" ? undefined : bad;
  }
}

function fieldOf(attr: string, byName: ReadonlyMap<string, AttributeDeclaration>): Field | string {
  const fact = FACTS[attr];
  if (fact) return fact;
  const name = attr.startsWith("attributes.") ? attr.slice("attributes.".length) : undefined;
  const d = name === undefined ? undefined : byName.get(name);
  if (!name || !d)
    return name
      ? `${name} is not a declared attribute (declared: ${[...byName.keys()].join(", ") || "none"})`
      : `is not a customer fact or attribute (expected ${Object.keys(FACTS).join(", ")} or attributes.<name>)`;
  return { path: `attributes.${name}`, type: d.type, declaration: d };
}

function checkCondition(
  c: FilterCondition,
  at: string,
  byName: ReadonlyMap<string, AttributeDeclaration>,
): ValidationDetail[] {
  const field = fieldOf(c.attr, byName);
  if (typeof field === "string") return [{ path: `${at}/attr`, message: field }];
  if (!OPS_OF(field.type).includes(c.op))
    return [
      {
        path: `${at}/op`,
        message: `${c.op} does not apply to ${c.attr} (${field.type === "instant" ? "date" : field.type}): expected one of ${OPS_OF(field.type).join(", ")}`,
      },
    ];
  const v = c.value;
  const atValue = `${at}/value`;
  if (c.op === "exists")
    return typeof v === "boolean" ? [] : [{ path: atValue, message: "must be true or false for exists" }];
  if (v === undefined) return [{ path: atValue, message: `is required for ${c.op}` }];
  if (c.op === "in" || c.op === "nin" || c.op === "between") {
    if (!Array.isArray(v)) return [{ path: atValue, message: `must be a list for ${c.op}` }];
    if (c.op === "between" && v.length !== 2)
      return [{ path: atValue, message: "must be [low, high] (two values) for between" }];
    return v.flatMap((x, i) => {
      const p = scalarProblem(field, x);
      return p ? [{ path: `${atValue}/${i}`, message: p }] : [];
    });
  }
  if (Array.isArray(v))
    return [{ path: atValue, message: `must be one value for ${c.op} (a list is for in, nin, between)` }];
  if (c.op === "contains" || c.op === "startsWith")
    return typeof v === "string" && v !== ""
      ? []
      : [{ path: atValue, message: `must be a non-empty string for ${c.op}` }];
  const p = scalarProblem(field, v);
  return p ? [{ path: atValue, message: p }] : [];
}

function checkNode(
  node: FilterNode,
  at: string,
  depth: number,
  byName: ReadonlyMap<string, AttributeDeclaration>,
): ValidationDetail[] {
  const kinds = (["and", "or", "not", "attr"] as const).filter((k) => k in node);
  if (kinds.length !== 1)
    return [
      {
        path: at,
        message: `must be exactly one of {"and": [...]}, {"or": [...]}, {"not": {...}} or a condition {"attr", "op", "value"} (has ${kinds.join(", ") || "none"})`,
      },
    ];
  if (depth > MAX_DEPTH) return [{ path: at, message: `nests deeper than ${MAX_DEPTH} levels` }];
  if ("and" in node) return node.and.flatMap((n, i) => checkNode(n, `${at}/and/${i}`, depth + 1, byName));
  if ("or" in node) return node.or.flatMap((n, i) => checkNode(n, `${at}/or/${i}`, depth + 1, byName));
  if ("not" in node) return checkNode(node.not, `${at}/not`, depth + 1, byName);
  return checkCondition(node, at, byName);
}

/** The filter in a PUT body, or every problem with it as a JSON pointer and what was expected. */
export function parseFilter(
  id: string,
  body: unknown,
  declarations: readonly AttributeDeclaration[],
): { filter: FilterDefinition } | { details: ValidationDetail[] } {
  const details: ValidationDetail[] = [];
  if (!FILTER_ID.test(id))
    details.push({
      path: "/id",
      message: "must be 1 to 128 letters, digits and . _ : -, starting with a letter or digit",
    });
  const schemaDetails = validateWith(schemaValidator("customer-filter.schema.json"), body);
  if (schemaDetails.length) return { details: [...details, ...schemaDetails] };
  const b = body as FilterDefinition & { id?: string };
  if (b.id !== undefined && b.id !== id)
    details.push({ path: "/id", message: `must be "${id}" (the id in the path) or left out` });
  details.push(...checkWhere(b.where, declarations));
  if (details.length) return { details };
  return {
    filter: {
      ...(b.name !== undefined ? { name: b.name } : {}),
      ...(b.description !== undefined ? { description: b.description } : {}),
      where: b.where,
    },
  };
}

/** Problems of a (schema-valid) `where` under the declarations; also re-run on a stored filter. */
export function checkWhere(where: FilterNode, declarations: readonly AttributeDeclaration[]): ValidationDetail[] {
  return checkNode(where, "/where", 1, new Map(declarations.map((d) => [d.name, d])));
}

/** `s` as a literal inside a regular expression. */
export const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** A value as it is stored: dates resolved (BSON date or ISO string), emails lower-cased. */
function stored(field: Field, v: Scalar, now: Date): unknown {
  if (field.type === "instant" || field.type === "date") {
    const t = resolveDate(String(v), now)!;
    return field.type === "instant" ? t : t.toISOString();
  }
  if (field.type === "email" && typeof v === "string") return v.toLowerCase();
  return v;
}

function compileCondition(c: FilterCondition, field: Field, now: Date): Document {
  const v = c.value;
  const one = () => stored(field, v as Scalar, now);
  const list = () => (v as Scalar[]).map((x) => stored(field, x, now));
  switch (c.op) {
    case "eq":
      return { [field.path]: one() };
    case "ne":
      return { [field.path]: { $ne: one() } };
    case "in":
      return { [field.path]: { $in: list() } };
    case "nin":
      return { [field.path]: { $nin: list() } };
    case "lt":
    case "lte":
    case "gt":
    case "gte":
      return { [field.path]: { [`$${c.op}`]: one() } };
    case "between": {
      const [low, high] = list();
      return { [field.path]: { $gte: low, $lte: high } };
    }
    case "contains":
    case "startsWith": {
      // Case-insensitive: names are typed by people; the value is literal text, never a pattern.
      const text = escapeRegex(String(v));
      return { [field.path]: new RegExp(c.op === "startsWith" ? `^${text}` : text, "i") };
    }
    case "exists":
      return { [field.path]: { $exists: v === true } };
  }
}

/**
 * The Mongo query of a filter that `checkWhere` accepted under the same declarations. `not` is
 * `$nor`: its complement includes customers without the field (`not balance > 100` matches a
 * customer with no balance), as `ne` and `nin` do.
 */
export function compileFilter(where: FilterNode, declarations: readonly AttributeDeclaration[], now: Date): Document {
  const byName = new Map(declarations.map((d) => [d.name, d]));
  const walk = (node: FilterNode): Document => {
    if ("and" in node) return { $and: node.and.map(walk) };
    if ("or" in node) return { $or: node.or.map(walk) };
    if ("not" in node) return { $nor: [walk(node.not)] };
    const field = fieldOf(node.attr, byName);
    if (typeof field === "string") throw new Error(`filter not checked: ${field}`);
    return compileCondition(node, field, now);
  };
  return walk(where);
}
