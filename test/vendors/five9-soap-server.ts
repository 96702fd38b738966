/**
 * A local Five9 Configuration Web Services (AdminWebService v13) for the `five9` plugin's tests,
 * served with `soap.listen` from the WSDL kept in the plugin (plugins/five9/five9-admin-v13.wsdl),
 * so the plugin and this server agree on the messages exactly as the WSDL says. Point the
 * plugin's `endpoint` at `server.endpoint`.
 *
 * - HTTP Basic auth on every request (401 otherwise).
 * - Per-minute operation limits (a sliding minute): single-record imports
 *   (addRecordToListSimple, deleteRecordFromList) 160, asynchronous multi-record operations
 *   (asyncAddRecordsToList, deleteAllFromList) 20, queries (getListImportResult) 450, as Five9's
 *   defaults; over a limit the call answers an OperationsLimitExceeded fault. Configurable.
 *   getCallCountersState reports the counters (not counted itself).
 * - Lists of records. A record's key is the fields mapped with `key: true`; a record whose key
 *   is already in the list is not added again (counted as a duplicate), so resending is safe.
 *   A `number1` that is not 10 to 15 digits is an import trouble (ParseError) of that row.
 * - asyncAddRecordsToList answers an import identifier; the import completes after
 *   `asyncDelayMs`; until then getListImportResult answers a ResultIsNotReady fault.
 * - deleteAllFromList empties the list (asynchronous, confirmed with getListImportResult).
 *
 * Test hooks: `injectFault(name, times)` (the next `times` calls answer that fault),
 * `rejectNext()` (the next call answers WrongListData, a fault that is not retryable),
 * `records(list)`, `keyCount(key)`, `calls`, and the dialer: `webConnectorRequest(...)` builds
 * the HTTP POST Five9's Web Connector sends on a disposition, `dial(...)` sends it to a hub.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import * as soap from "soap";
import type { InboundRequest } from "@dialmesh/sdk";
import { deliverInbound, type DeliveredResponse } from "./deliver.ts";

export const FIVE9_NS = "http://service.admin.ws.five9.com/";
export const FIVE9_WSDL_PATH = path.resolve(import.meta.dirname, "../../plugins/five9/five9-admin-v13.wsdl");
const SERVICE_PATH = "/wsadmin/v13/AdminWebService";

/** Operation families Five9 limits per minute; also the counters' `operationType`. */
export type LimitedOperation = "SingleRecordImport" | "AsyncMultiRecordImport" | "Query";

export const DEFAULT_LIMITS_PER_MINUTE: Record<LimitedOperation, number> = {
  SingleRecordImport: 160,
  AsyncMultiRecordImport: 20,
  Query: 450,
};

export type Five9FaultName =
  | "OperationsLimitExceeded"
  | "ConcurrentModification"
  | "ServiceUnavailable"
  | "ListNotFound"
  | "ImportRecordsCountLimitExceeded"
  | "ResultIsNotReady"
  | "WrongListData";

export interface Five9ServerOptions {
  username?: string;
  password?: string;
  /** Dialing lists that exist. Default ["Dialmesh"]. */
  lists?: string[];
  limitsPerMinute?: Partial<Record<LimitedOperation, number>>;
  /** Time an asynchronous import takes. Default 0 (the next turn of the event loop). */
  asyncDelayMs?: number;
}

export interface ListRecord {
  key: string;
  fields: Record<string, string>;
}

export interface RecordedCall {
  operation: string;
  /** The fault answered, if any. */
  fault?: Five9FaultName;
  /** Records in the request (imports). */
  records?: number;
}

interface FieldEntry {
  columnNumber: number;
  fieldName: string;
  key: boolean;
}

interface ImportTrouble {
  key?: string;
  kind: string;
  rowNumber: number;
  troubleMessage: string;
}

interface ListImportResult {
  importIdentifier?: string;
  importTroubles?: ImportTrouble[];
  keyFields: string[];
  success: boolean;
  uploadDuplicatesCount: number;
  uploadErrorsCount: number;
  callNowQueued: number;
  crmRecordsInserted: number;
  crmRecordsUpdated: number;
  listName: string;
  listRecordsDeleted: number;
  listRecordsInserted: number;
  recordDispositionsReset: number;
}

interface SoapFaultError {
  Fault: {
    faultcode: string;
    faultstring: string;
    detail: Record<string, unknown>;
    statusCode: number;
  };
}

