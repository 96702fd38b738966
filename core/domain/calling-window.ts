/**
 * Calling windows: the days and hours in which a customer may be contacted, evaluated in
 * the customer's own time zone (DST included, via luxon). Pure.
 */
import { DateTime } from "luxon";

export const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export interface CallingWindow {
  /** Days the window is open; all days when absent. */
  days?: Weekday[];
  /** Local opening time, HH:MM (inclusive). */
  start: string;
  /** Local closing time, HH:MM (exclusive); `24:00` for midnight. */
  end: string;
  /** IANA zone; the customer's zone when absent. */
  timezone?: string;
}

function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(":").map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

function isOpenAt(window: CallingWindow, local: DateTime): boolean {
  const day = WEEKDAYS[local.weekday - 1] as Weekday;
  if (window.days && !window.days.includes(day)) return false;
  const minute = local.hour * 60 + local.minute;
  return minute >= minutesOf(window.start) && minute < minutesOf(window.end);
}

/** The zone a window is evaluated in: its own, else the customer's, else UTC. */
export function windowZone(window: CallingWindow, customerZone?: string): string {
  return window.timezone ?? customerZone ?? "UTC";
}

/**
 * An IANA time zone name that luxon knows ("Europe/Paris", "America/Argentina/Cordoba", "UTC").
 * Fixed offsets ("+05:30", "UTC+5") are refused: they do not follow daylight saving time, so a
 * calling window in one would open at the wrong hour for half the year.
 */
const IANA_NAME = /^(?:UTC|Etc\/[A-Za-z0-9+-]+|[A-Z][A-Za-z_-]+(?:\/[A-Za-z0-9_+-]+)+)$/;

export function isValidZone(zone: string): boolean {
  return IANA_NAME.test(zone) && !/^Etc\/GMT[+-]/.test(zone) && DateTime.now().setZone(zone).isValid;
}

export function isWithinWindow(window: CallingWindow, at: Date, zone: string): boolean {
  return isOpenAt(window, DateTime.fromJSDate(at).setZone(zone));
}

/**
 * The earliest instant at or after `from` inside the window, or undefined when the window
 * never opens (no days, or start >= end). Local opening times that a DST jump skips open at
 * the first existing instant after them.
 */
export function nextWindowOpening(window: CallingWindow, from: Date, zone: string): Date | undefined {
  const startMin = minutesOf(window.start);
  const endMin = minutesOf(window.end);
  if (startMin >= endMin || (window.days && window.days.length === 0)) return undefined;
  const local = DateTime.fromJSDate(from).setZone(zone);
  if (isOpenAt(window, local)) return from;
  for (let offset = 0; offset <= 7; offset++) {
    const day = local.startOf("day").plus({ days: offset });
    const opening = day.set({ hour: Math.floor(startMin / 60), minute: startMin % 60 });
    if (opening.toMillis() < local.toMillis()) continue;
    // luxon shifts a skipped local time forward; check the shifted instant is still open.
    if (isOpenAt(window, opening)) return opening.toJSDate();
  }
  return undefined;
}

/** Intersection of several windows at an instant: allowed only when every one is open. */
export function isWithinAll(windows: { window: CallingWindow; zone: string }[], at: Date): boolean {
  return windows.every(({ window, zone }) => isWithinWindow(window, at, zone));
}
