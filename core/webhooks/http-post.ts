/**
 * One webhook POST over node:http/https, connecting only to addresses that pass the target
 * guard (the hostname is resolved and checked at connection time). No redirects are followed:
 * a 3xx is a failed attempt like any other non-2xx.
 */
import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import {
  checkTargetUrl,
  describeTarget,
  guardedLookup,
  WebhookTargetError,
  type LookupAll,
  type TargetPolicy,
} from "./target-guard.ts";

export interface PostOptions {
  policy: TargetPolicy;
  timeoutMs: number;
  lookup?: LookupAll;
}

export type PostResult =
  { ok: true; statusCode: number } | { ok: false; statusCode: number | null; error: string; refused: boolean };

const SNIPPET_BYTES = 200;

/** Printable, single-line, bounded text for lastError. */
function clean(text: string, max = SNIPPET_BYTES): string {
  // eslint-disable-next-line no-control-regex
  const flat = text.replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

export function postJson(
  rawUrl: string,
  body: string,
  headers: OutgoingHttpHeaders,
  options: PostOptions,
): Promise<PostResult> {
  let url: URL;
  try {
    url = checkTargetUrl(rawUrl, options.policy);
  } catch (err) {
    const message = err instanceof WebhookTargetError ? err.message : "invalid target URL";
    return Promise.resolve({ ok: false, statusCode: null, error: message, refused: true });
  }
  const target = describeTarget(url);
  const request = url.protocol === "https:" ? httpsRequest : httpRequest;

  return new Promise<PostResult>((resolve) => {
    let settled = false;
    const finish = (result: PostResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const req = request(url, {
      method: "POST",
      headers: { ...headers, "Content-Length": Buffer.byteLength(body) },
      lookup: guardedLookup(options.policy, target, options.lookup),
      agent: false,
    });
    const timer = setTimeout(() => {
      req.destroy();
      finish({
        ok: false,
        statusCode: null,
        error: `no response from ${target} within ${options.timeoutMs} ms`,
        refused: false,
      });
    }, options.timeoutMs);

    req.on("error", (err: NodeJS.ErrnoException) => {
      if (err instanceof WebhookTargetError) {
        finish({ ok: false, statusCode: null, error: err.message, refused: true });
        return;
      }
      const what = err.code ? `${err.code}` : clean(err.message);
      finish({ ok: false, statusCode: null, error: `request to ${target} failed: ${what}`, refused: false });
    });
    req.on("response", (res) => {
      const statusCode = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        if (size < SNIPPET_BYTES) chunks.push(chunk);
        size += chunk.length;
      });
      const done = () => {
        if (statusCode >= 200 && statusCode < 300) {
          finish({ ok: true, statusCode });
          return;
        }
        const snippet = clean(Buffer.concat(chunks).toString("utf8"));
        const location = statusCode >= 300 && statusCode < 400 ? redirectNote(res.headers) : "";
        finish({
          ok: false,
          statusCode,
          error: `HTTP ${statusCode} from ${target}${location}${snippet ? `: ${snippet}` : ""}`,
          refused: false,
        });
      };
      res.on("end", done);
      res.on("close", done);
      res.on("error", done);
    });
    req.end(body);
  });
}

function redirectNote(headers: IncomingHttpHeaders): string {
  return headers.location
    ? ` (redirect to ${describeTarget(String(headers.location))} not followed)`
    : " (redirect not followed)";
}
