/**
 * The digest on Discord: one embed with the figures, the chart attached as a PNG and shown as
 * the embed's image. Every text passes through the channel's escaping and limit helpers; the
 * contested items quote model output, and nobody is pinged (`allowed_mentions` is empty).
 */
import type { APIEmbed, Client, SendableChannels } from 'discord.js';
import type { DigestEvent } from '../../core/services';
import type { Digest } from '../../core/digest/content';
import { SIGNAL_TITLES, alphaText, datasetText, decoysText, digestTitle, quartilesText, rateText, signalText, trendText } from '../../core/digest/text';
import { renderDigestChart } from '../../render/chart';
import { formatCount, truncate } from '../../render/text';
import { fitUserText } from './escape';
import { COLORS, fitMessage, LIMITS, NO_MENTIONS } from './message';

export interface DigestMessage {
  content: string;
  embeds: APIEmbed[];
  allowedMentions: typeof NO_MENTIONS;
  files: Array<{ attachment: Buffer; name: string }>;
}

const field = (name: string, value: string, inline = false) => ({ name, value: truncate(value || '—', LIMITS.fieldValue), inline });

/** A file name Discord accepts in `attachment://`: letters, digits, dot, dash, underscore. */
export function chartFileName(digest: Digest): string {
  return `digest-${digest.period.label.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '')}.png`;
}

/** The message without the chart bytes (what the tests read), then with them. */
export function digestEmbed(digest: Digest, late: boolean): APIEmbed {
  const title = digestTitle(digest);
  if (digest.empty) {
    return {
      title,
      description: `Nothing was reviewed in ${fitUserText(digest.period.label, 100)}: no analyses, no votes, no items closed.${late ? '\n*Posted late: Confab was not running at the scheduled time.*' : ''}`,
      color: COLORS.info,
      fields: [field('Dataset', datasetText(digest))],
    };
  }
  const contested = digest.contested.map(
    (c) => `• **#${c.explanationId}** (analysis #${c.analysisId}, ${c.faithful}–${c.confabulated}) in <#${c.channel.replace(/\D/g, '') || '0'}>: ${fitUserText(c.text, 160)}`,
  );
  const fields = [
    field('Analyses', formatCount(digest.analyses), true),
    field('Explanations voted', formatCount(digest.explanationsVoted), true),
    field('Votes', formatCount(digest.votes), true),
    field('Active reviewers', formatCount(digest.reviewers), true),
    field('Items closed', formatCount(digest.itemsClosed), true),
    field('Confabulation rate', rateText(digest.confabulationRate)),
    field('Trend', trendText(digest)),
    field("Agreement (Krippendorff's alpha)", alphaText(digest)),
    field('Decoys', decoysText(digest)),
    field('Most contested', contested.length ? contested.join('\n') : 'none (no item with votes both ways)'),
    field('Automatic signals (AUROC against the human labels)', digest.signals.map((s) => `${SIGNAL_TITLES[s.name]}: ${signalText(s)}`).join('\n')),
    field('fve_nrm', `SAE ${quartilesText(digest.fveNrm.sae)}\nNLA ${quartilesText(digest.fveNrm.nla)}`),
    field('Dataset', datasetText(digest)),
  ];
  return {
    title,
    description: late ? '*Posted late: Confab was not running at the scheduled time.*' : undefined,
    color: COLORS.info,
    fields,
  };
}

export async function digestMessage(digest: Digest, late: boolean): Promise<DigestMessage> {
  const name = chartFileName(digest);
  const fitted = fitMessage({ embeds: [{ ...digestEmbed(digest, late), image: { url: `attachment://${name}` } }], components: [], allowedMentions: NO_MENTIONS });
  return { content: '', embeds: fitted.embeds, allowedMentions: NO_MENTIONS, files: [{ attachment: await renderDigestChart(digest), name }] };
}

/** The Discord channel's digest listener: posts to the digest channel; false when it cannot. */
export async function postDigest(client: Client, event: DigestEvent, log: { warn(message: string): void }): Promise<boolean> {
  if (event.platform !== 'discord' || !client.isReady()) return false;
  const channel = client.channels.cache.get(event.channelId) ?? (await client.channels.fetch(event.channelId).catch(() => null));
  if (!channel || !channel.isSendable()) {
    log.warn(`discord: cannot post the digest to channel ${event.channelId} (not visible to the bot or not a text channel).`);
    return false;
  }
  await (channel as SendableChannels).send(await digestMessage(event.digest, event.late));
  return true;
}
