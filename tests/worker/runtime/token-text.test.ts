/**
 * A token that holds only part of a character (one byte of 🍕 from a byte-level BPE) must read
 * as its bytes, not as U+FFFD, wherever a user sees token strings.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnalyzeRequestSchema, type AnalyzeResponse } from '../../../src/protocol/analyze';
import { createEngine, type RuntimeEngine } from '../../../src/worker/runtime/engine';
import { bytesForDisplay, tokenDisplayText } from '../../../src/worker/runtime/token-text';
import { Tokenizer } from '../../../src/worker/runtime/tokenizer';
import { byteTokenizerJson } from './fixtures';

const DIR = path.resolve(import.meta.dirname, '../../../models/reference');

describe('token text: bytes of a split character', () => {
  const reference = Tokenizer.fromFile(path.join(DIR, 'tokenizer.json'));

  it('shows each byte of 🍕 from the reference tokenizer in hex, never as U+FFFD', () => {
    const enc = reference.encode('🍕', { allowSpecial: false });
    const shown = enc.ids.map((id) => tokenDisplayText(reference, id));
    expect(shown.join('')).not.toContain('\uFFFD');
    expect(shown.join(' ')).toBe('<F0> <9F> <8D> <95>');
  });

  it('leaves whole characters and ASCII as text', () => {
    const enc = reference.encode('a é', { allowSpecial: false });
    const shown = enc.ids.map((id) => tokenDisplayText(reference, id));
    expect(shown.slice(0, 2)).toEqual(['a', ' ']);
    expect(shown.slice(2)).toEqual(['<C3>', '<A9>']);
  });

  it('a merged token holding a character and part of the next shows both', () => {
    const bytes = Uint8Array.from([...Buffer.from('é', 'utf8'), 0xf0, 0x9f]);
    expect(bytesForDisplay(bytes)).toBe('é<F0 9F>');
    expect(bytesForDisplay(Uint8Array.from([0xe2, 0x82, 0xac, 0x20]))).toBe('€ ');
    // Overlong and surrogate encodings are not characters either.
    expect(bytesForDisplay(Uint8Array.from([0xc0, 0xaf]))).toBe('<C0 AF>');
    expect(bytesForDisplay(Uint8Array.from([0xed, 0xa0, 0x80]))).toBe('<ED A0 80>');
    expect(bytesForDisplay(new Uint8Array(0))).toBe('');
  });

  it('keeps a real U+FFFD in the text as it is', () => {
    const tok = Tokenizer.fromJSON(byteTokenizerJson({ merges: [], extraVocab: [] }));
    const ids = tok.encode('x\uFFFD', { allowSpecial: false }).ids;
    // Each byte of U+FFFD is its own token here, so each is shown as a byte.
    expect(ids.map((id) => tokenDisplayText(tok, id))).toEqual(['x', '<EF>', '<BF>', '<BD>']);
    expect(bytesForDisplay(Buffer.from('x\uFFFD', 'utf8'))).toBe('x\uFFFD');
  });

  it('reads byte-fallback tokens (<0xF0>) as bytes too', () => {
    const json = byteTokenizerJson();
    json.pre_tokenizer = null;
    json.decoder = { type: 'Sequence', decoders: [{ type: 'ByteFallback' }, { type: 'Fuse' }] } as unknown as typeof json.decoder;
    const vocab: Record<string, number> = { a: 0 };
    for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = b + 1;
    json.model = { ...json.model, vocab, byte_fallback: true, merges: [] };
    json.added_tokens = [];
    const tok = Tokenizer.fromJSON(json);
    expect(tokenDisplayText(tok, 0xf0 + 1)).toBe('<F0>');
    expect(tokenDisplayText(tok, 0x41 + 1)).toBe('A');
  });
});

describe('token text: the engine on the reference stack', () => {
  let engine: RuntimeEngine;
  beforeAll(async () => {
    engine = await createEngine(DIR);
  });
  afterAll(() => engine?.close());

  it('returns the bytes of a split character in tokens and position results', async () => {
    const [result] = (await engine.analyzeBatch([AnalyzeRequestSchema.parse({ prompt: 'pizza 🍕', positions: [-1, -4], nla_samples: 0 })])) as AnalyzeResponse[];
    const texts = result.tokens.filter((t) => !t.special).map((t) => t.text);
    expect(texts.slice(-4)).toEqual(['<F0>', '<9F>', '<8D>', '<95>']);
    expect(result.positions.map((p) => p.token)).toEqual(['<95>', '<F0>']);
    expect(JSON.stringify(result)).not.toContain('\uFFFD');
  });
});
