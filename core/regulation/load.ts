/**
 * Loads and validates the regulation data files. The only I/O in core/regulation; every
 * rule function takes the loaded tables as arguments.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { schemaValidator, validateWith, type ValidationDetail } from "../validation/json-schema.ts";
import type { PhoneZoneTable, RegulationTable } from "./types.ts";

export const REGULATION_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../config/regulation");

export class RegulationDataError extends Error {
  readonly file: string;
  readonly details: ValidationDetail[];
  constructor(file: string, details: ValidationDetail[]) {
    super(
      `Invalid regulation data in ${file}\n${details.map((d) => `  ${file}: ${d.path || "/"} ${d.message}`).join("\n")}`,
    );
    this.name = "RegulationDataError";
    this.file = file;
    this.details = details;
  }
}

function readValidated(file: string, schema: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new RegulationDataError(file, [{ path: "", message: (err as Error).message }]);
  }
  const details = validateWith(schemaValidator(schema), value);
  if (details.length > 0) throw new RegulationDataError(file, details);
  return value;
}

export function loadRegulationTable(file = path.join(REGULATION_DIR, "jurisdictions.json")): RegulationTable {
  const table = readValidated(file, "regulation.schema.json") as RegulationTable;
  for (const [code, j] of Object.entries(table.jurisdictions)) {
    if (j.parent && !table.jurisdictions[j.parent]) {
      throw new RegulationDataError(file, [
        { path: `/jurisdictions/${code}/parent`, message: `names "${j.parent}", which is not in the table` },
      ]);
    }
  }
  return table;
}

export function loadPhoneZoneTable(file = path.join(REGULATION_DIR, "phone-zones.json")): PhoneZoneTable {
  return readValidated(file, "phone-zones.schema.json") as PhoneZoneTable;
}
