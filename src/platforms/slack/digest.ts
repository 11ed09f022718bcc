/**
 * The digest on Slack: one Block Kit message with the figures, then the chart uploaded to the
 * same channel with files.uploadV2. The contested items quote model output, so every text goes
 * through `fitMrkdwn`; a failed upload leaves the message posted and says why in the log.
 */
import type { WebClient } from '@slack/web-api';
import type { Digest } from '../../core/digest/content';
import { SIGNAL_TITLES, alphaText, datasetText, decoysText, digestTitle, quartilesText, rateText, signalText, trendText } from '../../core/digest/text';
import type { DigestEvent } from '../../core/services';
import { renderDigestChart } from '../../render/chart';
import { formatCount } from '../../render/text';
import { fitMessage, fitMrkdwn, joinLines, LIMITS, mrkdwn, plainText, type Block, type SlackMessage } from './mrkdwn';
import { describeSlackError, type SlackLog } from './people';

const section = (text: string, blockId: string): Block => ({ type: 'section', block_id: blockId, text: mrkdwn(text) });
const context = (text: string, blockId: string): Block => ({ type: 'context', block_id: blockId, elements: [mrkdwn(text, LIMITS.contextText)] });
/** A figure line: the name is Confab's own mrkdwn, the value is escaped. */
const figure = (name: string, value: string) => `*${name}:* ${fitMrkdwn(value, 600)}`;

/** A file name Slack shows as is: letters, digits, dash and underscore. */
export function chartFileName(digest: Pick<Digest, 'period'>): string {
  return `digest-${digest.period.label.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '')}.png`;
}

/** A channel reference Slack renders as a link to one of the workspace's channels, never a ping. */
function channelLink(channel: string): string {
  const id = channel.replace(/[^A-Z0-9]/g, '');
  return /^[CG][A-Z0-9]+$/.test(id) ? `<#${id}>` : fitMrkdwn(channel, 40);
}

export function digestMessage(digest: Digest, late: boolean): SlackMessage {
  const title = digestTitle(digest);
  const blocks: Block[] = [{ type: 'header', text: plainText(title, LIMITS.header) }];
  if (late) blocks.push(context('_Posted late: Confab was not running at the scheduled time._', 'late'));
  if (digest.empty) {
    blocks.push(section(`Nothing was reviewed in ${fitMrkdwn(digest.period.label, 100)}: no analyses, no votes, no items closed.`, 'empty'));
    blocks.push(context(figure('Dataset', datasetText(digest)), 'dataset'));
    return fitMessage({ text: `${title}: nothing was reviewed`, blocks });
  }
  blocks.push(
    section(
      [
        figure('Analyses', formatCount(digest.analyses)),
        figure('Explanations voted', formatCount(digest.explanationsVoted)),
        figure('Votes', formatCount(digest.votes)),
        figure('Active reviewers', formatCount(digest.reviewers)),
        figure('Items closed', formatCount(digest.itemsClosed)),
      ].join(' · '),
      'counts',
    ),
    section(
      joinLines(
        [
          figure('Confabulation rate', rateText(digest.confabulationRate)),
          figure('Trend', trendText(digest)),
          figure("Agreement (Krippendorff's alpha)", alphaText(digest)),
          figure('Decoys', decoysText(digest)),
        ],
        LIMITS.sectionText,
      ),
      'rates',
    ),
  );
  const contested = digest.contested.map(
    (c) =>
      `• *#${c.explanationId}* (analysis #${c.analysisId}, ${formatCount(c.faithful)}–${formatCount(c.confabulated)}) in ${channelLink(c.channel)}${c.messageRef ? ` (message ${fitMrkdwn(c.messageRef, 40)})` : ''}: ${fitMrkdwn(c.text, 160)}`,
  );
  blocks.push(section(joinLines(['*Most contested*', ...(contested.length ? contested : ['none (no item with votes both ways)'])], LIMITS.sectionText), 'contested'));
  blocks.push(
    section(
      joinLines(['*Automatic signals* (AUROC against the human labels)', ...digest.signals.map((s) => `${fitMrkdwn(SIGNAL_TITLES[s.name], 100)}: ${fitMrkdwn(signalText(s), 300)}`)], LIMITS.sectionText),
      'signals',
    ),
  );
  blocks.push(section(joinLines(['*SAE vs NLA `fve_nrm`*', `SAE ${fitMrkdwn(quartilesText(digest.fveNrm.sae), 300)}`, `NLA ${fitMrkdwn(quartilesText(digest.fveNrm.nla), 300)}`], LIMITS.sectionText), 'fve'));
  blocks.push(context(figure('Dataset', datasetText(digest)), 'dataset'));
  return fitMessage({ text: title, blocks });
}

/**
 * The Slack channel's digest listener. True once the message is posted: a chart that could not
 * be rendered or uploaded is logged, not retried, so the figures are never posted twice.
 */
export async function postDigest(client: WebClient, event: DigestEvent, log: SlackLog): Promise<boolean> {
  if (event.platform !== 'slack') return false;
  const message = digestMessage(event.digest, event.late);
  const sent = await client.chat.postMessage({ channel: event.channelId, text: message.text, blocks: message.blocks as never, unfurl_links: false, unfurl_media: false });
  const channel = sent.channel ?? event.channelId;
  const filename = chartFileName(event.digest);
  try {
    await client.files.uploadV2({ channel_id: channel, file: await renderDigestChart(event.digest), filename, title: digestTitle(event.digest) });
  } catch (error) {
    log.warn(`slack: the digest ${event.digest.period.label} was posted in ${channel}, but its chart ${filename} was not uploaded: ${describeSlackError(error)}`);
  }
  return true;
}
