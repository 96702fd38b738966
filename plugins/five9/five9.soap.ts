/**
 * Private to the five9 plugin: the AdminWebService client, built with the `soap` package from
 * the WSDL kept beside this file (never fetched from Five9 at start), its endpoint set from the
 * options, HTTP Basic auth. Every failure becomes a Five9Error naming the fault or the
 * transport problem; the plugin decides what to do with it.
 */
import path from "node:path";
import * as soap from "soap";
import { faultName, isRetryableFault, type CallCounter, type RecordLayout } from "./five9.mapping.ts";

export const WSDL_PATH = path.resolve(import.meta.dirname, "five9-admin-v13.wsdl");

export type Five9ErrorKind = "fault" | "auth" | "http" | "network";

export class Five9Error extends Error {
  readonly kind: Five9ErrorKind;
  /** The fault's name (`OperationsLimitExceeded`), for kind "fault". */
  readonly fault: string | undefined;
  readonly retryable: boolean;

  constructor(kind: Five9ErrorKind, message: string, opts: { fault?: string; retryable: boolean; cause?: unknown }) {
    super(message, { cause: opts.cause });
    this.name = "Five9Error";
    this.kind = kind;
    this.fault = opts.fault;
    this.retryable = opts.retryable;
  }
}

export interface ImportTrouble {
  key?: string;
  kind?: string;
  rowNumber: number;
  troubleMessage?: string;
}

export interface ListImportResult {
  listRecordsInserted: number;
  listRecordsDeleted: number;
  uploadDuplicatesCount: number;
  uploadErrorsCount: number;
  importTroubles: ImportTrouble[];
  failureMessage?: string;
}

/** The generated client's methods this plugin calls (the soap package types them loosely). */
interface AdminClient {
  addRecordToListSimpleAsync(args: unknown, options?: unknown): Promise<[{ return?: unknown }]>;
  asyncAddRecordsToListAsync(args: unknown, options?: unknown): Promise<[{ return?: { identifier?: string } }]>;
  getListImportResultAsync(args: unknown, options?: unknown): Promise<[{ return?: unknown }]>;
  deleteRecordFromListAsync(args: unknown, options?: unknown): Promise<[{ return?: unknown }]>;
  deleteAllFromListAsync(args: unknown, options?: unknown): Promise<[{ return?: { identifier?: string } }]>;
  getCallCountersStateAsync(args: unknown, options?: unknown): Promise<[{ return?: unknown }]>;
}

