/**
 * The Slack renderer, escaping, action ids, slash text and configuration, as pure functions.
 * Every rendered message is checked with the fake's own limit rules (what Slack would refuse).
 */
import { describe, expect, it } from 'vitest';
import { allCommands } from '../../../commands';
import type { View } from '../../../src/core/view';
import { decodeAction, encodeAction } from '../../../src/platforms/slack/actions';
import { closeExplanationInBlocks, errorMessage, renderView } from '../../../src/platforms/slack/blocks';
import { configureSlack, describeSlack } from '../../../src/platforms/slack/module';
import { claimsFromBlocks, readNoteSubmission, renderNoteModal } from '../../../src/platforms/slack/modal';
import { escapeMrkdwn, fitMrkdwn, unescapeMrkdwn } from '../../../src/platforms/slack/mrkdwn';
import { parseSlashText } from '../../../src/platforms/slack/slash';
import { messageRefusal, modalRefusal, SLACK_LIMITS } from '../../fakes/slack/limits';
import { analysis, explanation, position } from '../discord/fixtures';
import { actionIds, blockText } from './harness';

const commands = new Map(allCommands.map((c) => [c.name, c]));
const HOSTILE = '<!channel> <!here> <!everyone> <@U123> <#C999|general> *bold* _it_ ~s~ ```code``` <https://evil.example|click> & done';

function expectAccepted(view: View) {
  const message = renderView(view);
  expect(messageRefusal({ text: message.text, blocks: message.blocks })).toBeNull();
  return message;
}

describe('Slack mrkdwn escaping', () => {
  it('makes mentions, links and formatting inert, and reads back to the original', () => {
    const escaped = escapeMrkdwn(HOSTILE);
    expect(escaped).not.toMatch(/<|>/);
    expect(escaped).toContain('&lt;!channel&gt;');
    expect(escaped).toContain('&amp; done');
    expect(escaped).not.toContain('*bold*');
    expect(escaped).not.toContain('```');
    expect(unescapeMrkdwn(escaped)).toBe(HOSTILE);
  });

  it('cuts the raw text, never inside an entity, with a visible marker', () => {
    const cut = fitMrkdwn('<'.repeat(100), 50);
    expect(cut.length).toBeLessThanOrEqual(50);
    expect(cut.endsWith('…')).toBe(true);
    expect(cut.slice(0, -1)).toMatch(/^(&lt;)+$/);
    expect(fitMrkdwn('😀'.repeat(40), 21)).not.toMatch(/[\ud800-\udbff]…$/);
  });
});

describe('Slack action ids', () => {
  it('round-trip, carry ids only, and refuse anything else', () => {
    for (const action of [
      { kind: 'vote', explanationId: 12, label: 'confabulated' },
      { kind: 'note', explanationId: 12 },
      { kind: 'modal', explanationId: 12 },
      { kind: 'retry', analysisId: 3 },
      { kind: 'next', explanationId: 9 },
    ] as const) {
      expect(decodeAction(encodeAction(action))).toEqual(action);
    }
    expect(encodeAction({ kind: 'vote', explanationId: 12, label: 'faithful' })).toBe('v:12:f');
    for (const bad of ['', 'v:12', 'v:12:x', 'n:12:f', 'q:1', 'v:0:f', 'v:-1:f', `v:${'9'.repeat(16)}:f`, 'v:1.5:f']) expect(decodeAction(bad)).toBeNull();
  });
});

