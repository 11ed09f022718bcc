import { describe, expect, it } from 'vitest';
import { escapeTerminal } from '../../../src/platforms/terminal/escape';

describe('escapeTerminal', () => {
  it('leaves ordinary text, accents and emoji alone', () => {
    const text = 'Más vale tarde que nunca — «ok» 😀 ㈎';
    expect(escapeTerminal(text)).toBe(text);
  });

  it('shows escape sequences as visible text instead of sending them', () => {
    // Clear screen, move the cursor, OSC 52 clipboard write, window title.
    const attacks = ['\x1b[2J\x1b[H', '\x1b]52;c;ZXZpbA==\x07', '\x1b]0;pwned\x07'];
    for (const attack of attacks) {
      const out = escapeTerminal(attack);
      expect(out).not.toMatch(/[\x00-\x1f\x7f]/);
      expect(out).toContain('\\x1b');
    }
  });

  it('escapes C1 controls, including the single-byte CSI', () => {
    expect(escapeTerminal('a\u009b2Jb')).toBe('a\\x9b2Jb');
    expect(escapeTerminal('\u0085')).toBe('\\x85');
  });

  it('names newline, carriage return and tab, and shows DEL and NUL as hex', () => {
    expect(escapeTerminal('a\nb\rc\td')).toBe('a\\nb\\rc\\td');
    expect(escapeTerminal('\x7f\x00')).toBe('\\x7f\\x00');
  });

  it('escapes bidirectional overrides and line separators (text that displays out of order)', () => {
    expect(escapeTerminal('abc\u202edcba')).toBe('abc\\u202edcba');
    expect(escapeTerminal('x\u2066y\u2069')).toBe('x\\u2066y\\u2069');
    expect(escapeTerminal('a\u2028b')).toBe('a\\u2028b');
  });
});
