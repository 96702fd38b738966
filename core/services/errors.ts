/** Client errors the API renders as `{error, message, details}`. */
import { Errors } from "moleculer";
import type { ValidationDetail } from "../validation/json-schema.ts";

export class ValidationError extends Errors.MoleculerClientError {
  constructor(message: string, details: ValidationDetail[], code = 400) {
    super(message, code, "ValidationError", details);
  }
}

export class NotFoundError extends Errors.MoleculerClientError {
  constructor(what: string) {
    super(`${what} not found`, 404, "NotFound");
  }
}

export class ConflictError extends Errors.MoleculerClientError {
  constructor(message: string, data?: unknown) {
    super(message, 409, "Conflict", data);
  }
}

/** The `ctx.meta` fields moleculer-web reads and the API's authentication sets. */
export interface HttpMeta {
  $statusCode?: number;
  $location?: string;
  $responseType?: string;
  $responseHeaders?: Record<string, string>;
  user?: { id: string; roles: string[] };
}

/** What the gateway passes on about a streamed upload (api.service.ts, the upload routes). */
export interface UploadMeta extends HttpMeta {
  upload?: { contentType: string; contentLength?: number };
}
