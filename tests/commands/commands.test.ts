/** The command declarations and the option checks every channel relies on (no database needed). */
import { describe, expect, it } from 'vitest';
import { allCommands } from '../../commands';
import { DomainError } from '../../src/core/errors';
import { findCommand, parseOptions } from '../../commands/invoke';

function optionError(command: string, raw: Record<string, unknown>): DomainError {
  try {
    parseOptions(findCommand(command)!, raw);
  } catch (e) {
    expect(e).toBeInstanceOf(DomainError);
    return e as DomainError;
  }
  throw new Error(`expected /${command} to reject ${JSON.stringify(raw)}`);
}

describe('command declarations', () => {
  it('declares the issue\'s commands once each, with unique names', () => {
    const names = allCommands.map((c) => c.name);
    expect(names).toEqual(['explain', 'vote', 'review', 'stats', 'feature', 'retry', 'settings', 'close', 'reopen', 'dataset']);
    expect(new Set(names).size).toBe(names.length);
  });

  it('keeps names and options within every platform\'s rules', () => {
    for (const c of allCommands) {
      // Discord: 1-32 lowercase chars; descriptions 1-100.
      expect(c.name).toMatch(/^[a-z][a-z0-9_-]{0,31}$/);
      expect(c.description.length).toBeGreaterThan(0);
      expect(c.description.length).toBeLessThanOrEqual(100);
      const positions = c.options.filter((o) => o.position !== undefined).map((o) => o.position);
      expect(new Set(positions).size).toBe(positions.length);
      // Discord wants required options before optional ones.
      const firstOptional = c.options.findIndex((o) => !o.required);
      if (firstOptional >= 0) expect(c.options.slice(firstOptional).every((o) => !o.required)).toBe(true);
      for (const o of c.options) {
        expect(o.name).toMatch(/^[a-z][a-z0-9_]{0,31}$/);
        expect(o.description.length).toBeLessThanOrEqual(100);
      }
    }
  });

  it('marks admin commands and the ones that cost worker time', () => {
    expect(allCommands.filter((c) => c.adminOnly).map((c) => c.name)).toEqual(['settings', 'close', 'reopen']);
    expect(allCommands.filter((c) => c.rateLimited).map((c) => c.name)).toEqual(['explain', 'retry']);
  });

  it('finds commands with or without the slash, in any case', () => {
    expect(findCommand('/Vote')?.name).toBe('vote');
    expect(findCommand('explain')?.name).toBe('explain');
    expect(findCommand('nope')).toBeUndefined();
  });
});

describe('option parsing', () => {
  it('accepts what text channels send: numbers as text, #ids, labels in any case', () => {
    expect(parseOptions(findCommand('vote')!, { explanation: '#12', label: 'Faithful', note: 'ok' })).toEqual({ explanation: 12, label: 'faithful', note: 'ok' });
    expect(parseOptions(findCommand('explain')!, { prompt: 'hi', position: '-1', samples: 3 })).toEqual({ prompt: 'hi', position: -1, samples: 3 });
    expect(parseOptions(findCommand('review')!, {})).toEqual({});
    // Absent and undefined are the same; an empty string for a number is absent too.
    expect(parseOptions(findCommand('explain')!, { prompt: 'hi', position: undefined, samples: '' })).toEqual({ prompt: 'hi' });
  });

  it('says what was wrong and what is allowed', () => {
    expect(optionError('vote', { explanation: 'twelve', label: 'faithful' }).message).toBe('Explanation must be a whole number; got "twelve".');
    expect(optionError('vote', { explanation: 1.5, label: 'faithful' }).message).toBe('Explanation must be a whole number; got 1.5.');
    expect(optionError('vote', { explanation: 0, label: 'faithful' }).message).toBe('Explanation must be at least 1 for /vote; got 0.');
    expect(optionError('vote', { label: 'faithful' }).message).toBe('/vote needs explanation: Explanation id, shown as #<id>.');
    expect(optionError('vote', { explanation: 1, label: 'faithful', weight: 2 }).message).toBe(
      '/vote has no option "weight". Its options are: explanation, label, note, claims.',
    );
    expect(optionError('review', { all: true }).message).toBe('/review has no option "all". It takes no options.');
    expect(optionError('settings', { votes_to_close: 51 }).message).toBe('Votes to close must be from 1 to 50 for /settings; got 51.');
    expect(optionError('vote', { explanation: 1, label: 'faithful', note: 'é'.repeat(1001) }).message).toBe('Note is 1,001 characters; the limit is 1,000.');
    expect(optionError('explain', { prompt: { text: 'hi' } }).message).toBe('Prompt must be text; got object.');
  });

  it('refuses control characters in any text option, but keeps line breaks and tabs', () => {
    const e = optionError('explain', { prompt: 'a\u001b[31mred' });
    expect(e.code).toBe('control_characters');
    expect(e.message).toBe('Prompt contains a control character (U+001B); only text, line breaks and tabs are allowed.');
    expect(optionError('vote', { explanation: 1, label: 'unsure', note: 'bad\u0000' }).code).toBe('control_characters');
    expect(optionError('explain', { prompt: 'c1 \u0085 control' }).code).toBe('control_characters');
    expect(parseOptions(findCommand('explain')!, { prompt: 'line one\nline two\tend\r\n' })).toEqual({ prompt: 'line one\nline two\tend\r\n' });
  });
});
