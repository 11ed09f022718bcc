import { describe, expect, it } from 'vitest';
import { decodeAction, encodeAction } from '../../../src/core/actions';
import { escapeUserText, fitUserText, unescapeUserText } from '../../../src/platforms/discord/escape';
import { embedsLength, LIMITS } from '../../../src/platforms/discord/message';
import { claimsFromMessage, closeExplanationOnMessage, renderNoteModal } from '../../../src/platforms/discord/note';
import { renderView } from '../../../src/platforms/discord/render';
import { analysis, explanation, position } from './fixtures';
import { expectWithinDiscordLimits, HOSTILE_TEXT } from './limits';

/** Discord parses a mention or markup only from an unescaped opener; check none survives. */
function expectInert(text: string): void {
  // No @everyone/@here that Discord would highlight (a zero-width space follows the @).
  expect(text).not.toMatch(/@(everyone|here)/i);
  // Every `<`, `*`, `_`, `~`, `|`, backtick, `[` and `]` is preceded by a backslash.
  for (const m of text.matchAll(/[<*_~|`[\]]/g)) {
    const before = text.slice(0, m.index);
    const slashes = /\\*$/.exec(before)![0].length;
    expect(slashes % 2, `unescaped ${m[0]} at ${m.index} in ${JSON.stringify(text.slice(Math.max(0, m.index! - 10), m.index! + 10))}`).toBe(1);
  }
}

describe('escapeUserText', () => {
  it('neutralises mentions, markdown, code fences and masked links', () => {
    const escaped = escapeUserText(HOSTILE_TEXT);
    expectInert(escaped);
    expect(escaped).toContain('\\<@\u200b&123456789012345678\\>');
    expect(escaped).toContain('\\`\\`\\`js');
    expect(escaped).toContain('\\[click\\]\\(https\\://evil.example\\)');
    expect(escaped).toContain('\\# Heading');
  });

  it('shows control characters from model output as control pictures', () => {
    expect(escapeUserText('a\u0013b\u001dc\u007f\td')).toBe('a␓b␝c␡\td');
  });

  it('round-trips through unescapeUserText', () => {
    expect(unescapeUserText(escapeUserText(HOSTILE_TEXT))).toBe(HOSTILE_TEXT);
    expect(unescapeUserText(escapeUserText('a\\b \\\\*'))).toBe('a\\b \\\\*');
  });
});

describe('fitUserText', () => {
  it('leaves short text alone and marks cut text', () => {
    expect(fitUserText('hello', 10)).toBe('hello');
    const cut = fitUserText('x'.repeat(5000), 100);
    expect(cut.length).toBeLessThanOrEqual(100);
    expect(cut.endsWith('…')).toBe(true);
  });

  it('never leaves a dangling escape or a lone surrogate', () => {
    for (let limit = 5; limit < 60; limit++) {
      const cut = fitUserText('*'.repeat(100), limit);
      expect(cut.length).toBeLessThanOrEqual(limit);
      expect(cut).toMatch(/^(\\\*)*…$/);
      const emoji = fitUserText('😀'.repeat(100), limit);
      expect(emoji.length).toBeLessThanOrEqual(limit);
      expect(emoji).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
    }
  });
});

describe('custom ids', () => {
  it('carry only ids and parse back', () => {
    const id = encodeAction({ kind: 'vote', explanationId: 123456789012345, label: 'confabulated' });
    expect(id).toBe('v:123456789012345:c');
    expect(id.length).toBeLessThanOrEqual(LIMITS.customId);
    expect(decodeAction(id)).toEqual({ kind: 'vote', explanationId: 123456789012345, label: 'confabulated' });
    expect(decodeAction('n:5')).toEqual({ kind: 'note', explanationId: 5 });
    expect(decodeAction('m:5')).toEqual({ kind: 'modal', explanationId: 5 });
    expect(decodeAction('r:9')).toEqual({ kind: 'retry', analysisId: 9 });
    for (const bad of ['v:5', 'v:5:x', 'n:5:f', 'x:1', 'v:-1:f', 'v:99999999999999999999:f', '']) expect(decodeAction(bad)).toBeNull();
  });
});

