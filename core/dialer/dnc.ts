/**
 * A dialer campaign's DNC lists: the warnings its view shows (a stale or deleted list it names),
 * and how often the dialer logs the same stale-list warning of its checks. Pure.
 */
import { DEFAULT_DNC_MAX_AGE_DAYS, isStale, staleWarning, type DncListState } from "../compliance/dnc.ts";

/**
 * One warning per list of `named` (the campaign's `dncLists`, in order) that is stale (refreshed
 * more than 31 days ago, or never loaded) or no longer exists (`states` leaves it out).
 */
export function campaignDncWarnings(
  named: readonly string[],
  states: readonly Pick<DncListState, "id" | "lastRefreshedAt">[],
  now: Date,
): string[] {
  const byId = new Map(states.map((s) => [s.id, s]));
  return named.flatMap((id) => {
    const list = byId.get(id);
    if (!list) return [`DNC list ${id} no longer exists: it is not checked`];
    if (!isStale(list, now, DEFAULT_DNC_MAX_AGE_DAYS)) return [];
    return [
      `${staleWarning(list, DEFAULT_DNC_MAX_AGE_DAYS)}: calls to numbers whose jurisdiction requires a fresh list ` +
        `(dncMaxAgeDays, e.g. US) are BLOCKED, others are dialled with this warning logged`,
    ];
  });
}
