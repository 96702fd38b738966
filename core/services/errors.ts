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

/** A request that gave up on a query that ran too long: 504, with a message the caller can act on. */
export class QueryTimeoutError extends Errors.MoleculerServerError {
  constructor(message: string) {
    super(message, 504, "GatewayTimeout");
  }
}

/** The store's code for a command that ran past its maxTimeMS. */
const MAX_TIME_MS_EXPIRED = 50;

/**
 * `work`, or a QueryTimeoutError with `message` once `ms` have passed or the store stopped it at
 * its maxTimeMS. The query may go on in the store (FerretDB's count command takes no
 * maxTimeMS); its answer is then dropped.
 */
export function withQueryDeadline<T>(work: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new QueryTimeoutError(message())), ms);
  });
  const stopped = work.catch((err: { code?: unknown }) => {
    throw err.code === MAX_TIME_MS_EXPIRED ? new QueryTimeoutError(message()) : err;
  });
  return Promise.race([stopped, deadline]).finally(() => clearTimeout(timer));
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
