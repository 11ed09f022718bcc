/**
 * Text helpers shared by every channel's renderer: truncating to a platform limit, formatting
 * numbers and scores, and drawing activation bars. Escaping is not here on purpose: each
 * channel has its own markup (Discord markdown, Slack mrkdwn, terminal control characters) and
 * escapes user text through its own single helper.
 */

/** Shown at the end of text cut to fit a limit, so a reader knows something is missing. */
export const TRUNCATION_MARKER = '…';

/**
 * Cut `text` so that it is at most `limit` UTF-16 code units long (the unit Discord and Slack
 * count), ending with a visible marker when anything was removed. Never splits a surrogate
 * pair, which would leave a lone half that some clients reject.
 */
export function truncate(text: string, limit: number, marker: string = TRUNCATION_MARKER): string {
  if (!Number.isInteger(limit) || limit < 0) throw new RangeError(`truncate limit must be a whole number ≥ 0, got ${limit}`);
  if (text.length <= limit) return text;
  if (marker.length >= limit) return marker.slice(0, limit);
  let end = limit - marker.length;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return text.slice(0, end).trimEnd() + marker;
}

const countFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/**
 * A count with thousands separators, as user-facing errors quote them: 2400 → "2,400". A count
 * that was not computed prints as "n/a", like a missing score.
 */
export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return 'n/a';
  return countFormat.format(n);
}

/**
 * A score with a fixed number of decimals. Negative zero prints as "0.00", and non-finite
 * values print as "n/a" rather than "NaN" (a missing AR score must not read as a number).
 */
export function formatScore(x: number | null | undefined, digits = 2): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return 'n/a';
  const s = x.toFixed(digits);
  return /^-0\.?0*$/.test(s) ? s.slice(1) : s;
}

/** A share as a percentage: 0.237 → "23.7%". */
export function formatPercent(share: number | null | undefined, digits = 1): string {
  if (share === null || share === undefined || !Number.isFinite(share)) return 'n/a';
  return `${formatScore(share * 100, digits)}%`;
}

/** "1 vote", "2 votes". */
export function plural(n: number, singular: string, pluralForm = `${singular}s`): string {
  return `${formatCount(n)} ${n === 1 ? singular : pluralForm}`;
}

/**
 * The /stats confabulation rate, naming the items it counts: /stats lines count different item
 * sets (closed items here, every labelled item for agreement and the AUROCs), and a bare rate
 * beside them reads as if they shared one.
 */
export function confabulationRateText(rate: { rate: number; low: number; high: number; n: number } | null): string {
  if (!rate) return 'n/a (no closed item has a majority label yet)';
  return `${formatPercent(rate.rate)} (95% CI ${formatPercent(rate.low)}–${formatPercent(rate.high)}) over ${plural(rate.n, 'closed item')} with a majority label`;
}

const EIGHTHS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/**
 * A horizontal bar of `width` cells showing `value` relative to `max`, drawn with eighth-block
 * characters so that close activations still look different. Values at or below zero draw an
 * empty track; values above `max` draw a full bar. With `ascii`, the bar uses `#` and `.` for
 * outputs that cannot show block characters.
 */
export function activationBar(value: number, max: number, width = 10, opts: { ascii?: boolean } = {}): string {
  const share = max > 0 && Number.isFinite(value) ? Math.min(1, Math.max(0, value / max)) : 0;
  if (opts.ascii) {
    const full = Math.round(share * width);
    return '#'.repeat(full) + '.'.repeat(width - full);
  }
  const eighths = Math.round(share * width * 8);
  const full = Math.floor(eighths / 8);
  const partial = EIGHTHS[eighths % 8];
  const used = full + (partial ? 1 : 0);
  return '█'.repeat(full) + partial + '░'.repeat(width - used);
}
