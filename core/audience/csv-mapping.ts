/**
 * CSV import, the pure part: the import options (mapping column -> customer field, dedupe key,
 * mode), the header check, one row -> one customer update, and which rows of a batch to write
 * given what the store already holds (duplicates within the file, insert-only, update-only).
 */
import { createHash } from "node:crypto";
import type { CountryCode } from "libphonenumber-js";
import { IANAZone } from "luxon";
import type { ValidationDetail } from "../validation/json-schema.ts";
import type { PhoneZoneTable } from "../regulation/types.ts";
import { coerceCell, type AttributeDeclaration } from "./attributes.ts";
import { isRegion, normalizeCustomerPhone, normalizeEmail, type CustomerPhone } from "./contact-points.ts";
import { CUSTOMER_ID, CUSTOMER_ID_EXPECTED } from "./customer.ts";

export const IMPORT_MODES = ["upsert", "insert-only", "update-only"] as const;
export type ImportMode = (typeof IMPORT_MODES)[number];
export const ENCODINGS = ["utf-8", "latin1", "windows-1252"] as const;
export const DNC_ACTIONS = ["flag", "reject"] as const;
export type DncAction = (typeof DNC_ACTIONS)[number];
/** A DNC list id, as the lists API takes it. */
const DNC_LIST_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
export type ImportEncoding = (typeof ENCODINGS)[number];
export const MAX_PHONES = 10;

/** Where a column goes: a customer field, `phones[n]`, or `attributes.<name>`. */
export type Target =
  | { kind: "id" | "firstName" | "lastName" | "email" | "timezone" }
  | { kind: "phone"; index: number }
  | { kind: "attribute"; name: string };

export interface ImportOptions {
  mapping: Record<string, string>;
  /** Saved under this id when `mapping` is given, loaded from it when not. */
  mappingId?: string;
  dedupeKey: string;
  defaultRegion?: CountryCode;
  mode: ImportMode;
  delimiter: string;
  encoding: ImportEncoding;
  /** The id of an interrupted (or failed, cancelled) job to go on with, on the same file. */
  resume?: string;
  /** DNC lists each row's phones and email are checked against, in order. */
  dncLists?: string[];
  /** A row on a list: `flag` (imported and counted, the default) or `reject` (not imported). */
  dncAction: DncAction;
}

const SIMPLE = new Set(["id", "firstName", "lastName", "email", "timezone"]);

export function parseTarget(target: string): Target | undefined {
  if (SIMPLE.has(target)) return { kind: target as "id" };
  const phone = /^phones\[(\d)\]$/.exec(target);
  if (phone) return Number(phone[1]) < MAX_PHONES ? { kind: "phone", index: Number(phone[1]) } : undefined;
  const attr = /^attributes\.([A-Za-z_][A-Za-z0-9_-]{0,63})$/.exec(target);
  return attr ? { kind: "attribute", name: attr[1]! } : undefined;
}

const TARGETS_EXPECTED = `id, firstName, lastName, email, timezone, phones[0]..phones[${MAX_PHONES - 1}] or attributes.<declared name>`;

export const DELIMITER_EXPECTED = 'must be one character, e.g. "," ";" or "\\t"';
export const ENCODING_EXPECTED = `must be one of ${ENCODINGS.join(", ")}`;

