/** What the dispatcher and the event ingester need from the rest of the hub. */
import type { SendRequest, SendResult } from "@dialmesh/sdk";
import type { RoutePlan } from "../routing/plan.ts";
import type { JournaledOutcome } from "../store/outcome-journal.ts";
import type { ActivityDoc } from "../store/models.ts";

/** A plugin's refusal, as it crosses the service mesh. */
export interface SendFailure {
  code: string;
  message: string;
  retryable: boolean;
  status: "FAILED" | "BLOCKED" | "EXPIRED";
  optOut: boolean;
  retryAfterMs?: number;
}

export type SendOutcome = { ok: true; result: SendResult } | { ok: false; error: SendFailure };

export interface Routing {
  /** The instances to try for one attempt on `channel`, in order; `pinned` forces one. */
  route(channel: string, pinned?: string): RoutePlan;
  /** Whether the instance's vendor dedupes a resend of the same attempt id. */
  idempotentSend(pluginId: string): boolean;
  /** Whether the instance's calls are paced by the dialer (the attempt is handed to it, not sent). */
  paced?(pluginId: string): boolean;
  /** Sends through the instance; its outcome also feeds the instance's health. */
  send(pluginId: string, request: SendRequest): Promise<SendOutcome>;
}

/**
 * Why an attempt is blocked: SUPPRESSED (the suppression list), DNC (one of the activity's DNC
 * lists), NO_CONSENT / OBJECTION (the customer's consent records, core/compliance/consent.ts).
 */
export interface ComplianceBlock {
  reasonCode: string;
  reason: string;
}

/** What the check needs of an activity. */
export type ComplianceSubject = Pick<ActivityDoc, "dncLists" | "purpose" | "requiresConsent"> & {
  customer: { id: string };
};

export interface ComplianceCheck {
  /** Undefined when allowed; `activity` gives the DNC lists it names, its purpose and customer. */
  blockReason(channel: string, address: string, activity: ComplianceSubject): Promise<ComplianceBlock | undefined>;
  suppress(address: string, reason: string, source: string): Promise<void>;
}

export interface EventPublisher {
  /** Queues a notification for webhook subscribers; `id` makes it idempotent. */
  publish(event: { id: string; name: string; occurredAt: Date; data: Record<string, unknown> }): Promise<void>;
}

export interface DispatchMetrics {
  observeLateness(channel: string, seconds: number): void;
  pluginCall(pluginId: string, seconds: number, outcome: "ok" | "error"): void;
  statusChange(channel: string, status: string): void;
}

/** Where this node keeps the vendor answers the database did not take (outcome-journal.ts). */
export interface OutcomeJournalPort {
  readonly size: number;
  append(entry: JournaledOutcome): void;
  find(attemptId: string): JournaledOutcome | undefined;
  drain(apply: (entry: JournaledOutcome) => Promise<void>): Promise<number>;
}

/**
 * What the node that started an attempt knows of it: still sending, answered but kept in its
 * journal until the database takes it, or nothing (it restarted, or never had it).
 */
export type AttemptState = "in-flight" | "journaled" | "unknown";

export interface Peers {
  /** Asks node `nodeId`; "unknown" when it does not answer (gone from the mesh). */
  attemptState(nodeId: string, attemptId: string): Promise<AttemptState>;
}

/** The dialer service, for voice attempts routed to an instance it paces. */
export interface DialerHandOff {
  /**
   * Makes the attempt a dialer contact of the activity's campaign. QUEUED (vendorId = the attempt
   * id, which the call's events refer to), or a failure (no such campaign).
   */
  enqueue(request: SendRequest, pluginId: string, attemptNumber: number): Promise<SendOutcome>;
}