const MAX_ASYNC_RECORDS = 100;
const FAULT_MESSAGES: Record<Five9FaultName, string> = {
  OperationsLimitExceeded: "Operations limit exceeded, try again later",
  ConcurrentModification: "The list is being modified by another request",
  ServiceUnavailable: "Service is temporarily unavailable",
  ListNotFound: "List not found",
  ImportRecordsCountLimitExceeded: "Too many records in one request",
  ResultIsNotReady: "Import is still running",
  WrongListData: "Wrong list data",
};

function fault(name: Five9FaultName, message = FAULT_MESSAGES[name]): SoapFaultError {
  return {
    Fault: {
      faultcode: "soap:Server",
      faultstring: message,
      detail: { [`ns2:${name}Fault`]: { attributes: { "xmlns:ns2": FIVE9_NS }, message } },
      statusCode: 500,
    },
  };
}

/** Values of a repeated element, which the SOAP parser gives as one value or an array. */
function many<T>(value: T | T[] | undefined | null): T[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function str(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "object" && "$value" in value) return str((value as { $value: unknown }).$value);
  return typeof value === "string" ? value : String(value as number);
}

function fieldEntries(value: unknown): FieldEntry[] {
  return many(value as Record<string, unknown>[] | undefined).map((e) => ({
    columnNumber: Number(e.columnNumber),
    fieldName: str(e.fieldName),
    key: str(e.key) === "true",
  }));
}

function emptyResult(listName: string): ListImportResult {
  return {
    keyFields: [],
    success: true,
    uploadDuplicatesCount: 0,
    uploadErrorsCount: 0,
    callNowQueued: 0,
    crmRecordsInserted: 0,
    crmRecordsUpdated: 0,
    listName,
    listRecordsDeleted: 0,
    listRecordsInserted: 0,
    recordDispositionsReset: 0,
  };
}

export class Five9SoapServer {
  readonly username: string;
  readonly password: string;
  readonly limitsPerMinute: Record<LimitedOperation, number>;
  asyncDelayMs: number;
  /** Every authenticated call, in arrival order. */
  readonly calls: RecordedCall[] = [];
  /** Requests refused for bad credentials. */
  unauthorized = 0;
  private readonly lists = new Map<string, ListRecord[]>();
  private readonly windows = new Map<LimitedOperation, number[]>();
  private readonly imports = new Map<string, { ready: boolean; result: ListImportResult }>();
  private readonly injected: Five9FaultName[] = [];
  private server: Server | undefined;
  private url = "";
  private now: () => number = Date.now;

  constructor(opts: Five9ServerOptions = {}) {
    this.username = opts.username ?? "dialmesh.admin@example.com";
    this.password = opts.password ?? randomBytes(12).toString("hex");
    this.limitsPerMinute = { ...DEFAULT_LIMITS_PER_MINUTE, ...opts.limitsPerMinute };
    this.asyncDelayMs = opts.asyncDelayMs ?? 0;
    for (const name of opts.lists ?? ["Dialmesh"]) this.lists.set(name, []);
  }

  /** The AdminWebService URL (the plugin's `endpoint`). */
  get endpoint(): string {
    return `${this.url}${SERVICE_PATH}`;
  }