/** The CSV delimiter option (`,` when absent), or undefined when it is not one usable character. */
export function parseDelimiter(raw: unknown): string | undefined {
  const delimiter = raw ?? ",";
  return typeof delimiter === "string" && delimiter.length === 1 && !/["\r\n]/.test(delimiter) ? delimiter : undefined;
}

/** The encoding option (`utf-8` unless a string; `utf8` and `iso-8859-1` accepted), or undefined. */
export function parseEncoding(raw: unknown): ImportEncoding | undefined {
  if (typeof raw !== "string") return "utf-8";
  const encoding = raw
    .toLowerCase()
    .replace(/^utf8$/, "utf-8")
    .replace(/^iso-8859-1$/, "latin1");
  return (ENCODINGS as readonly string[]).includes(encoding) ? (encoding as ImportEncoding) : undefined;
}

/**
 * The options of an import (the `options` part, or a saved mapping plus query parameters),
 * checked against the declared attributes. `saved` is the mapping stored under `mappingId`.
 */
/** Every import option (the `options` part); all but `mapping` can also be query parameters. */
export const IMPORT_OPTION_KEYS: readonly string[] = [
  "mapping",
  "mappingId",
  "dedupeKey",
  "defaultRegion",
  "mode",
  "delimiter",
  "encoding",
  "resume",
  "dncLists",
  "dncAction",
];

export function parseImportOptions(
  raw: unknown,
  declarations: readonly AttributeDeclaration[],
  saved?: Record<string, string>,
): { options: ImportOptions } | { details: ValidationDetail[] } {
  const details: ValidationDetail[] = [];
  if (raw === null || typeof raw !== "object" || Array.isArray(raw))
    return { details: [{ path: "/options", message: "must be a JSON object ({mapping, dedupeKey, mode, ...})" }] };
  const o = raw as Record<string, unknown>;
  const known = IMPORT_OPTION_KEYS;
  for (const k of Object.keys(o))
    if (!known.includes(k))
      details.push({ path: `/options/${k}`, message: `is not a known option (expected ${known.join(", ")})` });
  if (o.mappingId !== undefined && (typeof o.mappingId !== "string" || !/^[A-Za-z0-9._-]{1,64}$/.test(o.mappingId)))
    details.push({ path: "/options/mappingId", message: "must be 1 to 64 letters, digits, . _ -" });
  let mapping: Record<string, string> = {};
  if (o.mapping !== undefined) {
    if (o.mapping === null || typeof o.mapping !== "object" || Array.isArray(o.mapping))
      details.push({ path: "/options/mapping", message: 'must be an object {"CSV column": "customer field"}' });
    else mapping = o.mapping as Record<string, string>;
  } else if (saved) mapping = saved;
  else if (typeof o.mappingId === "string")
    details.push({ path: "/options/mappingId", message: `no mapping is saved as "${o.mappingId}"` });
  else details.push({ path: "/options/mapping", message: "is required (or a mappingId of a saved mapping)" });

  const byName = new Map(declarations.map((d) => [d.name, d]));
  const targets = new Map<string, string>();
  for (const [column, target] of Object.entries(mapping)) {
    const at = `/options/mapping/${column.replace(/~/g, "~0").replace(/\//g, "~1")}`;
    const t = typeof target === "string" ? parseTarget(target) : undefined;
    if (!t) {
      details.push({ path: at, message: `${JSON.stringify(target)} is not a field (expected ${TARGETS_EXPECTED})` });
      continue;
    }
    if (t.kind === "attribute" && !byName.has(t.name))
      details.push({
        path: at,
        message: `attributes.${t.name} is not declared (PUT /api/v1/attributes/${t.name} first)`,
      });
    const other = targets.get(target);
    if (other !== undefined) details.push({ path: at, message: `maps to ${target}, as "${other}" does already` });
    targets.set(target, column);
  }

  const mode = o.mode ?? "upsert";
  if (!(IMPORT_MODES as readonly unknown[]).includes(mode))
    details.push({ path: "/options/mode", message: `must be one of ${IMPORT_MODES.join(", ")}` });
  const dedupeKey = o.dedupeKey ?? "id";
  if (
    typeof dedupeKey !== "string" ||
    !parseTarget(dedupeKey) ||
    dedupeKey === "firstName" ||
    dedupeKey === "lastName" ||
    dedupeKey === "timezone"
  )
    details.push({ path: "/options/dedupeKey", message: "must be id, email, phones[n] or attributes.<name>" });
  else if (targets.has("id") && dedupeKey !== "id")
    details.push({
      path: "/options/dedupeKey",
      message: "must be id when a column is mapped to id (the id is the customer)",
    });
  else if (!targets.has(dedupeKey))
    details.push({ path: "/options/dedupeKey", message: `${dedupeKey} is not mapped from any column` });
  if (mode !== "update-only")
    for (const d of declarations)
      if (d.required && !targets.has(`attributes.${d.name}`))
        details.push({
          path: "/options/mapping",
          message: `maps no column to the required attribute attributes.${d.name}`,
        });
  if (o.defaultRegion !== undefined && !isRegion(o.defaultRegion))
    details.push({ path: "/options/defaultRegion", message: "must be an ISO 3166-1 region, e.g. US" });
  const delimiter = parseDelimiter(o.delimiter);
  if (delimiter === undefined) details.push({ path: "/options/delimiter", message: DELIMITER_EXPECTED });
  const encoding = parseEncoding(o.encoding);
  if (encoding === undefined) details.push({ path: "/options/encoding", message: ENCODING_EXPECTED });
  if (o.resume !== undefined && (typeof o.resume !== "string" || !/^imp_[0-9a-z]+$/.test(o.resume)))
    details.push({ path: "/options/resume", message: "must be the id of an earlier import (imp_...)" });
  if (o.dncLists !== undefined) {
    if (!Array.isArray(o.dncLists) || o.dncLists.length === 0 || o.dncLists.length > 20)
      details.push({ path: "/options/dncLists", message: "must be a list of 1 to 20 DNC list ids" });
    else
      o.dncLists.forEach((id: unknown, i) => {
        if (typeof id !== "string" || !DNC_LIST_ID.test(id))
          details.push({
            path: `/options/dncLists/${i}`,
            message: "must be a DNC list id (1 to 100 letters, digits, . _ -)",
          });
      });
  }
  const dncAction = o.dncAction ?? "flag";
  if (!(DNC_ACTIONS as readonly unknown[]).includes(dncAction))
    details.push({ path: "/options/dncAction", message: `must be one of ${DNC_ACTIONS.join(", ")}` });
  else if (o.dncAction !== undefined && o.dncLists === undefined)
    details.push({ path: "/options/dncAction", message: "applies to dncLists: name the lists too" });
  if (details.length) return { details };
  return {
    options: {
      mapping,
      ...(typeof o.mappingId === "string" ? { mappingId: o.mappingId } : {}),
      dedupeKey: dedupeKey as string,
      ...(o.defaultRegion ? { defaultRegion: o.defaultRegion as CountryCode } : {}),
      mode: mode as ImportMode,
      delimiter: delimiter!,
      encoding: encoding!,
      ...(typeof o.resume === "string" ? { resume: o.resume } : {}),
      ...(Array.isArray(o.dncLists) ? { dncLists: [...new Set(o.dncLists as string[])] } : {}),
      dncAction: dncAction as DncAction,
    },
  };
}

/** One mapped column: its index in the header and where it goes. */
export interface ColumnPlan {
  column: string;
  index: number;
  target: Target;
  /** Its declaration, for attributes. */
  declaration?: AttributeDeclaration;
}

export interface RowPlan {
  columns: ColumnPlan[];
  header: string[];
  dedupeKey: string;
  defaultRegion: CountryCode | undefined;
  declarations: readonly AttributeDeclaration[];
}

/** The header against the mapping: every mapped column present, once. Problems are on line 1. */
export function planColumns(
  header: string[],
  options: ImportOptions,
  declarations: readonly AttributeDeclaration[],
): { plan: RowPlan } | { error: string } {
  const positions = new Map<string, number>();
  const repeated: string[] = [];
  header.forEach((name, i) => {
    const key = name.trim();
    if (positions.has(key)) repeated.push(key);
    else positions.set(key, i);
  });
  const missing = Object.keys(options.mapping).filter((c) => !positions.has(c));
  if (missing.length) {
    const only = header.length === 1 ? header[0]! : "";
    const other = [";", "\t", "|", ","].find((d) => d !== options.delimiter && only.includes(d));
    const hint = other
      ? ` The header has a single column: the file looks delimited by ${JSON.stringify(other)}; set "delimiter": ${JSON.stringify(other)}.`
      : ` The header has: ${header.map((h) => JSON.stringify(h)).join(", ")}.`;
    return {
      error: `line 1: the mapped column${missing.length > 1 ? "s" : ""} ${missing.map((m) => JSON.stringify(m)).join(", ")} ${missing.length > 1 ? "are" : "is"} not in the header.${hint}`,
    };
  }
  const mappedRepeats = repeated.filter((r) => Object.hasOwn(options.mapping, r));
  if (mappedRepeats.length)
    return {
      error: `line 1: the mapped column ${JSON.stringify(mappedRepeats[0])} appears more than once in the header`,
    };
  const byName = new Map(declarations.map((d) => [d.name, d]));
  const columns = Object.entries(options.mapping).map(([column, target]) => {
    const t = parseTarget(target)!;
    return {
      column,
      index: positions.get(column)!,
      target: t,
      ...(t.kind === "attribute" ? { declaration: byName.get(t.name)! } : {}),
    };
  });
  return {
    plan: { columns, header, dedupeKey: options.dedupeKey, defaultRegion: options.defaultRegion, declarations },
  };
}

/** What one row writes: `$set` paths of the customer (only the non-empty mapped cells). */
export interface MappedRow {
  line: number;
  /** The customer's `_id`, from the dedupe key. */
  id: string;
  set: Record<string, unknown>;
  /** Phones dropped from the row because they do not parse. */
  warnings: { column: string; reason: string }[];
}

export interface RejectedRow {
  line: number;
  column: string;
  reason: string;
}

/**
 * The `_id` of the customer a dedupe key value names: the value itself for `id`, otherwise a
 * hash of the normalised value, so that every node (and every re-run) finds the same customer.
 */
export function customerIdFor(dedupeKey: string, value: string): string {
  if (dedupeKey === "id") return value;
  return `c_${createHash("sha256").update(`${dedupeKey}\u0000${value}`).digest("base64url").slice(0, 22)}`;
}

/** Maps one CSV record (its fields in header order) to a customer update, or rejects it. */
export function mapRow(fields: string[], line: number, plan: RowPlan, zones: PhoneZoneTable): MappedRow | RejectedRow {
  if (fields.length !== plan.header.length)
    return {
      line,
      column: "",
      reason: `has ${fields.length} field${fields.length === 1 ? "" : "s"}, the header has ${plan.header.length}`,
    };
  const set: Record<string, unknown> = {};
  const phones: (CustomerPhone | undefined)[] = [];
  const warnings: MappedRow["warnings"] = [];
  let key: string | undefined;
  for (const c of plan.columns) {
    const cell = (fields[c.index] ?? "").trim();
    const t = c.target;
    const isKey =
      (t.kind === "phone" && plan.dedupeKey === `phones[${t.index}]`) ||
      (t.kind === "attribute" && plan.dedupeKey === `attributes.${t.name}`) ||
      t.kind === plan.dedupeKey;
    if (cell === "") {
      if (isKey) return { line, column: c.column, reason: `the dedupe key ${plan.dedupeKey} is empty` };
      if (c.declaration?.required)
        return { line, column: c.column, reason: `attributes.${c.declaration.name} is required` };
      continue;
    }
    switch (t.kind) {
      case "id":
        if (!CUSTOMER_ID.test(cell))
          return {
            line,
            column: c.column,
            reason: `${JSON.stringify(cell.slice(0, 60))} is not a customer id (${CUSTOMER_ID_EXPECTED})`,
          };
        key = cell;
        break;
      case "firstName":
      case "lastName":
        set[t.kind] = cell.slice(0, 200);
        break;
      case "email": {
        const email = normalizeEmail(cell);
        if (!email)
          return { line, column: c.column, reason: `${JSON.stringify(cell.slice(0, 60))} is not an email address` };
        set.email = email;
        if (isKey) key = email;
        break;
      }
      case "timezone":
        if (!IANAZone.isValidZone(cell))
          return { line, column: c.column, reason: `${JSON.stringify(cell.slice(0, 60))} is not an IANA time zone` };
        set.timezone = cell;
        break;
      case "phone": {
        const phone = normalizeCustomerPhone(cell, c.column, plan.defaultRegion, zones);
        if (!phone) {
          const reason = `${JSON.stringify(cell.slice(0, 60))} is not a valid phone number${plan.defaultRegion ? ` (default region ${plan.defaultRegion})` : " (no default region: give E.164)"}`;
          if (isKey) return { line, column: c.column, reason };
          warnings.push({ column: c.column, reason: `${reason}; dropped` });
          break;
        }
        phones[t.index] = phone;
        if (isKey) key = phone.number;
        break;
      }
      case "attribute": {
        const d = c.declaration!;
        let value: unknown;
        if (d.type === "phone") {
          value = normalizeCustomerPhone(cell, "", plan.defaultRegion, zones)?.number;
          if (value === undefined)
            return {
              line,
              column: c.column,
              reason: `${JSON.stringify(cell.slice(0, 60))} is not a valid phone number (attributes.${d.name})`,
            };
        } else if (d.type === "email") {
          value = normalizeEmail(cell);
          if (value === undefined)
            return {
              line,
              column: c.column,
              reason: `${JSON.stringify(cell.slice(0, 60))} is not an email address (attributes.${d.name})`,
            };
        } else {
          const v = coerceCell(d, cell);
          if ("error" in v) return { line, column: c.column, reason: `attributes.${d.name}: ${v.error}` };
          if ("absent" in v) continue;
          value = v.value;
        }
        set[`attributes.${d.name}`] = value;
        if (isKey) key = String(value);
        break;
      }
    }
  }
  // Phones keep the order of their indexes; a duplicate number is kept once.
  const kept: CustomerPhone[] = [];
  for (const p of phones) if (p && !kept.some((k) => k.number === p.number)) kept.push(p);
  if (kept.length) set.phones = kept;
  if (key === undefined) return { line, column: "", reason: `the dedupe key ${plan.dedupeKey} is empty` };
  return { line, id: customerIdFor(plan.dedupeKey, key), set, warnings };
}

export function isRejected(row: MappedRow | RejectedRow): row is RejectedRow {
  return "reason" in row;
}

/** What the store holds for a customer id of a batch (looked up before writing it). */
export interface ExistingCustomer {
  importJobId?: string;
  importLine?: number;
}

export interface BatchPlan {
  /** Rows to write; `exists` says whether the customer was there before the batch. */
  writes: { row: MappedRow; exists: boolean }[];
  /** Rows whose customer an earlier row of this file (or batch) already imported. */
  duplicates: { line: number; firstLine: number }[];
  /** Rows the mode leaves alone (insert-only: exists; update-only: does not exist). */
  skipped: RejectedRow[];
  /** Rows an earlier run of this very job wrote (a resumed job re-reading its last batch). */
  landedBefore: number;
}

/**
 * Which rows of a batch to write. The first row of the file with a dedupe key wins; a later one
 * is a duplicate, found in the batch, in `previous` (customer id -> line the previous batch
 * wrote: it was still landing while this batch was looked up), or by the job id and line the
 * store keeps on each customer.
 */
export function planBatch(
  rows: MappedRow[],
  existing: ReadonlyMap<string, ExistingCustomer>,
  mode: ImportMode,
  jobId: string,
  previous: ReadonlyMap<string, number> = new Map(),
): BatchPlan {
  const plan: BatchPlan = { writes: [], duplicates: [], skipped: [], landedBefore: 0 };
  const firstInBatch = new Map<string, number>();
  for (const row of rows) {
    const first = firstInBatch.get(row.id) ?? previous.get(row.id);
    if (first !== undefined) {
      plan.duplicates.push({ line: row.line, firstLine: first });
      continue;
    }
    firstInBatch.set(row.id, row.line);
    const found = existing.get(row.id);
    if (found?.importJobId === jobId) {
      if (found.importLine === row.line) plan.landedBefore++;
      else plan.duplicates.push({ line: row.line, firstLine: found.importLine ?? 0 });
      continue;
    }
    if (mode === "insert-only" && found) {
      plan.skipped.push({ line: row.line, column: "", reason: "the customer exists (mode insert-only)" });
      continue;
    }
    if (mode === "update-only" && !found) {
      plan.skipped.push({ line: row.line, column: "", reason: "no such customer (mode update-only)" });
      continue;
    }
    plan.writes.push({ row, exists: found !== undefined });
  }
  return plan;
}
