/**
 * Delivers a vendor webhook built by the local vendor servers (an InboundRequest, signed over
 * its public `url`) to a running hub over real HTTP, as the vendor would.
 *
 * `target` replaces the origin of `request.url` (e.g. the hub listens on 127.0.0.1:port while
 * `api.publicUrl` is https://hub.test): path, query, headers and the raw body are kept, so the
 * signature stays valid for a hub whose `api.publicUrl` is the signed origin.
 */
import type { InboundRequest } from "@dialmesh/sdk";

export interface DeliveredResponse {
  status: number;
  body: string;
  contentType: string | null;
}

export async function deliverInbound(request: InboundRequest, target?: string): Promise<DeliveredResponse> {
  const url = new URL(request.url);
  const destination = target ? new URL(`${url.pathname}${url.search}`, target).href : url.href;
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(request.headers)) if (value !== undefined) headers[key] = value;
  const response = await fetch(destination, {
    method: request.method,
    headers,
    ...(request.method === "POST" ? { body: new Uint8Array(request.rawBody) } : {}),
  });
  return { status: response.status, body: await response.text(), contentType: response.headers.get("content-type") };
}
