/**
 * The digest_schedule setting: `off`, `daily` (09:00), `weekly` (Monday 09:00) or a cron
 * expression (5 fields, or 6 with seconds first), read in the digest_time_zone. croner does the
 * calendar arithmetic; this module says which fire is due and which period it reports on.
 */
import { Cron } from 'croner';
import { DomainError } from '../errors';
import { dayContaining, isTimeZone, spanPeriod, weekContaining, type Period } from './period';

export const NAMED_SCHEDULES = { daily: '0 9 * * *', weekly: '0 9 * * 1' } as const;
const MAX_SCHEDULE_CHARS = 100;

export interface DigestSchedule {
  /** What the admin typed, normalised: 'daily', 'weekly' or the cron expression. */
  text: string;
  kind: 'daily' | 'weekly' | 'cron';
  cron: Cron;
  timeZone: string;
}

/**
 * Checks a digest_schedule value; returns it normalised ('off', 'daily', 'weekly', or the cron
 * expression with single spaces). The error names what is allowed.
 */
export function checkScheduleText(raw: string): string {
  const text = raw.trim().replace(/\s+/g, ' ');
  const lower = text.toLowerCase();
  if (lower === 'off' || lower === 'daily' || lower === 'weekly') return lower;
  const allowed = 'off, daily (09:00), weekly (Monday 09:00), or a cron expression such as "0 9 * * 1" (minute hour day month weekday; 6 fields put seconds first)';
  if (text === '' || text.length > MAX_SCHEDULE_CHARS) {
    throw new DomainError('invalid_setting', `digest_schedule must be ${allowed}; got ${text === '' ? 'nothing' : `${text.length} characters`}.`);
  }
  const fields = text.split(' ').length;
  if (fields < 5 || fields > 6) throw new DomainError('invalid_setting', `digest_schedule must be ${allowed}; ${JSON.stringify(text)} has ${fields} field${fields === 1 ? '' : 's'}.`);
  try {
    const cron = new Cron(text, { paused: true, timezone: 'UTC' });
    if (!cron.nextRun()) throw new Error('it never fires');
    cron.stop();
  } catch (error) {
    throw new DomainError('invalid_setting', `digest_schedule ${JSON.stringify(text)} is not a cron expression croner accepts (${(error as Error).message}); use ${allowed}.`);
  }
  return text;
}

/** Checks a digest_time_zone value: an IANA zone name such as Europe/Madrid, or UTC. */
export function checkTimeZoneText(raw: string): string {
  const text = raw.trim();
  if (!isTimeZone(text)) {
    throw new DomainError('invalid_setting', `digest_time_zone must be an IANA time zone such as UTC, Europe/Madrid or America/New_York; got ${JSON.stringify(text.slice(0, 64))}.`);
  }
  return text;
}

/** The schedule to run, or null when the digest is off. */
export function digestSchedule(text: string, timeZone: string): DigestSchedule | null {
  const normalised = checkScheduleText(text);
  if (normalised === 'off') return null;
  const kind = normalised === 'daily' || normalised === 'weekly' ? normalised : 'cron';
  const pattern = kind === 'cron' ? normalised : NAMED_SCHEDULES[kind as 'daily' | 'weekly'];
  return { text: normalised, kind, cron: new Cron(pattern, { paused: true, timezone: timeZone }), timeZone };
}

/** The latest fire at or before `now`, or null when there was none. */
export function latestFire(schedule: DigestSchedule, now: Date): Date | null {
  // croner counts a run exactly at the reference as not yet previous.
  return schedule.cron.previousRuns(1, new Date(now.getTime() + 1))[0] ?? null;
}

export function nextFire(schedule: DigestSchedule, after: Date): Date | null {
  return schedule.cron.nextRun(after);
}

/**
 * What a fire reports on: a weekly digest the ISO week that ended before it, a daily one the day
 * before, a cron one the time since the fire before it.
 */
export function periodOfFire(schedule: DigestSchedule, fire: Date): Period {
  if (schedule.kind === 'weekly') return weekContaining(fire, schedule.timeZone, -1);
  if (schedule.kind === 'daily') return dayContaining(fire, schedule.timeZone, -1);
  const previous = schedule.cron.previousRuns(1, new Date(fire.getTime() - 1))[0];
  return spanPeriod(previous ?? new Date(fire.getTime() - 7 * 86_400_000), fire, schedule.timeZone);
}
