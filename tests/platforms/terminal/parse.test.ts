import { describe, expect, it } from 'vitest';
import { allCommands } from '../../../commands';
import { parseLine, usageLine } from '../../../src/platforms/text-command';

const commands = new Map(allCommands.map((c) => [c.name, c]));
const parse = (line: string) => parseLine(line, commands);

describe('parseLine', () => {
  it('gives the rest of the line to the prompt, options first', () => {
    expect(parse('/explain --position 3 --samples 2 The quick -- brown fox')).toEqual({
      kind: 'command',
      name: 'explain',
      options: { position: '3', samples: '2', prompt: 'The quick -- brown fox' },
    });
    expect(parse('/explain --token="brown fox" The quick brown fox')).toMatchObject({ options: { token: 'brown fox', prompt: 'The quick brown fox' } });
  });

  it('keeps a prompt verbatim, including quotes and dashes after the options', () => {
    expect(parse('/explain   "quoted"  --not-an-option  ')).toMatchObject({ options: { prompt: '"quoted"  --not-an-option' } });
    expect(parse('/explain -- --starts with dashes')).toMatchObject({ options: { prompt: '--starts with dashes' } });
  });

  it('reads a vote as id, label and note, with or without #', () => {
    expect(parse('/vote #12 confabulated it is Italian, not Spanish')).toEqual({
      kind: 'command',
      name: 'vote',
      options: { explanation: '#12', label: 'confabulated', note: 'it is Italian, not Spanish' },
    });
    expect(parse('/vote 12 faithful')).toMatchObject({ options: { explanation: '12', label: 'faithful' } });
    expect(parse('/VOTE --claims 1,3 #4 unsure')).toMatchObject({ name: 'vote', options: { claims: '1,3', explanation: '#4', label: 'unsure' } });
  });

  it('accepts key=value for commands without positional options', () => {
    expect(parse('/settings votes_to_close=5 max-prompt-chars=500')).toEqual({
      kind: 'command',
      name: 'settings',
      options: { votes_to_close: '5', max_prompt_chars: '500' },
    });
    expect(parse('/settings --votes-to-close 4')).toMatchObject({ options: { votes_to_close: '4' } });
  });

  it('handles the terminal’s own commands', () => {
    expect(parse('/as bob')).toEqual({ kind: 'terminal', name: 'as', argument: 'bob' });
    expect(parse('/help vote')).toEqual({ kind: 'terminal', name: 'help', argument: 'vote' });
    expect(parse('/quit')).toEqual({ kind: 'terminal', name: 'quit', argument: '' });
  });

  it('skips blank lines and comments', () => {
    expect(parse('')).toEqual({ kind: 'empty' });
    expect(parse('   ')).toEqual({ kind: 'empty' });
    expect(parse('# three reviewers vote')).toEqual({ kind: 'empty' });
  });

  it('explains what is wrong with a bad line', () => {
    expect(parse('hello')).toMatchObject({ kind: 'error', message: expect.stringContaining('Commands start with "/"') });
    expect(parse('/explode')).toMatchObject({ kind: 'error', message: expect.stringMatching(/Unknown command "\/explode".*\/explain/) });
    expect(parse('/explain --bogus 1 hi')).toMatchObject({ kind: 'error', message: expect.stringMatching(/no option --bogus; allowed: .*--position/) });
    expect(parse('/stats now')).toMatchObject({ kind: 'error', message: expect.stringContaining('does not take "now"') });
    expect(parse('/explain --token "unclosed hi')).toMatchObject({ kind: 'error', message: expect.stringContaining('closing "') });
    expect(parse('/explain --position')).toMatchObject({ kind: 'error', message: '--position needs a value.' });
  });
});

describe('usageLine', () => {
  it('is built from the declaration', () => {
    const explain = commands.get('explain')!;
    expect(usageLine(explain)).toBe('/explain [--token TEXT] [--position N] [--samples N] <prompt>');
    expect(usageLine(commands.get('vote')!)).toContain('faithful|confabulated|unsure');
  });
});