describe('renderView(analysis)', () => {
  const normal = analysis('The quick brown fox', [
    position(3, ' ', [explanation(11, 1, 'A space before a word. It is English.', ['A space before a word.', 'It is English.'])]),
  ]);

  it('shows the prompt with the token highlighted, features, explanations and four buttons each', () => {
    const message = renderView(normal);
    expectWithinDiscordLimits(message);
    expect(message.embeds[0].description).toBe('The**⟦ ⟧**quick brown fox');
    expect(message.embeds[1].description).toContain('`100` computing jargon 0 — **4.00**');
    expect(message.embeds[2].description).toBe('A space before a word. It is English.');
    expect(message.embeds[2].fields?.find((f) => f.name === 'Round trip (AR)')?.value).toBe('cos 0.91 · mse\\_nrm 0.18 · fve\\_nrm 0.62');
    expect(message.components).toHaveLength(1);
    expect(message.components[0].components.map((c) => ('custom_id' in c ? c.custom_id : ''))).toEqual(['v:11:f', 'v:11:c', 'v:11:u', 'n:11']);
    // Open item, viewer has not voted: no tally anywhere.
    expect(JSON.stringify(message)).not.toMatch(/Votes/);
  });

  it('shows the score legend in the header footer when the view carries it', () => {
    expect(renderView(normal).embeds[0].footer).toBeUndefined();
    const legend = 'Scores: cosine, higher is better, 1 is perfect.';
    const message = renderView({ ...normal, legend });
    expectWithinDiscordLimits(message);
    expect(message.embeds[0].footer?.text).toBe(legend);
  });

  it('escapes hostile prompts, explanations, claims and labels', () => {
    const hostile = analysis(HOSTILE_TEXT, [position(3, 'v', [explanation(12, 1, HOSTILE_TEXT, [HOSTILE_TEXT])], HOSTILE_TEXT)], {
      requestedBy: '@everyone',
      model: '<@&1>',
    });
    const message = renderView(hostile);
    expectWithinDiscordLimits(message);
    for (const embed of message.embeds) {
      // The highlight markup (**⟦…⟧**) and the feature index code spans are ours; strip them.
      expectInert((embed.description ?? '').replace(/\*\*⟦|⟧\*\*|`\d+`|\*\*[\d.]+\*\*/g, ''));
      for (const f of embed.fields ?? []) expectInert(f.value.replace(/\*\*[\w.]+\*\*/g, ''));
    }
  });

  it('respects every limit with a huge prompt and too many explanations', () => {
    const longText = 'Claim. '.repeat(2000);
    const claims = Array.from({ length: 60 }, (_, i) => `Claim ${i} ${'@everyone '.repeat(30)}`);
    const positions = [1, 2, 3].map((p) =>
      position(p, '`', Array.from({ length: 8 }, (_, i) => explanation(p * 100 + i, i + 1, longText, claims)), '`'.repeat(500)),
    );
    const huge = analysis('`@everyone`'.repeat(800), positions);
    const message = renderView(huge);
    expectWithinDiscordLimits(message);
    expect(embedsLength(message.embeds)).toBeLessThanOrEqual(6000);
    expect(message.components.length).toBe(5);
    expect(message.embeds[0].fields?.some((f) => f.name === 'More' && /more explanations/.test(f.value))).toBe(true);
    expect(JSON.stringify(message.embeds)).toContain('…');
  });

  it('renders a failed, retryable analysis with the reason and a Retry button', () => {
    const failed = analysis('hello', [], { status: 'failed', error: 'The worker at http://127.0.0.1:9 did not answer.', retryable: true });
    const message = renderView(failed);
    expectWithinDiscordLimits(message);
    expect(message.embeds[0].title).toBe('Analysis #7 · failed');
    expect(message.embeds[0].fields?.find((f) => f.name === 'Failed')?.value).toMatch(/did not answer[\s\S]*\/retry 7/);
    expect(message.components[0].components[0]).toMatchObject({ custom_id: 'r:7', label: 'Retry' });
  });

  it('shows the tally and disables buttons once closed', () => {
    const closed = analysis('hello', [
      position(0, 'h', [explanation(13, 1, 'x', [], { state: 'closed', tally: { faithful: 2, confabulated: 1, unsure: 0 }, outcome: 'faithful' })]),
    ]);
    const message = renderView(closed);
    expect(message.embeds[2].fields?.find((f) => f.name === 'Votes (closed)')?.value).toBe(
      '✅ Faithful 2 · ❌ Confabulated 1 · ❔ Unsure 0 — **faithful**',
    );
    expect(message.components[0].components.every((c) => 'disabled' in c && c.disabled)).toBe(true);
  });
});

describe('closing a public message from its own contents', () => {
  it('adds the tally to the closed explanation and disables only its buttons', () => {
    const view = analysis('ab', [
      position(1, 'b', [explanation(21, 1, 'one', ['One.']), explanation(22, 2, 'two', ['Two.'])]),
    ]);
    const before = renderView(view);
    const after = closeExplanationOnMessage(before, { explanationId: 22, tally: { faithful: 0, confabulated: 3, unsure: 1 } });
    expectWithinDiscordLimits(after);
    expect(after.embeds[3].fields?.find((f) => f.name === 'Votes (closed)')?.value).toContain('❌ Confabulated 3');
    expect(after.embeds[2].fields?.some((f) => f.name.startsWith('Votes'))).toBe(false);
    expect(after.components[0].components.some((c) => 'disabled' in c && c.disabled)).toBe(false);
    expect(after.components[1].components.every((c) => 'disabled' in c && c.disabled)).toBe(true);
  });
});

