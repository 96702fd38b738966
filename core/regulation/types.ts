/** The shapes of the regulation data in config/regulation/ (see schemas/regulation.schema.json). */
import type { CallingWindow } from "../domain/calling-window.ts";

export type AbandonmentPeriod = { kind: "rolling-days"; days: number } | { kind: "calendar-day" };

export interface AbandonmentRule {
  /** Highest allowed share of live-answered calls that are abandoned (0.03 = 3%). */
  maxRate: number;
  period: AbandonmentPeriod;
  /** A live answer not connected to an agent within this many seconds is abandoned (the 2-second rule). */
  connectWithinSeconds: number;
  /** Count the estimated AMD false positives (people hung up on as machines) as abandoned. */
  countAmdFalsePositives: boolean;
  /** No repeat call within this many hours of an abandoned call unless an agent is guaranteed. */
  noRepeatAfterAbandonHours?: number;
}

export interface AttemptLimit {
  maxAttempts: number;
  perHours: number;
  scope?: "number" | "subject";
}

export interface Jurisdiction {
  name: string;
  /** Country whose rules apply as well (a state's parent). */
  parent?: string;
  sources?: string[];
  /** Calls are allowed when any of these is open, in the called party's local time. */
  callingWindows: CallingWindow[];
  abandonment?: AbandonmentRule;
  minimumRingSeconds?: number;
  attemptLimits?: AttemptLimit[];
  /**
   * A DNC list older than this many days may not be relied on: a call or text to a number of
   * this jurisdiction is blocked rather than made against it (US: 31, 16 CFR 310.4(b)(3)(iv)).
   */
  dncMaxAgeDays?: number;
}

export interface RegulationTable {
  notes?: string;
  jurisdictions: Record<string, Jurisdiction>;
}

export interface NanpRegion {
  zones: string[];
  areaCodes: string[];
  areaCodeZones?: Record<string, string[]>;
}

export interface PhoneZoneTable {
  notes?: string;
  nanp: Record<string, NanpRegion>;
  countries: Record<string, string[]>;
}
