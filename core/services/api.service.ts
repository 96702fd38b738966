/**
 * `api`: the REST API (moleculer-web). Bearer keys on everything but /health and the vendor
 * webhooks, whose own signatures authenticate them. Errors are JSON:
 * `{ "error": "ValidationError", "message": "...", "details": [ { "path", "message" } ] }`.
 */
import { checkQueryStrings } from "./query.ts";
import type { IncomingMessage, ServerResponse } from "node:http";
import { timingSafeEqual, createHash } from "node:crypto";
import {
  Errors,
  type Context,
  type ServiceSchema,
  type ServiceSettingSchema,
  Service,
  type ServiceBroker,
} from "moleculer";
import ApiGateway from "moleculer-web";
import type { ApiKeyConfig, Role } from "../config/types.ts";
import { runtimeOf, type HubRuntime } from "./runtime.ts";
import { ValidationError, type HttpMeta, type UploadMeta } from "./errors.ts";

/** The REST API under /api/v1: "METHOD path" -> action. */
const API_V1_ALIASES: Record<string, string> = {
  "POST activities": "scheduler.schedule",
  "GET activities": "scheduler.list",
  "GET activities/:id": "scheduler.get",
  "DELETE activities/:id": "scheduler.cancel",
  "GET conversations": "conversations.list",
  "GET conversations/:id": "conversations.get",
  "POST webhooks": "webhooks.subscribe",
  "GET webhooks": "webhooks.list",
  "GET webhooks/dead-letters": "webhooks.deadLetters",
  "POST webhooks/dead-letters/replay": "webhooks.replay",
  "POST webhooks/dead-letters/:id/replay": "webhooks.replay",
  "DELETE webhooks/:id": "webhooks.remove",
  "GET plugins": "plugins.list",
  "POST plugins": "plugins.add",
  "POST plugins/:id/reload": "plugins.reload",
  "POST plugins/:id/enable": "plugins.enable",
  "POST plugins/:id/disable": "plugins.disable",
  "DELETE plugins/:id": "plugins.remove",
  "GET plugins/:id/:view": "plugins.view",
  "POST plugins/:id/actions/:action": "plugins.action",
  "GET suppressions": "compliance.list",
  "POST suppressions": "compliance.suppress",
  "GET suppressions/:address": "compliance.check",
  "DELETE suppressions/:address": "compliance.lift",
  "GET dialer/campaigns": "dialer.listCampaigns",
  "PUT dialer/campaigns/:id": "dialer.putCampaign",
  "GET dialer/campaigns/:id": "dialer.getCampaign",
  "POST dialer/campaigns/:id/start": "dialer.start",
  "POST dialer/campaigns/:id/stop": "dialer.stop",
  "POST dialer/campaigns/:id/purge": "dialer.purge",
  "GET dialer/campaigns/:id/status": "dialer.status",
  "GET agents": "dialer.listAgents",
  "PUT agents/:id": "dialer.putAgent",
  "GET agents/:id": "dialer.getAgent",
  "POST agents/:id/state": "dialer.setAgentState",
  "GET agents/:id/preview": "dialer.getPreview",
  "POST agents/:id/preview/dial": "dialer.previewDial",
  "POST agents/:id/preview/skip": "dialer.previewSkip",
  "POST queues/:id/inbound": "dialer.setInbound",
  "GET customers": "customers.list",
  "PUT customers/:id": "customers.put",
  "GET customers/:id": "customers.get",
  "DELETE customers/:id": "customers.remove",
  "GET customers/:id/consents": "consents.list",
  "POST customers/:id/consents": "consents.record",
  "POST customers/:id/objections": "consents.object",
  // Admin only (not in REQUIRED_ROLE): an export hands over everything held about a person.
  "POST customers/:id/erase": "privacy.erase",
  "GET customers/:id/export": "privacy.export",
  "GET attributes": "customers.listAttributes",
  "PUT attributes/:name": "customers.putAttribute",
  "GET attributes/:name": "customers.getAttribute",
  "GET filters": "filters.list",
  "PUT filters/:id": "filters.put",
  "GET filters/:id": "filters.get",
  "DELETE filters/:id": "filters.remove",
  "GET filters/:id/preview": "filters.preview",
  "GET imports/:id": "imports.get",
  "GET imports/:id/events": "imports.events",
  "GET imports/:id/rejected": "imports.rejected",
  "POST imports/:id/cancel": "imports.cancel",
  "GET dnc-lists": "dnc.list",
  "PUT dnc-lists/:id": "dnc.put",
  "GET dnc-lists/:id": "dnc.get",
  "DELETE dnc-lists/:id": "dnc.remove",
  "GET dnc-lists/:id/entries": "dnc.entries",
  "DELETE dnc-lists/:id/entries/:value": "dnc.removeEntry",
  "POST dnc-lists/:id/scrub": "dnc.scrub",
};

