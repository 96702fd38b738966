/** One ajv instance for the project's JSON Schemas; errors as JSON pointers with plain messages. */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Ajv2020, { type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

export interface ValidationDetail {
  /** JSON pointer of the offending value ("" is the document itself). */
  path: string;
  message: string;
}

export const SCHEMAS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../schemas");

export function createAjv(): Ajv2020.default {
  const ajv = new Ajv2020.default({ allErrors: true, strict: false, useDefaults: false });
  addFormats.default(ajv);
  return ajv;
}

const shared = createAjv();
const byFile = new Map<string, ValidateFunction>();

/** Compiled validator for a schema file in schemas/ (or at an absolute path). */
export function schemaValidator(file: string): ValidateFunction {
  let validate = byFile.get(file);
  if (!validate) {
    const schema = JSON.parse(readFileSync(path.resolve(SCHEMAS_DIR, file), "utf8")) as Record<string, unknown>;
    validate = shared.compile(schema);
    byFile.set(file, validate);
  }
  return validate;
}

function describe(error: ErrorObject): ValidationDetail {
  const p = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case "required":
      return { path: `${error.instancePath}/${String(p.missingProperty)}`, message: "is required" };
    case "additionalProperties":
      return {
        path: `${error.instancePath}/${String(p.additionalProperty)}`,
        message: "is not a known property",
      };
    case "enum":
      return {
        path: error.instancePath,
        message: `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")}`,
      };
    default:
      return { path: error.instancePath, message: error.message ?? "is invalid" };
  }
}

/** Plain details, one per offending place, without ajv's structural noise (anyOf branches). */
export function toDetails(errors: ErrorObject[] | null | undefined): ValidationDetail[] {
  const seen = new Set<string>();
  const out: ValidationDetail[] = [];
  for (const error of errors ?? []) {
    if (error.keyword === "if" || error.keyword === "anyOf" || error.keyword === "oneOf") continue;
    const detail = describe(error);
    const key = `${detail.path}|${detail.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(detail);
    }
  }
  return out;
}

/** Validates `value`; returns the details (empty when valid). */
export function validateWith(validate: ValidateFunction, value: unknown): ValidationDetail[] {
  return validate(value) ? [] : toDetails(validate.errors);
}
