/**
 * Digest periods: ISO weeks and days in a workspace's IANA time zone, and the span between two
 * fires of a cron schedule. A period is a half-open interval of instants [start, end).
 *
 * Wall-clock arithmetic goes through Intl (no time-zone library): a local midnight is turned
 * into an instant by reading the zone's offset there, which handles daylight-saving weeks of
 * 167 or 169 hours.
 */
import { DomainError } from '../errors';

export interface Period {
  kind: 'week' | 'day' | 'span';
  start: Date;
  end: Date;
  /** "2026-W48", "2026-11-30", or the fire time "2026-12-03 09:00 UTC". */
  label: string;
  timeZone: string;
}

interface LocalDate {
  year: number;
  month: number;
  day: number;
}

const DAY_MS = 86_400_000;
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Whether `name` is an IANA time zone this runtime knows ("Europe/Madrid", "UTC"). */
export function isTimeZone(name: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$/.test(name)) return false;
  try {
    formatter(name);
    return true;
  } catch {
    return false;
  }
}

/** The wall-clock fields of an instant in a zone. */
export function localParts(instant: Date, timeZone: string): LocalDate & { hour: number; minute: number; second: number } {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(instant)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return { year: parts.year, month: parts.month, day: parts.day, hour: parts.hour, minute: parts.minute, second: parts.second };
}

function offsetMs(timeZone: string, instant: number): number {
  const p = localParts(new Date(instant), timeZone);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - Math.floor(instant / 1000) * 1000;
}

/** The instant at which the zone's clock shows local midnight starting `date`. */
export function localMidnight(date: LocalDate, timeZone: string): Date {
  const wall = Date.UTC(date.year, date.month - 1, date.day);
  let instant = wall - offsetMs(timeZone, wall);
  // Near a transition the offset at the guess differs from the offset at the answer.
  const corrected = wall - offsetMs(timeZone, instant);
  if (corrected !== instant) instant = corrected;
  return new Date(instant);
}

function addDays(date: LocalDate, days: number): LocalDate {
  const d = new Date(Date.UTC(date.year, date.month - 1, date.day) + days * DAY_MS);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

/** ISO weekday, Monday = 1 … Sunday = 7. */
function isoWeekday(date: LocalDate): number {
  return ((new Date(Date.UTC(date.year, date.month - 1, date.day)).getUTCDay() + 6) % 7) + 1;
}

/** The ISO year and week number of a local date (the week's Thursday decides the year). */
export function isoWeekOf(date: LocalDate): { year: number; week: number } {
  const thursday = addDays(date, 4 - isoWeekday(date));
  const jan1 = Date.UTC(thursday.year, 0, 1);
  const week = Math.floor((Date.UTC(thursday.year, thursday.month - 1, thursday.day) - jan1) / DAY_MS / 7) + 1;
  return { year: thursday.year, week };
}

function mondayOfIsoWeek(year: number, week: number): LocalDate {
  // Week 1 is the week with January 4th in it.
  const jan4: LocalDate = { year, month: 1, day: 4 };
  return addDays(jan4, 1 - isoWeekday(jan4) + (week - 1) * 7);
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');
const dateLabel = (d: LocalDate) => `${pad(d.year, 4)}-${pad(d.month)}-${pad(d.day)}`;

export function weekPeriod(year: number, week: number, timeZone: string): Period {
  const monday = mondayOfIsoWeek(year, week);
  return { kind: 'week', start: localMidnight(monday, timeZone), end: localMidnight(addDays(monday, 7), timeZone), label: `${pad(year, 4)}-W${pad(week)}`, timeZone };
}

export function dayPeriod(date: LocalDate, timeZone: string): Period {
  return { kind: 'day', start: localMidnight(date, timeZone), end: localMidnight(addDays(date, 1), timeZone), label: dateLabel(date), timeZone };
}

/** The ISO week containing `instant` in the zone; `offset` weeks later (negative: earlier). */
export function weekContaining(instant: Date, timeZone: string, offset = 0): Period {
  const local = localParts(instant, timeZone);
  const { year, week } = isoWeekOf(addDays(local, offset * 7));
  return weekPeriod(year, week, timeZone);
}

export function dayContaining(instant: Date, timeZone: string, offset = 0): Period {
  return dayPeriod(addDays(localParts(instant, timeZone), offset), timeZone);
}

/** The period between two fires of a cron schedule, labelled by the later one. */
export function spanPeriod(start: Date, end: Date, timeZone: string): Period {
  const p = localParts(end, timeZone);
  const seconds = p.second ? `:${pad(p.second)}` : '';
  return { kind: 'span', start, end, label: `${dateLabel(p)} ${pad(p.hour)}:${pad(p.minute)}${seconds} ${timeZone}`, timeZone };
}

/**
 * Parses "2026-W48" (ISO 8601 week) into that week in the zone. The error says what is allowed,
 * for the CLI's --week and the /digest option alike.
 */
export function parseIsoWeek(text: string, timeZone: string): Period {
  const m = /^(\d{4})-?W(\d{2})$/i.exec(text.trim());
  if (!m) throw new DomainError('invalid_week', `The week must be an ISO week such as 2026-W48 (year, "-W", two-digit week); got ${JSON.stringify(text.slice(0, 40))}.`);
  const year = Number(m[1]);
  const week = Number(m[2]);
  const weeks = isoWeekOf({ year, month: 12, day: 28 }).week;
  if (year < 1970 || year > 9999 || week < 1 || week > weeks) {
    throw new DomainError('invalid_week', `${pad(year, 4)} has ISO weeks W01 to W${weeks}; got ${JSON.stringify(text.slice(0, 40))}.`);
  }
  return weekPeriod(year, week, timeZone);
}

/** The `count` periods ending with `period` (oldest first), for the trend. */
export function trailingPeriods(period: Period, count: number): Period[] {
  const out: Period[] = [period];
  for (let i = 1; i < count; i++) {
    const later = out[0];
    // A moment before the later period starts lies in the one before it.
    const before = new Date(later.start.getTime() - 1);
    if (period.kind === 'week') out.unshift(weekContaining(before, period.timeZone));
    else if (period.kind === 'day') out.unshift(dayContaining(before, period.timeZone));
    else out.unshift(spanPeriod(new Date(later.start.getTime() - (period.end.getTime() - period.start.getTime())), later.start, period.timeZone));
  }
  return out;
}