/** Uploads at /api/v1/imports, streamed to their action (no body parser; multipart or text/csv). */
const UPLOAD_ALIASES: Record<string, string> = { "POST /": "stream:imports.start" };
/** A DNC list's load under /api/v1/dnc-lists: JSON, or a text/csv body streamed to the action. */
const DNC_LOAD_ALIASES: Record<string, string> = { "POST :id/entries": "stream:dnc.addEntries" };

/** Health and metrics at the root. */
const ROOT_ALIASES: Record<string, string> = { "GET health": "api.health", "GET metrics": "api.metrics" };
/** Vendor callbacks under /webhooks (no API key; the vendor's signature). */
const VENDOR_WEBHOOK_ALIASES: Record<string, string> = {
  "GET :pluginId": "api.vendorWebhook",
  "POST :pluginId": "api.vendorWebhook",
};

/** Every route the API serves, as "METHOD /full/path" with :params. */
const ROUTES = [
  ...Object.keys(UPLOAD_ALIASES).map((a) => a.replace(" /", " /api/v1/imports")),
  ...Object.keys(DNC_LOAD_ALIASES).map((a) => a.replace(" ", " /api/v1/dnc-lists/")),
  ...Object.keys(API_V1_ALIASES).map((a) => a.replace(" ", " /api/v1/")),
  ...Object.keys(ROOT_ALIASES).map((a) => a.replace(" ", " /")),
  ...Object.keys(VENDOR_WEBHOOK_ALIASES).map((a) => a.replace(" ", " /webhooks/")),
].map((r) => {
  const [method, path] = r.split(" ") as [string, string];
  return { method, pattern: new RegExp(`^${path.replace(/:[A-Za-z]+/g, "[^/]+")}/?$`) };
});

/** The methods a path is served with (empty for a path the API does not have). */
export function allowedMethods(path: string): string[] {
  return [...new Set(ROUTES.filter((r) => r.pattern.test(path)).map((r) => r.method))].sort();
}

type Req = IncomingMessage & {
  $action?: { name: string };
  $ctx?: Context<unknown, HttpMeta>;
  originalUrl?: string;
  query?: Record<string, string>;
  body?: unknown;
  $params?: Record<string, unknown>;
};

/** Least role each action needs; anything not listed needs `admin`. */
const REQUIRED_ROLE: Record<string, Role> = {
  "scheduler.schedule": "writer",
  "scheduler.cancel": "writer",
  "scheduler.get": "reader",
  "scheduler.list": "reader",
  "conversations.list": "reader",
  "conversations.get": "reader",
  "plugins.list": "reader",
  "compliance.check": "reader",
  "dialer.listCampaigns": "reader",
  "dialer.getCampaign": "reader",
  "dialer.status": "reader",
  "dialer.listAgents": "reader",
  "dialer.getAgent": "reader",
  "dialer.setAgentState": "writer",
  "dialer.setInbound": "writer",
  "dialer.getPreview": "reader",
  "dialer.previewDial": "writer",
  "dialer.previewSkip": "writer",
  "api.metrics": "reader",
  "customers.list": "reader",
  "customers.get": "reader",
  "customers.put": "writer",
  "customers.remove": "writer",
  "consents.list": "reader",
  "consents.record": "writer",
  "consents.object": "writer",
  "customers.listAttributes": "reader",
  "customers.getAttribute": "reader",
  "filters.list": "reader",
  "filters.get": "reader",
  "filters.preview": "reader",
  "filters.put": "writer",
  "filters.remove": "writer",
  "imports.get": "reader",
  "imports.events": "reader",
  "imports.rejected": "reader",
  "dnc.list": "reader",
  "dnc.get": "reader",
  "dnc.entries": "reader",
  "dnc.scrub": "reader",
  "dnc.put": "writer",
  "dnc.addEntries": "writer",
  "dnc.removeEntry": "writer",
};
const RANK: Record<Role, number> = { reader: 1, writer: 2, admin: 3 };

