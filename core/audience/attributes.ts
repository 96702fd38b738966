/**
 * Customer attributes declared by the admin (`PUT /api/v1/attributes/:name`), and the JSON
 * Schema of a customer built from them, so that ajv reports every problem with its JSON
 * pointer. Pure.
 */
import type { ErrorObject, ValidateFunction } from "ajv/dist/2020.js";
import { createAjv, toDetails, type ValidationDetail } from "../validation/json-schema.ts";

export const ATTRIBUTE_TYPES = ["string", "number", "boolean", "date", "phone", "email", "enum"] as const;
export type AttributeType = (typeof ATTRIBUTE_TYPES)[number];

export interface AttributeDeclaration {
  name: string;
  type: AttributeType;
  /** The allowed values of an `enum`. */
  values?: string[];
  required?: boolean;
  /** Enforced by a unique index on `attributes.<name>` (customers without it do not collide). */
  unique?: boolean;
  /** An index on `attributes.<name>`, so that filters on it are answered from the index. */
  indexed?: boolean;
}

/** Attribute names are MongoDB field names and appear in CSV mappings as `attributes.<name>`. */
export const ATTRIBUTE_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;

const ajv = createAjv();

const declarationSchema = {
  type: "object",
  additionalProperties: false,
  required: ["type"],
  properties: {
    name: { type: "string" },
    type: { enum: [...ATTRIBUTE_TYPES] },
    values: { type: "array", minItems: 1, uniqueItems: true, items: { type: "string", minLength: 1 } },
    required: { type: "boolean" },
    unique: { type: "boolean" },
    indexed: { type: "boolean" },
  },
};
const validateDeclarationBody = ajv.compile(declarationSchema);

/** The declaration in a PUT body, or the problems with it. */
export function parseDeclaration(
  name: string,
  body: unknown,
): { declaration: AttributeDeclaration } | { details: ValidationDetail[] } {
  const details: ValidationDetail[] = [];
  if (!ATTRIBUTE_NAME.test(name))
    details.push({
      path: "/name",
      message: "must start with a letter or _ and contain only letters, digits, _ and - (at most 64)",
    });
  if (!validateDeclarationBody(body)) return { details: [...details, ...toDetails(validateDeclarationBody.errors)] };
  const b = body as Omit<AttributeDeclaration, "name"> & { name?: string };
  if (b.name !== undefined && b.name !== name)
    details.push({ path: "/name", message: `must be "${name}" (the name in the path) or left out` });
  if (b.type === "enum" && !b.values) details.push({ path: "/values", message: "is required for an enum" });
  if (b.type !== "enum" && b.values) details.push({ path: "/values", message: "is allowed only for an enum" });
  if (details.length) return { details };
  return {
    declaration: {
      name,
      type: b.type,
      ...(b.values ? { values: b.values } : {}),
      required: b.required === true,
      unique: b.unique === true,
      indexed: b.indexed === true,
    },
  };
}

/** The JSON Schema of one declared attribute's value (after normalisation). */
function valueSchema(d: AttributeDeclaration): Record<string, unknown> {
  switch (d.type) {
    case "string":
      return { type: "string", maxLength: 4096 };
    case "number":
      return { type: "number" };
    case "boolean":
      return { type: "boolean" };
    case "date":
      return { type: "string", format: "date-time" };
    case "phone":
      return { type: "string", pattern: "^\\+[1-9]\\d{6,14}$" };
    case "email":
      return { type: "string", format: "email" };
    case "enum":
      return { enum: d.values ?? [] };
  }
}

/** What a value of the type looks like, for messages ("expected ..."). */
export function expectedOf(d: AttributeDeclaration): string {
  switch (d.type) {
    case "string":
      return "a string";
    case "number":
      return "a number";
    case "boolean":
      return "true or false";
    case "date":
      return "an ISO-8601 date-time, e.g. 2026-01-31T00:00:00Z";
    case "phone":
      return "a phone number (E.164, or national in the default region)";
    case "email":
      return "an email address";
    case "enum":
      return `one of ${(d.values ?? []).map((v) => JSON.stringify(v)).join(", ")}`;
  }
}

