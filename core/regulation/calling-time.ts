/**
 * Whether a call may be placed now: every applicable jurisdiction's calling windows (a
 * state's and its country's both apply) and the campaign's own windows (which can only
 * narrow them), in every candidate zone of the called party. Built on
 * core/domain/calling-window.ts; pure.
 */
import { isWithinWindow, nextWindowOpening, windowZone, type CallingWindow } from "../domain/calling-window.ts";
import type { CalledPartyLocation } from "./phone-zones.ts";
import type { Jurisdiction, RegulationTable } from "./types.ts";

export interface ApplicableJurisdiction {
  code: string;
  jurisdiction: Jurisdiction;
}

/** The jurisdictions whose rules apply to a called party: its region's and its country's. */
export function applicableJurisdictions(
  table: RegulationTable,
  location: Pick<CalledPartyLocation, "country" | "region">,
): ApplicableJurisdiction[] {
  const out: ApplicableJurisdiction[] = [];
  const add = (code: string | undefined) => {
    const jurisdiction = code ? table.jurisdictions[code] : undefined;
    if (code && jurisdiction && !out.some((j) => j.code === code)) out.push({ code, jurisdiction });
    return jurisdiction;
  };
  const region = add(location.region);
  add(region?.parent ?? location.country);
  return out;
}

/** One set of alternative windows (open when any is open), with where it comes from. */
interface WindowRule {
  source: string;
  windows: CallingWindow[];
}

export interface CallTimeVerdict {
  allowed: boolean;
  /** Why not, one entry per closed rule and zone ("US-FL closed in America/Chicago"). */
  reasons: string[];
  jurisdictions: string[];
  zones: string[];
}

function rulesFor(jurisdictions: ApplicableJurisdiction[], campaignWindows: CallingWindow[] | undefined): WindowRule[] {
  const rules: WindowRule[] = jurisdictions.map((j) => ({ source: j.code, windows: j.jurisdiction.callingWindows }));
  if (campaignWindows && campaignWindows.length > 0) rules.push({ source: "campaign", windows: campaignWindows });
  return rules;
}

function isOpen(rule: WindowRule, at: Date, zone: string): boolean {
  return rule.windows.some((w) => isWithinWindow(w, at, windowZone(w, zone)));
}

export function checkCallTime(
  table: RegulationTable,
  location: CalledPartyLocation,
  at: Date,
  campaignWindows?: CallingWindow[],
): CallTimeVerdict {
  const jurisdictions = applicableJurisdictions(table, location);
  const verdict: CallTimeVerdict = {
    allowed: true,
    reasons: [],
    jurisdictions: jurisdictions.map((j) => j.code),
    zones: location.zones,
  };
  if (location.zones.length === 0) {
    return { ...verdict, allowed: false, reasons: ["no time zone is known for the called party"] };
  }
  for (const rule of rulesFor(jurisdictions, campaignWindows)) {
    for (const zone of location.zones) {
      if (!isOpen(rule, at, zone)) verdict.reasons.push(`${rule.source} calling hours closed in ${zone}`);
    }
  }
  verdict.allowed = verdict.reasons.length === 0;
  return verdict;
}

/**
 * The earliest instant at or after `from` when `checkCallTime` allows the call, searching
 * up to `horizonDays`; undefined when it never opens (e.g. disjoint windows across zones).
 */
export function nextCallTime(
  table: RegulationTable,
  location: CalledPartyLocation,
  from: Date,
  campaignWindows?: CallingWindow[],
  horizonDays = 8,
): Date | undefined {
  if (location.zones.length === 0) return undefined;
  const rules = rulesFor(applicableJurisdictions(table, location), campaignWindows);
  const limit = from.getTime() + horizonDays * 86_400_000;
  let t = from;
  for (let i = 0; i < 200 && t.getTime() <= limit; i++) {
    // No answer can come before the latest next opening of a rule that is closed now.
    let latest: Date | undefined;
    for (const rule of rules) {
      for (const zone of location.zones) {
        if (isOpen(rule, t, zone)) continue;
        const openings = rule.windows
          .map((w) => nextWindowOpening(w, t, windowZone(w, zone)))
          .filter((d): d is Date => d !== undefined);
        if (openings.length === 0) return undefined;
        const opening = new Date(Math.min(...openings.map((d) => d.getTime())));
        if (!latest || opening > latest) latest = opening;
      }
    }
    if (!latest) return t;
    t = latest;
  }
  return undefined;
}