const digest = (s: string) => createHash("sha256").update(s).digest();

/** Finds the key by constant-time comparison of digests (no early exit on a prefix). */
export function findKey(keys: readonly ApiKeyConfig[], presented: string): ApiKeyConfig | undefined {
  const p = digest(presented);
  let found: ApiKeyConfig | undefined;
  for (const k of keys) if (timingSafeEqual(digest(k.key), p)) found = k;
  return found;
}

interface ErrorLike {
  code?: number;
  status?: number;
  type?: string;
  name?: string;
  message?: string;
  data?: unknown;
}

/** Maps any error to the API's JSON error shape and HTTP status. */
/** Seconds a client should wait before retrying while the database is unreachable. */
const RETRY_AFTER_S = 2;

/** Driver errors that mean "the database cannot be reached now", not "this request is wrong". */
const UNREACHABLE = new Set([
  "MongoNetworkError",
  "MongoNetworkTimeoutError",
  "MongoServerSelectionError",
  "MongooseServerSelectionError",
  "MongoNotConnectedError",
  "MongoPoolClearedError",
  "MongoTopologyClosedError",
]);

/** A MoleculerError, so that moleculer-web hands it to onError with its type intact. */
class DatabaseUnavailableError extends Errors.MoleculerServerError {
  constructor() {
    super("the database is unreachable", 503, "DATABASE_UNAVAILABLE");
  }
}

/** A bulk write reports the network failure under it in its message. */
const NETWORK_MESSAGE = /ECONNREFUSED|ECONNRESET|EPIPE|connection .*closed|Server selection timed out/i;

function databaseUnreachable(err: ErrorLike): boolean {
  if (err.type === "DATABASE_UNAVAILABLE" || UNREACHABLE.has(err.name ?? "")) return true;
  return err.name === "MongoBulkWriteError" && NETWORK_MESSAGE.test(err.message ?? "");
}

