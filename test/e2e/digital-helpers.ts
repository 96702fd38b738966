/** Shared helpers of the digital-channel end-to-end tests (test/e2e/digital-*.test.ts). */
import assert from "node:assert/strict";
import type { InboundRequest } from "@dialmesh/sdk";
import { deliverInbound, type DeliveredResponse } from "../vendors/deliver.ts";
import { eventually, type TestHub } from "../support/hub.ts";

/** What the hub signs and vendors call: `api.publicUrl` of the test hubs (test/support/hub.ts). */
export const PUBLIC_URL = "http://hub.test";

export const webhookUrl = (pluginId: string): string => `${PUBLIC_URL}/webhooks/${pluginId}`;

export interface AttemptView {
  id: string;
  step: number;
  retry: number;
  channel: string;
  pluginId?: string;
  vendorId?: string;
  status: string;
  reasonCode?: string;
  reason?: string;
  retryable?: boolean;
}

export interface ActivityView {
  id: string;
  status: string;
  channel: string;
  conversationId: string;
  nextRunAt: string | null;
  attempts: AttemptView[];
}

export interface TimelineEventView {
  id: string;
  type: string;
  channel: string;
  status?: string;
  pluginId?: string;
  vendorId?: string;
  activityId?: string;
  attemptId?: string;
  reasonCode?: string;
  reason?: string;
  text?: string;
  address?: string;
}

/** Sends a signed vendor request to the hub over HTTP, as the vendor would. */
export function deliver(hub: TestHub, request: InboundRequest): Promise<DeliveredResponse> {
  return deliverInbound(request, hub.apiUrl);
}

/** POST /api/v1/activities; returns the new activity's id. */
export async function schedule(hub: TestHub, body: Record<string, unknown>): Promise<string> {
  const res = await hub.api("POST", "/api/v1/activities", body);
  assert.equal(res.status, 202, res.text);
  return (res.body as { id: string }).id;
}

export async function getActivity(hub: TestHub, id: string): Promise<ActivityView> {
  const res = await hub.api("GET", `/api/v1/activities/${id}`);
  assert.equal(res.status, 200, res.text);
  return res.body as ActivityView;
}

/** Polls the activity until `check` accepts it; a timeout says what the activity was last. */
export async function waitForActivity(
  hub: TestHub,
  id: string,
  check: (a: ActivityView) => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<ActivityView> {
  let last: ActivityView | undefined;
  try {
    return await eventually(
      async () => {
        last = await getActivity(hub, id);
        return check(last) ? last : undefined;
      },
      timeoutMs,
      what,
    );
  } catch (err) {
    const seen = last
      ? `${last.status}, attempts ${last.attempts.map((t) => `${t.channel}:${t.status}/${t.reasonCode ?? ""}`).join(", ")}`
      : "never read";
    throw new Error(`${(err as Error).message} (last seen: ${seen})`, { cause: err });
  }
}

export async function timeline(hub: TestHub, conversationId: string): Promise<TimelineEventView[]> {
  const res = await hub.api("GET", `/api/v1/conversations/${conversationId}`);
  assert.equal(res.status, 200, res.text);
  return (res.body as { timeline: TimelineEventView[] }).timeline;
}

/**
 * Waits for an event on a conversation's timeline: an activity's status is written a moment
 * before the timeline event that goes with it.
 */
export function waitForTimelineEvent(
  hub: TestHub,
  conversationId: string,
  match: (e: TimelineEventView) => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<TimelineEventView> {
  return eventually(async () => (await timeline(hub, conversationId)).find(match), timeoutMs, what);
}

export async function suppression(hub: TestHub, address: string): Promise<{ suppressed: boolean; reason?: string }> {
  const res = await hub.api("GET", `/api/v1/suppressions/${encodeURIComponent(address)}`);
  assert.equal(res.status, 200, res.text);
  return res.body as { suppressed: boolean; reason?: string };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
