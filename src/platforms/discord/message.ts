/**
 * Discord's message limits and the pieces every message is built from. `fitMessage` enforces the
 * per-message limits (10 embeds, 6000 characters across embeds, 5 action rows of 5 buttons), so
 * no view can make Discord answer 400.
 */
import type { APIActionRowComponent, APIComponentInMessageActionRow, APIEmbed, APIEmbedField } from 'discord.js';
import type { TallyView, VoteLabel } from '../../core/view';
import { formatCount, plural, TRUNCATION_MARKER, truncate } from '../../render/text';

/** Discord's limits (platforms.md, and the API reference for modals). */
export const LIMITS = {
  content: 2000,
  embedsPerMessage: 10,
  embedTitle: 256,
  embedDescription: 4096,
  embedFields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footer: 2048,
  authorName: 256,
  embedsTotal: 6000,
  actionRows: 5,
  buttonsPerRow: 5,
  customId: 100,
  buttonLabel: 80,
  selectOptions: 25,
  selectOptionText: 100,
  selectPlaceholder: 150,
  modalTitle: 45,
  modalLabel: 45,
  modalLabelDescription: 100,
  textInput: 4000,
} as const;

/** Never let a message ping anyone: user text can contain `@everyone` or `<@&role>`. */
export const NO_MENTIONS = { parse: [] as [] };

export const COLORS = { info: 0x5865f2, success: 0x57f287, warning: 0xfee75c, error: 0xed4245, closed: 0x99aab5 } as const;

/** A message ready for discord.js: `allowed_mentions` is always set. */
export interface DiscordMessage {
  content?: string;
  embeds: APIEmbed[];
  components: Array<APIActionRowComponent<APIComponentInMessageActionRow>>;
  allowedMentions: typeof NO_MENTIONS;
  /** Files to attach (local paths). */
  files?: Array<{ attachment: string; name: string }>;
}

export const LABEL_NAMES: Record<VoteLabel, string> = { faithful: 'Faithful', confabulated: 'Confabulated', unsure: 'Unsure' };
export const LABEL_ICONS: Record<VoteLabel, string> = { faithful: '✅', confabulated: '❌', unsure: '❔' };

export function tallyLine(tally: TallyView): string {
  return (['faithful', 'confabulated', 'unsure'] as const).map((l) => `${LABEL_ICONS[l]} ${LABEL_NAMES[l]} ${formatCount(tally[l])}`).join(' · ');
}

/** The footer that identifies an explanation's embed, so a vote that closes it can find it. */
export function explanationFooter(explanationId: number): string {
  return `explanation #${explanationId}`;
}

export function field(name: string, value: string, inline = false): APIEmbedField {
  return { name: truncate(name, LIMITS.fieldName), value: truncate(value || '—', LIMITS.fieldValue), inline };
}

/** Join lines, dropping whole lines (with a count) rather than cutting one in half. */
export function truncateLines(lines: string[], limit: number): string {
  const out: string[] = [];
  let used = 0;
  for (let i = 0; i < lines.length; i++) {
    const more = `${TRUNCATION_MARKER} ${plural(lines.length - i, 'more line')}`;
    const next = used + lines[i].length + (out.length ? 1 : 0);
    const reserve = i < lines.length - 1 ? more.length + 1 : 0;
    if (next + reserve > limit) {
      out.push(more);
      return truncate(out.join('\n'), limit);
    }
    out.push(lines[i]);
    used = next;
  }
  return out.join('\n');
}

function embedLength(embed: APIEmbed): number {
  let n = (embed.title?.length ?? 0) + (embed.description?.length ?? 0) + (embed.footer?.text.length ?? 0) + (embed.author?.name.length ?? 0);
  for (const f of embed.fields ?? []) n += f.name.length + f.value.length;
  return n;
}

/** Total characters Discord counts against the 6000 limit. */
export function embedsLength(embeds: APIEmbed[]): number {
  return embeds.reduce((n, e) => n + embedLength(e), 0);
}

/**
 * Enforce the per-message limits. When the embeds together exceed 6000 characters, shorten the
 * longest text (description or field value) until they fit, each with a visible marker.
 */
export function fitMessage(message: DiscordMessage): DiscordMessage {
  const embeds = message.embeds.slice(0, LIMITS.embedsPerMessage).map((e) => ({
    ...e,
    title: e.title === undefined ? undefined : truncate(e.title, LIMITS.embedTitle),
    description: e.description === undefined ? undefined : truncate(e.description, LIMITS.embedDescription),
    footer: e.footer ? { ...e.footer, text: truncate(e.footer.text, LIMITS.footer) } : undefined,
    fields: e.fields?.slice(0, LIMITS.embedFields).map((f) => ({ ...f, name: truncate(f.name, LIMITS.fieldName), value: truncate(f.value, LIMITS.fieldValue) })),
  }));
  let excess = embedsLength(embeds) - LIMITS.embedsTotal;
  while (excess > 0) {
    let target: { get: () => string; set: (s: string) => void } | null = null;
    let longest = 0;
    for (const e of embeds) {
      if ((e.description?.length ?? 0) > longest) {
        longest = e.description!.length;
        target = { get: () => e.description!, set: (s) => (e.description = s) };
      }
      for (const f of e.fields ?? []) {
        if (f.value.length > longest) {
          longest = f.value.length;
          target = { get: () => f.value, set: (s) => (f.value = s) };
        }
      }
    }
    if (!target || longest <= 1) break;
    const text = target.get();
    // Shrink by the excess, but never below a readable stub, then re-measure.
    const next = Math.max(Math.min(64, text.length - 1), text.length - excess);
    target.set(truncate(text, next));
    excess = embedsLength(embeds) - LIMITS.embedsTotal;
  }
  const components = message.components.slice(0, LIMITS.actionRows).map((row) => ({
    ...row,
    components: row.components.slice(0, LIMITS.buttonsPerRow).map((c) =>
      'label' in c && typeof c.label === 'string' ? { ...c, label: truncate(c.label, LIMITS.buttonLabel) } : c,
    ),
  }));
  return {
    ...message,
    content: message.content === undefined ? undefined : truncate(message.content, LIMITS.content),
    embeds,
    components,
    allowedMentions: NO_MENTIONS,
  };
}