export function errorBody(err: ErrorLike): { status: number; body: Record<string, unknown> } {
  if (databaseUnreachable(err)) {
    return {
      status: 503,
      body: {
        error: "ServiceUnavailable",
        message: `The database is unreachable. Retry in ${RETRY_AFTER_S} s (with the same idempotencyKey, a retry is safe).`,
        details: [],
      },
    };
  }
  if (err.type === "UNSUPPORTED_MEDIA_TYPE") {
    return {
      status: 415,
      body: { error: "UnsupportedMediaType", message: "Send JSON (Content-Type: application/json)", details: [] },
    };
  }
  // body-parser errors
  if (err.type === "entity.parse.failed") {
    return {
      status: 400,
      body: {
        error: "ValidationError",
        message: "Malformed JSON body",
        details: [{ path: "", message: err.message ?? "cannot be parsed" }],
      },
    };
  }
  if (err.type === "entity.too.large") {
    return { status: 413, body: { error: "PayloadTooLarge", message: "Request body is too large", details: [] } };
  }
  const status =
    typeof err.code === "number" && err.code >= 400 && err.code < 600
      ? err.code
      : typeof err.status === "number"
        ? err.status
        : 500;
  if (status === 404 && err.type === "NOT_FOUND") {
    return { status, body: { error: "NotFound", message: "No such route", details: [] } };
  }
  if (status === 415) {
    return {
      status,
      body: {
        error: "UnsupportedMediaType",
        message: err.message ?? "Send JSON (Content-Type: application/json)",
        details: [],
      },
    };
  }
  if (status === 401) {
    const message =
      err.type === "INVALID_TOKEN" ? "The API key is not valid" : "An API key is required: Authorization: Bearer <key>";
    return { status, body: { error: "Unauthorized", message, details: [] } };
  }
  if (status === 403) {
    const need = (err.data as { message?: string } | undefined)?.message;
    return {
      status,
      body: { error: "Forbidden", message: `This API key may not do that${need ? ` (${need})` : ""}`, details: [] },
    };
  }
  // Our own timeouts say what took too long and what to do about it (no internals in them).
  if (status === 504 && err.type === "GatewayTimeout")
    return { status, body: { error: "GatewayTimeout", message: err.message ?? "Timed out", details: [] } };
  if (status >= 500)
    return {
      status,
      body: {
        error: status === 503 ? "ServiceUnavailable" : "InternalError",
        message: status === 503 ? "Service unavailable" : "Internal error",
        details: [],
      },
    };
  const name =
    err.type && /^[A-Z]/.test(err.type)
      ? err.type
      : status === 401
        ? "Unauthorized"
        : status === 403
          ? "Forbidden"
          : status === 404
            ? "NotFound"
            : (err.name ?? "Error");
  const details = Array.isArray(err.data) ? err.data : [];
  const extra =
    !Array.isArray(err.data) && err.data && typeof err.data === "object" && status === 409 ? { data: err.data } : {};
  return { status, body: { error: name, message: err.message ?? name, details, ...extra } };
}

/** A streamed upload's type and length, for its action (ctx.meta.upload). */
function uploadOf(req: Req): { contentType: string; contentLength?: number } {
  const length = Number(req.headers["content-length"]);
  return {
    contentType: req.headers["content-type"] ?? "",
    ...(Number.isFinite(length) && length > 0 ? { contentLength: length } : {}),
  };
}

const JSON_TYPE = /^application\/([\w.+-]*\+)?json\b/i;

/** Whether a request carries a body (a length or a chunked one). */
function hasBody(req: Req): boolean {
  return Number(req.headers["content-length"] ?? 0) > 0 || req.headers["transfer-encoding"] !== undefined;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8" });
  res.end(JSON.stringify(body));
}