  async start(): Promise<this> {
    const server = createServer((_req, res) => {
      res.statusCode = 404;
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const soapServer = soap.listen(server, {
      path: SERVICE_PATH,
      services: this.services(),
      xml: readFileSync(FIVE9_WSDL_PATH, "utf8"),
      suppressStack: true,
    });
    soapServer.authorizeConnection = (req, res) => this.authorize(req as IncomingMessage, res as ServerResponse);
    this.server = server;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  // ------------------------------------------------------------------------------------------
  // Test hooks

  /** The next `times` calls (any operation but getCallCountersState) answer the fault. */
  injectFault(name: Five9FaultName, times = 1): void {
    for (let i = 0; i < times; i++) this.injected.push(name);
  }

  /** The next call answers WrongListData (Five9's answer to data it will not take; not retryable). */
  rejectNext(): void {
    this.injectFault("WrongListData");
  }

  addList(name: string): void {
    if (!this.lists.has(name)) this.lists.set(name, []);
  }

  /** The records of a list (live). */
  records(listName: string): ListRecord[] {
    return this.lists.get(listName) ?? [];
  }

  /** How many records hold this key, over every list. */
  keyCount(key: string): number {
    let n = 0;
    for (const records of this.lists.values()) n += records.filter((r) => r.key === key).length;
    return n;
  }

  /** Calls of one operation that were answered without a fault. */
  succeeded(operation: string): RecordedCall[] {
    return this.calls.filter((c) => c.operation === operation && c.fault === undefined);
  }

  /** Replaces the server's clock (for the per-minute limits). */
  setClock(now: () => number): void {
    this.now = now;
  }

  /**
   * The HTTP POST Five9's Web Connector sends when an agent or the dialer sets a disposition
   * on the record's call: form fields as the connector is configured in docs/plugins.md (five9).
   * `secret` goes in the URL query (`secret=`) or, with `via: "header"`, in X-Dialmesh-Secret.
   */
  webConnectorRequest(
    key: string,
    disposition: string,
    opts: { url: string; secret?: string; via?: "query" | "header"; extra?: Record<string, string> },
  ): InboundRequest {
    const record = [...this.lists.entries()]
      .flatMap(([listName, records]) => records.map((r) => ({ listName, record: r })))
      .find((r) => r.record.key === key);
    const fields: Record<string, string> = {
      call_id: randomUUID().replaceAll("-", "").toUpperCase(),
      disposition,
      number1: record?.record.fields.number1 ?? "",
      list_name: record?.listName ?? "",
      campaign_name: "Dialmesh Outbound",
      dialmesh_key: key,
      ...(record?.record.fields.dialmesh_activity ? { dialmesh_activity: record.record.fields.dialmesh_activity } : {}),
      length: "37",
      ...opts.extra,
    };
    const url = new URL(opts.url);
    const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" };
    if (opts.secret !== undefined) {
      if (opts.via === "header") headers["x-dialmesh-secret"] = opts.secret;
      else url.searchParams.set("secret", opts.secret);
    }
    const body = new URLSearchParams(fields).toString();
    return {
      method: "POST",
      url: url.href,
      headers,
      query: Object.fromEntries(url.searchParams),
      rawBody: Buffer.from(body),
    };
  }

  /** Plays the dialer: "dials" the record and POSTs its disposition to the hub. */
  async dial(
    key: string,
    disposition: string,
    opts: { url: string; target: string; secret?: string; via?: "query" | "header" },
  ): Promise<DeliveredResponse> {
    return deliverInbound(this.webConnectorRequest(key, disposition, opts), opts.target);
  }

  // ------------------------------------------------------------------------------------------
  // The service

  private authorize(req: IncomingMessage, res: ServerResponse): boolean {
    const expected = `Basic ${Buffer.from(`${this.username}:${this.password}`).toString("base64")}`;
    if (req.headers.authorization === expected) return true;
    this.unauthorized += 1;
    res.statusCode = 401;
    res.setHeader("WWW-Authenticate", 'Basic realm="Five9"');
    return false;
  }

  /** Records the call; throws an injected fault or the limit's fault. */
  private enter(operation: string, limited: LimitedOperation | undefined, records?: number): RecordedCall {
    const call: RecordedCall = { operation, ...(records !== undefined ? { records } : {}) };
    this.calls.push(call);
    const injected = this.injected.shift();
    if (injected) {
      call.fault = injected;
      throw fault(injected);
    }
    if (limited) {
      const window = this.window(limited);
      if (window.length >= this.limitsPerMinute[limited]) {
        call.fault = "OperationsLimitExceeded";
        throw fault(
          "OperationsLimitExceeded",
          `${limited} limit of ${this.limitsPerMinute[limited]} per minute exceeded, try again later`,
        );
      }
      window.push(this.now());
    }
    return call;
  }

  /** The calls of the last minute (pruned). */
  private window(limited: LimitedOperation): number[] {
    const since = this.now() - 60_000;
    const kept = (this.windows.get(limited) ?? []).filter((t) => t > since);
    this.windows.set(limited, kept);
    return kept;
  }

  private list(call: RecordedCall, listName: string): ListRecord[] {
    const records = this.lists.get(listName);
    if (!records) {
      call.fault = "ListNotFound";
      throw fault("ListNotFound", `List "${listName}" not found`);
    }
    return records;
  }

  /** Adds rows (values by column) to a list; the import's result. */
  private addRows(listName: string, records: ListRecord[], mapping: FieldEntry[], rows: string[][]): ListImportResult {
    const result = emptyResult(listName);
    result.keyFields = mapping.filter((m) => m.key).map((m) => m.fieldName);
    const troubles: ImportTrouble[] = [];
    rows.forEach((row, i) => {
      const fields: Record<string, string> = {};
      for (const m of mapping) fields[m.fieldName] = row[m.columnNumber - 1] ?? "";
      const key = result.keyFields.map((f) => fields[f] ?? "").join("|");
      const number = fields.number1 ?? "";
      if (!/^\d{10,15}$/.test(number)) {
        troubles.push({
          key,
          kind: "ParseError",
          rowNumber: i + 1,
          troubleMessage: `number1: invalid phone "${number}"`,
        });
        return;
      }
      if (key !== "" && records.some((r) => r.key === key)) {
        result.uploadDuplicatesCount += 1;
        return;
      }
      records.push({ key, fields });
      result.listRecordsInserted += 1;
      result.crmRecordsInserted += 1;
    });
    if (troubles.length > 0) {
      result.importTroubles = troubles;
      result.uploadErrorsCount = troubles.length;
    }
    return result;
  }

  private services(): soap.IServices {
    return {
      WsAdminService: {
        WsAdminPort: {
          addRecordToListSimple: (args: Record<string, unknown>) => {
            const call = this.enter("addRecordToListSimple", "SingleRecordImport", 1);
            const listName = str(args.listName);
            const records = this.list(call, listName);
            const settings = (args.listUpdateSimpleSettings ?? {}) as Record<string, unknown>;
            const fields = many((args.record as { fields?: unknown } | undefined)?.fields).map(str);
            return { return: this.addRows(listName, records, fieldEntries(settings.fieldsMapping), [fields]) };
          },
          asyncAddRecordsToList: (args: Record<string, unknown>) => {
            const rows = many((args.importData as { values?: unknown } | undefined)?.values).map((v) =>
              many((v as { item?: unknown }).item).map(str),
            );
            const call = this.enter("asyncAddRecordsToList", "AsyncMultiRecordImport", rows.length);
            const listName = str(args.listName);
            const records = this.list(call, listName);
            if (rows.length > MAX_ASYNC_RECORDS) {
              call.fault = "ImportRecordsCountLimitExceeded";
              throw fault(
                "ImportRecordsCountLimitExceeded",
                `asyncAddRecordsToList takes at most ${MAX_ASYNC_RECORDS} records, got ${rows.length}`,
              );
            }
            const settings = (args.listUpdateSettings ?? {}) as Record<string, unknown>;
            const mapping = fieldEntries(settings.fieldsMapping);
            const identifier = randomUUID();
            const entry = { ready: false, result: emptyResult(listName) };
            this.imports.set(identifier, entry);
            const complete = (): void => {
              entry.result = { ...this.addRows(listName, records, mapping, rows), importIdentifier: identifier };
              entry.ready = true;
            };
            if (this.asyncDelayMs > 0) setTimeout(complete, this.asyncDelayMs);
            else setImmediate(complete);
            return { return: { identifier } };
          },
          getListImportResult: (args: Record<string, unknown>) => {
            this.enter("getListImportResult", "Query");
            const identifier = str((args.identifier as { identifier?: unknown } | undefined)?.identifier);
            const entry = this.imports.get(identifier);
            if (!entry) throw fault("WrongListData", `Unknown import identifier "${identifier}"`);
            if (!entry.ready) throw fault("ResultIsNotReady");
            return { return: entry.result };
          },
          deleteRecordFromList: (args: Record<string, unknown>) => {
            const call = this.enter("deleteRecordFromList", "SingleRecordImport", 1);
            const listName = str(args.listName);
            const records = this.list(call, listName);
            const settings = (args.listDeleteSettings ?? {}) as Record<string, unknown>;
            const mapping = fieldEntries(settings.fieldsMapping).filter((m) => m.key);
            const values = many((args.record as { fields?: unknown } | undefined)?.fields).map(str);
            const key = mapping.map((m) => values[m.columnNumber - 1] ?? "").join("|");
            const result = emptyResult(listName);
            const index = records.findIndex((r) => r.key === key);
            if (index >= 0) {
              records.splice(index, 1);
              result.listRecordsDeleted = 1;
            }
            return { return: result };
          },
          deleteAllFromList: (args: Record<string, unknown>) => {
            const call = this.enter("deleteAllFromList", "AsyncMultiRecordImport");
            const listName = str(args.listName);
            const records = this.list(call, listName);
            const identifier = randomUUID();
            const entry = { ready: false, result: emptyResult(listName) };
            this.imports.set(identifier, entry);
            setImmediate(() => {
              entry.result.listRecordsDeleted = records.splice(0).length;
              entry.result.importIdentifier = identifier;
              entry.ready = true;
            });
            return { return: { identifier } };
          },
          getCallCountersState: () => {
            this.calls.push({ operation: "getCallCountersState" });
            const states = (Object.keys(this.limitsPerMinute) as LimitedOperation[]).map((op) => ({
              limit: this.limitsPerMinute[op],
              operationType: op,
              value: this.window(op).length,
            }));
            return { return: [{ callCounterStates: states, timeout: 60 }] };
          },
        },
      },
    };
  }
}

export async function startFive9Server(opts: Five9ServerOptions = {}): Promise<Five9SoapServer> {
  return new Five9SoapServer(opts).start();
}