function many<T>(value: T | T[] | undefined | null): T[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function num(value: unknown): number {
  const n = Number(value ?? 0);
  return Number.isFinite(n) ? n : 0;
}

function importResult(value: unknown): ListImportResult {
  const r = (value ?? {}) as Record<string, unknown>;
  return {
    listRecordsInserted: num(r.listRecordsInserted),
    listRecordsDeleted: num(r.listRecordsDeleted),
    uploadDuplicatesCount: num(r.uploadDuplicatesCount),
    uploadErrorsCount: num(r.uploadErrorsCount),
    importTroubles: many(r.importTroubles as Record<string, unknown>[] | undefined).map((t) => ({
      ...(typeof t.key === "string" ? { key: t.key } : {}),
      ...(typeof t.kind === "string" ? { kind: t.kind } : {}),
      rowNumber: num(t.rowNumber),
      ...(typeof t.troubleMessage === "string" ? { troubleMessage: t.troubleMessage } : {}),
    })),
    ...(typeof r.failureMessage === "string" ? { failureMessage: r.failureMessage } : {}),
  };
}

/** A soap/axios failure as a Five9Error. */
export function toFive9Error(err: unknown): Five9Error {
  const e = (err ?? {}) as {
    message?: string;
    code?: string;
    root?: { Envelope?: { Body?: { Fault?: { faultstring?: unknown; detail?: unknown } } } };
    response?: { status?: number };
  };
  const soapFault = e.root?.Envelope?.Body?.Fault;
  if (soapFault) {
    const detail = soapFault.detail;
    const element = detail && typeof detail === "object" ? Object.keys(detail)[0] : undefined;
    const name = faultName(element);
    const text = typeof soapFault.faultstring === "string" ? soapFault.faultstring : "SOAP fault";
    return new Five9Error("fault", `Five9 ${name ?? "fault"}: ${text}`, {
      ...(name !== undefined ? { fault: name } : {}),
      retryable: isRetryableFault(name),
      cause: err,
    });
  }
  const status = e.response?.status;
  if (status === 401 || status === 403) {
    return new Five9Error("auth", `Five9 refused the credentials (HTTP ${status})`, { retryable: false });
  }
  if (status !== undefined) {
    // 5xx without a fault body: a proxy or an outage in front of the service.
    return new Five9Error("http", `Five9 answered HTTP ${status}`, { retryable: status >= 500 || status === 429 });
  }
  return new Five9Error("network", `Five9 unreachable: ${e.code ?? e.message ?? String(err)}`, { retryable: true });
}

export interface Five9ClientOptions {
  endpoint: string;
  username: string;
  password: string;
  timeoutMs: number;
}

export class Five9AdminClient {
  private client: Promise<AdminClient> | undefined;
  private readonly opts: Five9ClientOptions;

  constructor(opts: Five9ClientOptions) {
    this.opts = opts;
  }

  private admin(): Promise<AdminClient> {
    this.client ??= soap
      .createClientAsync(WSDL_PATH, { endpoint: this.opts.endpoint })
      .then((client) => {
        client.setSecurity(new soap.BasicAuthSecurity(this.opts.username, this.opts.password));
        return client as unknown as AdminClient;
      })
      .catch((err: unknown) => {
        this.client = undefined;
        throw err;
      });
    return this.client;
  }

  private async call<T>(fn: (client: AdminClient, options: unknown) => Promise<T>): Promise<T> {
    const client = await this.admin();
    try {
      return await fn(client, { timeout: this.opts.timeoutMs });
    } catch (err) {
      throw toFive9Error(err);
    }
  }

  async addRecordSimple(listName: string, layout: RecordLayout, values: string[], countryCode: string) {
    const [res] = await this.call((c, o) =>
      c.addRecordToListSimpleAsync(
        {
          listName,
          listUpdateSimpleSettings: { countryCode, fieldsMapping: layout.fieldsMapping },
          record: { fields: values },
        },
        o,
      ),
    );
    return importResult(res.return);
  }

  /** Starts an import of at most 100 records; resolves its identifier. */
  async asyncAddRecords(listName: string, layout: RecordLayout, rows: string[][], countryCode: string) {
    const [res] = await this.call((c, o) =>
      c.asyncAddRecordsToListAsync(
        {
          listName,
          listUpdateSettings: {
            countryCode,
            fieldsMapping: layout.fieldsMapping,
            skipHeaderLine: false,
            cleanListBeforeUpdate: false,
            crmAddMode: "ADD_NEW",
            crmUpdateMode: "UPDATE_FIRST",
            listAddMode: "ADD_FIRST",
          },
          importData: { values: rows.map((item) => ({ item })) },
        },
        o,
      ),
    );
    const identifier = res.return?.identifier;
    if (!identifier) throw new Five9Error("fault", "Five9 answered no import identifier", { retryable: true });
    return identifier;
  }

  /** The import's result; undefined while it runs (ResultIsNotReady). */
  async listImportResult(identifier: string): Promise<ListImportResult | undefined> {
    try {
      const [res] = await this.call((c, o) => c.getListImportResultAsync({ identifier: { identifier } }, o));
      return importResult(res.return);
    } catch (err) {
      if (err instanceof Five9Error && err.fault === "ResultIsNotReady") return undefined;
      throw err;
    }
  }

  async deleteRecord(listName: string, layout: RecordLayout, key: string) {
    const keyEntry = layout.fieldsMapping.find((m) => m.key);
    const values = layout.fieldsMapping.map((m) => (m === keyEntry ? key : ""));
    const [res] = await this.call((c, o) =>
      c.deleteRecordFromListAsync(
        {
          listName,
          listDeleteSettings: {
            fieldsMapping: layout.fieldsMapping,
            skipHeaderLine: false,
            listDeleteMode: "DELETE_ALL",
          },
          record: { fields: values },
        },
        o,
      ),
    );
    return importResult(res.return);
  }

  /** Starts deleting every record of the list; resolves the identifier. */
  async deleteAll(listName: string): Promise<string> {
    const [res] = await this.call((c, o) => c.deleteAllFromListAsync({ listName }, o));
    const identifier = res.return?.identifier;
    if (!identifier) throw new Five9Error("fault", "Five9 answered no identifier for the delete", { retryable: true });
    return identifier;
  }

  async callCounters(): Promise<CallCounter[]> {
    const [res] = await this.call((c, o) => c.getCallCountersStateAsync({}, o));
    return many(res.return as Record<string, unknown>[] | undefined).flatMap((state) =>
      many(state.callCounterStates as Record<string, unknown>[] | undefined).map((c) => ({
        operationType: typeof c.operationType === "string" ? c.operationType : "",
        limit: num(c.limit),
        value: num(c.value),
        windowSeconds: num(state.timeout),
      })),
    );
  }
}