/** Validates the `attributes` object of a customer against the declarations. */
export interface AttributeValidator {
  (attributes: unknown): ValidationDetail[];
}

/**
 * A validator for `attributes` under the declarations (compiled once per set of declarations).
 * Undeclared attributes are refused: a typo would otherwise become a new attribute silently.
 */
export function attributeValidator(
  declarations: readonly AttributeDeclaration[],
  base = "/attributes",
): AttributeValidator {
  const key = `${base}\n${JSON.stringify(declarations)}`;
  let cached = validators.get(key);
  if (!cached) {
    if (validators.size > 50) validators.clear();
    cached = compileAttributeValidator(declarations, base);
    validators.set(key, cached);
  }
  return cached;
}

/** Compiled validators by declarations (declarations change rarely; rows are validated by the million). */
const validators = new Map<string, AttributeValidator>();

function compileAttributeValidator(declarations: readonly AttributeDeclaration[], base: string): AttributeValidator {
  const byName = new Map(declarations.map((d) => [d.name, d]));
  const schema = {
    type: "object",
    additionalProperties: false,
    required: declarations.filter((d) => d.required).map((d) => d.name),
    properties: Object.fromEntries(declarations.map((d) => [d.name, valueSchema(d)])),
  };
  const validate: ValidateFunction = ajv.compile(schema);
  return (attributes) => {
    if (validate(attributes)) return [];
    return (validate.errors ?? []).map((e) => describeAttributeError(e, byName, base, attributes));
  };
}

function describeAttributeError(
  e: ErrorObject,
  byName: Map<string, AttributeDeclaration>,
  base: string,
  attributes: unknown,
): ValidationDetail {
  const p = e.params as Record<string, unknown>;
  if (e.keyword === "additionalProperties") {
    const name = String(p.additionalProperty);
    return {
      path: `${base}/${name}`,
      message: `is not a declared attribute (declare it with PUT /api/v1/attributes/${name}; declared: ${[...byName.keys()].join(", ") || "none"})`,
    };
  }
  if (e.keyword === "required") {
    const name = String(p.missingProperty);
    const d = byName.get(name);
    return { path: `${base}/${name}`, message: `is required (expected ${d ? expectedOf(d) : "a value"})` };
  }
  if (e.keyword === "type" && e.instancePath === "") return { path: base, message: "must be an object" };
  const name = e.instancePath.split("/")[1] ?? "";
  const d = byName.get(name);
  const got = JSON.stringify((attributes as Record<string, unknown>)[name]);
  return {
    path: `${base}${e.instancePath}`,
    message: `${got === undefined ? "is invalid" : `is ${got.length > 60 ? `${got.slice(0, 57)}...` : got}`}: expected ${d ? expectedOf(d) : "a valid value"}`,
  };
}

/**
 * A CSV cell (text) as the attribute's value, or why it cannot be one. Empty cells are
 * absent values. Numbers accept a decimal point only ("1,5" is ambiguous between locales).
 */
export function coerceCell(
  d: AttributeDeclaration,
  cell: string,
): { value: unknown } | { absent: true } | { error: string } {
  const text = cell.trim();
  if (text === "") return { absent: true };
  const fail = () => ({
    error: `${JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text)} is not ${expectedOf(d)}`,
  });
  switch (d.type) {
    case "number": {
      if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return fail();
      return { value: Number(text) };
    }
    case "boolean": {
      const t = text.toLowerCase();
      if (["true", "yes", "1", "y"].includes(t)) return { value: true };
      if (["false", "no", "0", "n"].includes(t)) return { value: false };
      return fail();
    }
    case "date": {
      // A date alone is midnight UTC; anything else must carry its offset.
      const iso = /^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text;
      if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i.test(iso)) return fail();
      const t = new Date(iso);
      return Number.isNaN(t.getTime()) ? fail() : { value: t.toISOString() };
    }
    case "enum":
      return (d.values ?? []).includes(text) ? { value: text } : fail();
    default:
      return { value: text };
  }
}