export function apiService(runtime: HubRuntime, keys: readonly ApiKeyConfig[]): ServiceSchema {
  const { config } = runtime;
  const publicBase = config.api.publicUrl.replace(/\/$/, "");
  /** Every /api/v1 call needs the database (while it is away, say so at once) and plain query strings. */
  const guardApiCall = (req: Req): void => {
    if (!runtime.store.reachable()) throw new DatabaseUnavailableError();
    checkQueryStrings((req as { query?: Record<string, unknown> }).query);
  };

  return {
    name: "api",
    mixins: [ApiGateway as unknown as ServiceSchema],
    settings: {
      port: config.api.port,
      ip: config.api.host ?? "127.0.0.1",
      log4XXResponses: false,
      logRequest: "debug",
      logResponse: "debug",
      routes: [
        {
          path: "/webhooks",
          authentication: false,
          mergeParams: false,
          mappingPolicy: "restrict",
          bodyParsers: { raw: { type: () => true, limit: "2mb" } },
          aliases: VENDOR_WEBHOOK_ALIASES,
          onBeforeCall(
            ctx: Context<
              unknown,
              HttpMeta & { http?: { method: string; url: string; headers: Record<string, string> } }
            >,
            _route: unknown,
            req: Req,
          ) {
            const headers: Record<string, string> = {};
            for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers[k] = v;
            ctx.meta.http = {
              method: req.method ?? "GET",
              url: publicBase + (req.originalUrl ?? req.url ?? ""),
              headers,
            };
          },
        },
        {
          path: "/",
          authentication: true,
          authorization: true,
          bodyParsers: false,
          mappingPolicy: "restrict",
          aliases: ROOT_ALIASES,
        },
        {
          // A route of its own: moleculer-web keeps one route per path.
          path: "/api/v1/imports",
          authentication: true,
          authorization: true,
          mappingPolicy: "restrict",
          bodyParsers: false,
          aliases: UPLOAD_ALIASES,
          onBeforeCall(ctx: Context<unknown, UploadMeta>, _route: unknown, req: Req) {
            guardApiCall(req);
            ctx.meta.upload = uploadOf(req);
          },
        },
        {
          // JSON or a CSV on one path: the JSON parser reads only JSON bodies, so a text/csv
          // one reaches the action unread, as its stream.
          path: "/api/v1/dnc-lists",
          authentication: true,
          authorization: true,
          mappingPolicy: "restrict",
          bodyParsers: { json: { limit: config.api.bodyLimit, strict: false } },
          // A CSV of millions of lines outlasts the broker's requestTimeout; the upload bounds it.
          callOptions: { timeout: 0 },
          aliases: DNC_LOAD_ALIASES,
          onBeforeCall(ctx: Context<unknown, UploadMeta>, _route: unknown, req: Req) {
            guardApiCall(req);
            const type = req.headers["content-type"] ?? "";
            if (/^text\/csv\b/i.test(type)) {
              ctx.meta.upload = uploadOf(req);
              return;
            }
            if (hasBody(req) && !JSON_TYPE.test(type))
              throw new Errors.MoleculerClientError(
                "Send JSON (Content-Type: application/json) or a CSV (Content-Type: text/csv)",
                415,
                "UnsupportedMediaType",
              );
            if (Array.isArray(req.body))
              throw new ValidationError("Unexpected body", [
                { path: "", message: 'must be a JSON object: {"entries": [...]}' },
              ]);
          },
        },
        {
          path: "/api/v1",
          authentication: true,
          authorization: true,
          mappingPolicy: "restrict",
          bodyParsers: { json: { limit: config.api.bodyLimit, strict: false } },
          onBeforeCall(_ctx: Context, _route: unknown, req: Req) {
            guardApiCall(req);
            const type = req.headers["content-type"] ?? "";
            if ((req.method === "POST" || req.method === "PUT") && hasBody(req) && !JSON_TYPE.test(type)) {
              throw new ApiGateway.Errors.BadRequestError("UNSUPPORTED_MEDIA_TYPE", null);
            }
            // moleculer-web would merge an array body into the params object; say what to send instead.
            if (Array.isArray(req.body)) {
              throw new ValidationError("Unexpected body", [
                { path: "", message: 'must be a JSON object: one activity, or {"activities": [...]} for several' },
              ]);
            }
          },
          aliases: API_V1_ALIASES,
        },
      ],
      onError(this: Service, req: Req, res: ServerResponse, err: ErrorLike) {
        const path = (req.originalUrl ?? req.url ?? "").split("?")[0] ?? "";
        const allowed = err.type === "NOT_FOUND" ? allowedMethods(path) : [];
        if (allowed.length > 0 && !allowed.includes(req.method ?? "")) {
          res.setHeader("Allow", allowed.join(", "));
          sendJson(res, 405, {
            error: "MethodNotAllowed",
            message: `${req.method} is not allowed on ${path} (allowed: ${allowed.join(", ")})`,
            details: [],
          });
          return;
        }
        const { status, body } = errorBody(err);
        if (status === 503) res.setHeader("Retry-After", String(RETRY_AFTER_S));
        else if (status >= 500) this.logger.error("request failed", { url: req.url, error: err.message });
        if (status === 401) res.setHeader("WWW-Authenticate", 'Bearer realm="dialmesh"');
        sendJson(res, status, body);
      },
    } as ServiceSettingSchema,
    methods: {
      authenticate(_ctx: Context, _route: unknown, req: Req) {
        if (req.$action?.name === "api.health") return Promise.resolve(null);
        const header = req.headers.authorization ?? "";
        const m = /^Bearer\s+(\S+)$/i.exec(header);
        const key = m ? findKey(keys, m[1]!) : undefined;
        if (!key) {
          return Promise.reject(
            new ApiGateway.Errors.UnAuthorizedError(
              m ? ApiGateway.Errors.ERR_INVALID_TOKEN : ApiGateway.Errors.ERR_NO_TOKEN,
              null,
            ),
          );
        }
        return Promise.resolve({ id: key.id, roles: key.roles });
      },
      authorize(ctx: Context<unknown, HttpMeta>, _route: unknown, req: Req) {
        if (req.$action?.name === "api.health") return Promise.resolve();
        const need = REQUIRED_ROLE[req.$action?.name ?? ""] ?? "admin";
        const roles = ctx.meta.user?.roles ?? [];
        if (!roles.some((r) => RANK[r as Role] >= RANK[need])) {
          return Promise.reject(
            new ApiGateway.Errors.ForbiddenError("ERR_FORBIDDEN", { message: `needs role ${need}` }),
          );
        }
        return Promise.resolve();
      },
    },
    actions: {
      health: {
        async handler(this: Service, ctx: Context<unknown, HttpMeta>) {
          const db = await runtime.store.conn
            .db!.admin()
            .ping()
            .then(() => "ok")
            .catch(() => "unreachable");
          if (db !== "ok") ctx.meta.$statusCode = 503;
          return { status: db === "ok" ? "ok" : "degraded", node: runtime.nodeId, database: db };
        },
      },
      metrics: {
        async handler(this: Service, ctx: Context<unknown, HttpMeta>) {
          // The gauges read from the store are refreshed when it answers; an outage is when
          // the node's own metrics (what it holds, what failed) matter most, so they are
          // served without them rather than not at all.
          const reachable = runtime.store.reachable();
          runtime.metrics.storeReachable.set(reachable ? 1 : 0);
          if (reachable) {
            try {
              const counts = await runtime.activities.countsByStatus();
              runtime.metrics.activities.reset();
              for (const c of counts) runtime.metrics.activities.set({ status: c.status, channel: c.channel }, c.count);
              const backlog = await ctx.call<{ pending: number; dead: number }>("webhooks.backlog");
              runtime.metrics.webhookBacklog.set({ state: "pending" }, backlog.pending);
              runtime.metrics.webhookBacklog.set({ state: "dead" }, backlog.dead);
            } catch (err) {
              this.logger.warn("metrics: the store's gauges keep their last values", { error: (err as Error).message });
            }
          }
          ctx.meta.$responseType = runtime.metrics.registry.contentType;
          return runtime.metrics.registry.metrics();
        },
      },
      vendorWebhook: {
        async handler(
          ctx: Context<
            { body?: unknown; params: { pluginId: string }; query: Record<string, string> },
            HttpMeta & { http?: { method: string; url: string; headers: Record<string, string> } }
          >,
        ) {
          const http = ctx.meta.http!;
          const rawBody = Buffer.isBuffer(ctx.params.body) ? ctx.params.body : Buffer.alloc(0);
          const response = await ctx.call<
            { status: number; body?: string; contentType?: string },
            Record<string, unknown>
          >("ccm.webhook", {
            pluginId: ctx.params.params.pluginId,
            method: http.method === "GET" ? "GET" : "POST",
            url: http.url,
            headers: http.headers,
            query: ctx.params.query ?? {},
            rawBody,
          });
          ctx.meta.$statusCode = response.status;
          ctx.meta.$responseType = response.contentType ?? "text/plain; charset=utf-8";
          return response.body ?? "";
        },
      },
    },
  };
}

/** The service as startHub and moleculer-runner create it, with the node's runtime from its broker. */
export default class ApiService extends Service {
  constructor(broker: ServiceBroker) {
    super(broker);
    const runtime = runtimeOf(broker);
    this.parseServiceSchema(apiService(runtime, runtime.keys));
  }
}