describe('note modal', () => {
  it('offers the claims read back from the message, within modal limits', () => {
    const claims = ['It is *Spanish*.', '<@&1> @everyone\n2. is next', ...Array.from({ length: 30 }, (_, i) => `c${i} ${'y'.repeat(200)}`)];
    const message = renderView(analysis('ab', [position(1, 'b', [explanation(31, 1, 'text', claims)])]));
    const readBack = claimsFromMessage(message.embeds, 31);
    expect(readBack[0]).toBe('It is *Spanish*.');
    // A line break inside a claim cannot forge a claim line of its own.
    expect(readBack[1]).toBe('<@&1> @everyone 2. is next');
    expect(readBack[2]).toMatch(/^c0 y+/);
    const modal = renderNoteModal(31, readBack);
    expect(modal.custom_id).toBe('m:31');
    expect(modal.title.length).toBeLessThanOrEqual(LIMITS.modalTitle);
    expect(modal.components.length).toBeLessThanOrEqual(5);
    for (const label of modal.components as Array<{ label: string; description?: string; component: { options?: Array<{ label: string; value: string }> } }>) {
      expect(label.label.length).toBeLessThanOrEqual(LIMITS.modalLabel);
      expect(label.description?.length ?? 0).toBeLessThanOrEqual(LIMITS.modalLabelDescription);
      const options = label.component.options ?? [];
      expect(options.length).toBeLessThanOrEqual(LIMITS.selectOptions);
      for (const o of options) {
        expect(o.label.length).toBeLessThanOrEqual(LIMITS.selectOptionText);
        expect(o.value.length).toBeLessThanOrEqual(LIMITS.selectOptionText);
      }
    }
  });
});

describe('other views', () => {
  it('vote ack shows the own vote, then the tally', () => {
    const message = renderView({
      kind: 'vote-ack', explanationId: 5, myVote: 'confabulated', change: 'changed', previous: 'faithful',
      tally: { faithful: 1, confabulated: 2, unsure: 0 }, closedNow: false, state: 'open', note: '@here look', markedClaims: ['<@1> x'],
    });
    expectWithinDiscordLimits(message);
    const text = message.embeds[0].description!;
    expect(text).toMatch(/changed from \*\*Faithful\*\* to \*\*Confabulated\*\*[\s\S]*Current tally: ✅ Faithful 1 · ❌ Confabulated 2/);
    expect(JSON.stringify(message)).not.toMatch(/@here|<@1>/);
  });

  it('a file over the attachment limit is described, not attached', () => {
    const file = { kind: 'file' as const, path: '/data/export/d.jsonl', filename: 'd.jsonl', bytes: 20_000_000, contentType: 'application/jsonl', summary: ['12 rows'] };
    expect(renderView(file, { attachmentSizeLimit: 10 * 1024 * 1024 }).files).toBeUndefined();
    expect(renderView(file, { attachmentSizeLimit: 10 * 1024 * 1024 }).embeds[0].description).toMatch(/written to \/data\/export\/d.jsonl/);
    expect(renderView(file, { attachmentSizeLimit: 25_000_000 }).files).toEqual([{ attachment: '/data/export/d.jsonl', name: 'd.jsonl' }]);
  });

  it('stats, settings, feature, message and error views stay within limits with huge input', () => {
    const huge = '@everyone '.repeat(1000);
    const views = [
      { kind: 'stats' as const, scope: huge, analyses: 1, explanations: 2, votes: 3, reviewers: 1, openItems: 1, closedItems: 1,
        confabulationRate: { rate: 0.25, low: 0.1, high: 0.5, n: 8 }, extra: Array.from({ length: 40 }, () => ({ label: huge, value: huge })) },
      { kind: 'settings' as const, settings: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, huge])), changed: ['k1'] },
      { kind: 'feature' as const, index: 3, label: huge, firedCount: 2, analysedPositions: 9,
        examples: Array.from({ length: 100 }, () => ({ analysisId: 1, token: huge, context: huge, activation: 2 })) },
      { kind: 'message' as const, title: huge, lines: Array.from({ length: 100 }, () => huge) },
      { kind: 'error' as const, message: huge, code: 'x' },
    ];
    for (const view of views) {
      const message = renderView(view);
      expectWithinDiscordLimits(message);
      expect(JSON.stringify(message)).not.toMatch(/@everyone/);
    }
  });
});
