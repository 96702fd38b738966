/**
 * The compliance check before every attempt: calling hours in every candidate zone, attempt
 * limits per number, and the no-repeat rule after an abandoned call. Pure: the tables
 * (load.ts) and the number's history are passed in.
 */
import type { CallingWindow } from "../domain/calling-window.ts";
import { checkAttemptLimits, checkRepeatAfterAbandon } from "./attempts.ts";
import { applicableJurisdictions, checkCallTime, nextCallTime } from "./calling-time.ts";
import { locateCalledParty, type CalledPartyLocation } from "./phone-zones.ts";
import type { AttemptLimit, PhoneZoneTable, RegulationTable } from "./types.ts";

export * from "./abandonment.ts";
export * from "./attempts.ts";
export * from "./calling-time.ts";
export * from "./phone-zones.ts";
export type * from "./types.ts";

export interface CallCheckInput {
  phone: string;
  /** The customer's stored zone; overrides the number's candidate zones. */
  customerZone?: string;
  at: Date;
  /** Campaign windows (any open); they narrow the regulators' windows, never widen them. */
  campaignWindows?: CallingWindow[];
  /** Earlier attempts to this number in this campaign. */
  previousAttempts: Date[];
  lastAbandonedAt?: Date;
  /** The call will have an agent on the line when answered (preview, reserved agent). */
  agentGuaranteed: boolean;
  /** The campaign's own attempt limits per number. */
  campaignAttemptLimits?: AttemptLimit[];
}

export interface CallCheck {
  allowed: boolean;
  reasons: string[];
  location: CalledPartyLocation;
  jurisdictions: string[];
  /** When refused, the earliest time the call could be allowed (if one is known). */
  retryAt?: Date;
}

/**
 * The shortest ring time the law allows before a call may be given up as unanswered
 * (US: 15 s), the strictest of the applicable jurisdictions; 0 when none sets one.
 */
export function minimumRingSeconds(
  rules: RegulationTable,
  location: Pick<CalledPartyLocation, "country" | "region">,
): number {
  return Math.max(0, ...applicableJurisdictions(rules, location).map((j) => j.jurisdiction.minimumRingSeconds ?? 0));
}

export function checkCall(tables: { rules: RegulationTable; zones: PhoneZoneTable }, input: CallCheckInput): CallCheck {
  const location = locateCalledParty(tables.zones, input.phone, input.customerZone);
  const jurisdictions = applicableJurisdictions(tables.rules, location);
  const reasons: string[] = [];
  let earliest = input.at;

  const time = checkCallTime(tables.rules, location, input.at, input.campaignWindows);
  reasons.push(...time.reasons);

  const limits = [
    ...jurisdictions.flatMap((j) => (j.jurisdiction.attemptLimits ?? []).map((limit) => ({ source: j.code, limit }))),
    ...(input.campaignAttemptLimits ?? []).map((limit) => ({ source: "campaign", limit })),
  ];
  const attempts = checkAttemptLimits(limits, input.previousAttempts, input.at);
  if (!attempts.allowed) {
    reasons.push(attempts.reason);
    if (attempts.retryAt > earliest) earliest = attempts.retryAt;
  }
  for (const j of jurisdictions) {
    const repeat = checkRepeatAfterAbandon(
      j.jurisdiction.abandonment,
      input.lastAbandonedAt,
      input.at,
      input.agentGuaranteed,
    );
    if (!repeat.allowed) {
      reasons.push(`${j.code}: ${repeat.reason}`);
      if (repeat.retryAt > earliest) earliest = repeat.retryAt;
    }
  }
  if (reasons.length === 0) return { allowed: true, reasons, location, jurisdictions: time.jurisdictions };
  const retryAt = nextCallTime(tables.rules, location, earliest, input.campaignWindows);
  return { allowed: false, reasons, location, jurisdictions: time.jurisdictions, ...(retryAt ? { retryAt } : {}) };
}
