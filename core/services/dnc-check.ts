/**
 * The DNC check before an attempt, shared by the channel manager (every attempt of an activity
 * that names lists, on every channel) and the internal dialer (every dial of a campaign that
 * names lists): the store's lookup (exact entries of concurrent checks batched into one `_id
 * $in`, list states and prefixes cached briefly; core/store/dnc.ts), the called party's
 * jurisdictions (whether a stale list blocks), and the decision (core/compliance/dnc.ts, pure).
 */
import { dncVerdict, requiredDncMaxAge, WarningThrottle, type DncBlock } from "../compliance/dnc.ts";
import { applicableJurisdictions, locateCalledParty } from "../regulation/index.ts";
import type { PhoneZoneTable, RegulationTable } from "../regulation/types.ts";
import type { DncStore } from "../store/dnc.ts";

export interface DncCheckDeps {
  dnc: Pick<DncStore, "lookup">;
  regulation: { rules: RegulationTable; zones: PhoneZoneTable };
  /**
   * A stale list that did not block (no jurisdiction of the address requires a fresh one): each
   * warning once per `warnEveryMs` (default a minute), not once per attempt.
   */
  warn: (warning: string, lists: readonly string[]) => void;
  warnEveryMs?: number;
}

/** The first of `lists` (in order) that blocks `address`, or undefined. */
export type DncCheck = (address: string, lists: readonly string[]) => Promise<DncBlock | undefined>;

export function createDncCheck(deps: DncCheckDeps): DncCheck {
  const { rules, zones } = deps.regulation;
  const throttle = new WarningThrottle(deps.warnEveryMs ?? 60_000);
  return async (address, lists) => {
    if (lists.length === 0) return undefined;
    const { states, exact } = await deps.dnc.lookup(lists, address);
    // Only calls and texts have a jurisdiction that can require a fresh list.
    const required = address.startsWith("+")
      ? requiredDncMaxAge(applicableJurisdictions(rules, locateCalledParty(zones, address)).map((j) => j.jurisdiction))
      : undefined;
    const now = new Date();
    const verdict = dncVerdict(address, states, exact, now, required);
    for (const warning of verdict.warnings) if (throttle.shouldLog(warning, now.getTime())) deps.warn(warning, lists);
    return verdict.block;
  };
}