describe('Slack renderer', () => {
  it('renders an analysis with the token marked, features, scores, claims and the four buttons', () => {
    const view = analysis('The quick brown fox', [position(18, 'x', [explanation(41, 1, 'Animals. A fox.', ['Animals.', 'A fox.'])])]);
    const message = expectAccepted(view);
    const text = blockText(message.blocks);
    expect(text).toContain('*⟦x⟧*');
    expect(text).toContain('Round trip (AR): cos 0.91 · mse_nrm 0.18 · fve_nrm 0.62');
    expect(text).toContain('1. Animals.\n2. A fox.');
    expect(actionIds(message.blocks)).toEqual([['v:41:f', 'v:41:c', 'v:41:u', 'n:41']]);
    expect(claimsFromBlocks(message.blocks, 41)).toEqual(['Animals.', 'A fox.']);
  });

  it('ends a result with the score legend when the view carries it', () => {
    const view = analysis('The fox', [position(6, 'x', [explanation(41, 1, 'A fox.', ['A fox.'])])]);
    expect(blockText(expectAccepted(view).blocks)).not.toContain('Scores:');
    const message = expectAccepted({ ...view, legend: 'Scores: cosine, higher is better, 1 is perfect.' });
    expect(message.blocks.at(-1)).toMatchObject({ type: 'context', block_id: 'legend' });
    expect(blockText(message.blocks)).toContain('Scores: cosine, higher is better, 1 is perfect.');
  });

  it('holds every limit by visible truncation on a huge, hostile analysis', () => {
    const long = `${HOSTILE} `.repeat(400);
    const explanations = Array.from({ length: 8 }, (_, i) => explanation(100 + i, i + 1, long, Array.from({ length: 30 }, () => long.slice(0, 500))));
    const positions = Array.from({ length: 4 }, (_, p) => position(p, long.slice(0, 300), explanations, long.slice(0, 200)));
    const view = analysis(long, positions, { model: long, requestedBy: long });
    const message = expectAccepted(view);
    expect(message.blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.messageBlocks);
    expect(blockText(message.blocks)).toMatch(/more part.? did not fit in one Slack message/);
    expect(blockText(message.blocks)).not.toMatch(/<!|<@|<#|<https/);
  });

  it('renders a failed analysis with Retry, and every other view within the limits', () => {
    const failed = expectAccepted(analysis('p', [], { status: 'failed', error: 'The worker is unavailable.', retryable: true }));
    expect(actionIds(failed.blocks)).toEqual([['r:7']]);
    const views: View[] = [
      { kind: 'vote-ack', explanationId: 4, myVote: 'faithful', change: 'changed', previous: 'unsure', tally: { faithful: 2, confabulated: 1, unsure: 0 }, closedNow: true, state: 'closed', note: HOSTILE.repeat(100), markedClaims: [HOSTILE] },
      { kind: 'stats', scope: HOSTILE, analyses: 1, explanations: 2, votes: 3, reviewers: 4, openItems: 1, closedItems: 1, confabulationRate: { rate: 0.5, low: 0.1, high: 0.9, n: 2 }, extra: [{ label: HOSTILE, value: HOSTILE.repeat(50) }] },
      { kind: 'feature', index: 3, label: HOSTILE, firedCount: 2, analysedPositions: 9, examples: Array.from({ length: 50 }, () => ({ analysisId: 1, token: ' ', context: HOSTILE, activation: 1 })) },
      { kind: 'settings', settings: { votes_to_close: 3, reviewer_role: HOSTILE }, changed: ['votes_to_close'] },
      { kind: 'message', title: HOSTILE, lines: Array.from({ length: 400 }, () => HOSTILE) },
      { kind: 'error', code: 'x', message: HOSTILE.repeat(100) },
      { kind: 'file', path: '/tmp/x.jsonl', filename: 'x.jsonl', bytes: 10, contentType: 'application/x-ndjson', summary: [HOSTILE] },
    ];
    for (const view of views) expect(blockText(expectAccepted(view).blocks)).not.toMatch(/<!|<@|<#|<https/);
  });

  it('closing an item replaces its buttons with the tally and keeps the others', () => {
    const view = analysis('The fox', [position(6, 'x', [explanation(1, 1, 'A.', ['A.']), explanation(2, 2, 'B.', ['B.'])])]);
    const closed = closeExplanationInBlocks(renderView(view).blocks, { explanationId: 1, tally: { faithful: 1, confabulated: 2, unsure: 0 } });
    expect(actionIds(closed)).toEqual([['v:2:f', 'v:2:c', 'v:2:u', 'n:2']]);
    expect(blockText(closed)).toContain('Votes (closed): ✅ Faithful 1 · ❌ Confabulated 2 · ❔ Unsure 0 — *confabulated*');
    expect(messageRefusal({ text: 'x', blocks: closed })).toBeNull();
  });

  it('an error names what was wrong, escaped, with usage lines as Confab wrote them', () => {
    const message = errorMessage('Prompt <@U1> is too long.', ['Usage: `/confab explain <prompt>`']);
    expect(blockText(message.blocks)).toContain('Prompt &lt;@U1&gt; is too long.');
    expect(blockText(message.blocks)).toContain('Usage: `/confab explain <prompt>`');
  });
});

describe('Slack Note modal', () => {
  it('fits Slack (title 24, 10 checkboxes of 75 characters) and reads back a submission', () => {
    const claims = Array.from({ length: 14 }, (_, i) => `${HOSTILE} claim ${i}`.repeat(3));
    const modal = renderNoteModal(123456789012345, claims, { channelId: 'C1', messageTs: '1.2' });
    expect(modalRefusal(modal)).toBeNull();
    expect((modal.title as { text: string }).text.length).toBeLessThanOrEqual(SLACK_LIMITS.modalTitle);
    expect(blockText(modal.blocks as any[])).toContain('The first 10 of 14 claims');
    expect(readNoteSubmission({ label: { label: { selected_option: { value: 'unsure' } } }, note: { note: { value: '  ' } }, claims: { claims: { selected_options: [{ value: '1' }, { value: '3' }] } } })).toEqual({
      label: 'unsure',
      note: undefined,
      claims: '1,3',
    });
  });
});

describe('/confab text', () => {
  it('is parsed with the terminal parser over the shared declarations', () => {
    expect(parseSlashText('explain --position 3 --samples 2 The &lt;b&gt; fox &amp; hound', commands)).toEqual({
      kind: 'command',
      name: 'explain',
      options: { position: '3', samples: '2', prompt: 'The <b> fox & hound' },
    });
    expect(parseSlashText('vote #12 confabulated because', commands)).toEqual({ kind: 'command', name: 'vote', options: { explanation: '#12', label: 'confabulated', note: 'because' } });
    expect(parseSlashText('settings votes_to_close=5', commands)).toEqual({ kind: 'command', name: 'settings', options: { votes_to_close: '5' } });
  });

  it('answers help, an unknown subcommand and bad syntax with usage', () => {
    expect(parseSlashText('', commands).kind).toBe('help');
    expect(parseSlashText('HELP vote', commands)).toMatchObject({ kind: 'help', lines: expect.arrayContaining(['Usage: `/confab vote [--claims TEXT] <explanation> faithful|confabulated|unsure [<note>]`']) });
    expect(parseSlashText('quit', commands)).toMatchObject({ kind: 'usage-error', message: 'There is no /confab quit subcommand.' });
    expect(parseSlashText('stats extra words', commands)).toMatchObject({ kind: 'usage-error', message: expect.stringContaining('/confab stats does not take "extra words"') });
    expect(parseSlashText('explain --samples', commands)).toMatchObject({ kind: 'usage-error', message: '--samples needs a value.' });
  });
});

describe('Slack configuration', () => {
  const base = { SLACK_BOT_TOKEN: 'xoxb-1-abc' };
  it('is off without a bot token, Socket Mode with an app token, HTTP mode with a signing secret', () => {
    expect(configureSlack({})).toBeUndefined();
    const socket = configureSlack({ ...base, SLACK_APP_TOKEN: 'xapp-1-def', SLACK_SIGNING_SECRET: 's' })!;
    expect(describeSlack(socket)).toBe('Slack, Socket Mode');
    const httpMode = configureSlack({ ...base, SLACK_SIGNING_SECRET: 's', SLACK_PORT: '8080', SLACK_API_URL: 'http://127.0.0.1:9/api' })!;
    expect(httpMode).toMatchObject({ port: 8080, apiUrl: 'http://127.0.0.1:9/api/' });
    expect(describeSlack(httpMode)).toBe('Slack, HTTP mode on port 8080 (POST /slack/events), API http://127.0.0.1:9/api/');
    expect(describeSlack(httpMode)).not.toContain('xoxb');
  });

  it('names the variables when half-configured or malformed, never showing a secret', () => {
    expect(() => configureSlack(base)).toThrow('neither SLACK_APP_TOKEN (Socket Mode) nor SLACK_SIGNING_SECRET (HTTP mode)');
    expect(() => configureSlack({ SLACK_APP_TOKEN: 'xapp-1' })).toThrow('SLACK_APP_TOKEN is set, but SLACK_BOT_TOKEN');
    expect(() => configureSlack({ SLACK_BOT_TOKEN: 'xoxp-user-token', SLACK_SIGNING_SECRET: 's' })).toThrow('SLACK_BOT_TOKEN=(hidden) is not valid');
    expect(() => configureSlack({ ...base, SLACK_APP_TOKEN: 'xoxb-wrong' })).toThrow('SLACK_APP_TOKEN=(hidden) is not valid');
    expect(() => configureSlack({ ...base, SLACK_SIGNING_SECRET: 's', SLACK_PORT: '70000' })).toThrow('SLACK_PORT="70000" is not valid');
    expect(() => configureSlack({ ...base, SLACK_SIGNING_SECRET: 's', SLACK_API_URL: 'ftp://x' })).toThrow('SLACK_API_URL="ftp://x" is not valid');
    expect(() => configureSlack({ SLACK_BOT_TOKEN: 'xoxp-secret-value', SLACK_SIGNING_SECRET: 's' })).not.toThrow(/secret-value/);
  });
});
