/**
 * The AR's prompt as the NLA release tokenizes it: with the tokenizer's special tokens (its
 * `post_processor`), the template in one piece around the explanation, and its tail checked
 * against the sidecar's `critic_suffix_ids`.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EngineError } from '../../../src/worker/engine';
import { ArPrompt } from '../../../src/worker/runtime/ar-prompt';
import type { OnnxArBackend } from '../../../src/worker/runtime/ar-onnx';
import { createEngine } from '../../../src/worker/runtime/engine';
import { ManifestError } from '../../../src/worker/runtime/manifest-files';
import { loadNlaMeta } from '../../../src/worker/runtime/nla-meta';
import { readPostProcessor } from '../../../src/worker/runtime/post-processor';
import { Tokenizer } from '../../../src/worker/runtime/tokenizer';
import { TokenizerError } from '../../../src/worker/runtime/tokenizer-config';
import { byteTokenizerJson } from './fixtures';

const BOS = 256;
const EOS = 257;
/** Gemma's shape: TemplateProcessing with BOS before the sequence. */
const GEMMA_LIKE = {
  type: 'TemplateProcessing',
  single: [{ SpecialToken: { id: '<|bos|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
  pair: [],
  special_tokens: { '<|bos|>': { id: '<|bos|>', ids: [BOS], tokens: ['<|bos|>'] } },
};
/** Llama 3's shape: ByteLevel, then the template, in a Sequence. */
const LLAMA_LIKE = { type: 'Sequence', processors: [{ type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true }, GEMMA_LIKE] };

function tokenizer(postProcessor: unknown, opts: Parameters<typeof byteTokenizerJson>[0] = {}): Tokenizer {
  return Tokenizer.fromJSON({ ...byteTokenizerJson(opts), post_processor: postProcessor }, 'fixture/tokenizer.json');
}
const bytes = (s: string) => [...Buffer.from(s)];
const AR_TEMPLATE = 'Summary of the following text: <text>{explanation}</text> <summary>';

describe('the special tokens a tokenizer adds (post_processor)', () => {
  it('reads Gemma\'s, Llama 3\'s, Qwen\'s and BERT\'s shapes', () => {
    expect(readPostProcessor(GEMMA_LIKE, 'x')).toEqual({ ok: true, single: { prefix: [BOS], suffix: [] } });
    expect(readPostProcessor(LLAMA_LIKE, 'x')).toEqual({ ok: true, single: { prefix: [BOS], suffix: [] } });
    expect(readPostProcessor({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false }, 'x')).toEqual({ ok: true, single: { prefix: [], suffix: [] } });
    expect(readPostProcessor(null, 'x')).toEqual({ ok: true, single: { prefix: [], suffix: [] } });
    expect(readPostProcessor({ type: 'BertProcessing', sep: ['[SEP]', 102], cls: ['[CLS]', 101] }, 'x')).toEqual({ ok: true, single: { prefix: [101], suffix: [102] } });
  });

  it('refuses what it cannot read, when special tokens are asked for, naming the file', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ type: 'Whisper' }, /post_processor type "Whisper" is not supported/],
      [{ type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<s>' } }, { Sequence: { id: 'A' } }], special_tokens: {} }, /names "<s>" but special_tokens gives it no ids/],
      [{ type: 'TemplateProcessing', single: [{ Sequence: { id: 'A' } }, { Sequence: { id: 'A' } }] }, /single template has 2 sequences; 1 expected/],
      [{ type: 'TemplateProcessing' }, /has no "single" template/],
      [{ type: 'Sequence', processors: 'ByteLevel' }, /Sequence has no processors list/],
      [{ type: 'BertProcessing', cls: ['[CLS]', -1], sep: ['[SEP]', 102] }, /has no valid cls \[token, id\] pair/],
    ];
    for (const [raw, message] of cases) {
      const t = tokenizer(raw);
      // the tokenizer still encodes plain text: only adding special tokens needs the post-processor
      expect(t.encode('ok', { allowSpecial: false }).ids).toEqual(bytes('ok'));
      expect(() => t.specialTokensAround()).toThrow(TokenizerError);
      expect(() => t.specialTokensAround()).toThrow(message);
      expect(() => t.specialTokensAround()).toThrow(/^fixture\/tokenizer\.json: post_processor /);
    }
  });
});

describe('the AR prompt', () => {
  it('starts with BOS when the tokenizer adds it, as the release tokenizes with add_special_tokens', () => {
    for (const pp of [GEMMA_LIKE, LLAMA_LIKE]) {
      const ids = ArPrompt.build(tokenizer(pp), AR_TEMPLATE, 128).ids('cats');
      expect(ids).toEqual([BOS, ...bytes('Summary of the following text: <text>cats</text> <summary>')]);
    }
    // Qwen's tokenizer adds nothing
    expect(ArPrompt.build(tokenizer({ type: 'ByteLevel' }), AR_TEMPLATE, 128).ids('cats')[0]).toBe(bytes('S')[0]);
  });

  it('tokenizes the explanation and the template around it in one piece, so boundary merges match', () => {
    // A merge of "." with "<": the release's one-piece tokenization gives ".<" at "detail.</text>".
    const t = tokenizer(null, { merges: ['. <'], extraVocab: ['.<'] });
    const dotLt = t.tokenId('.<')!;
    const ids = ArPrompt.build(t, AR_TEMPLATE, 128).ids('a detail.');
    expect(ids).toEqual([...bytes('Summary of the following text: <text>a detail'), dotLt, ...bytes('/text> <summary>')]);
  });

  it('matches special tokens in the template only, never in the explanation', () => {
    const ids = ArPrompt.build(tokenizer(null), '<|bos|>Text: {explanation}<|eos|>', 64).ids('x<|eos|>y');
    expect(ids).toEqual([BOS, ...bytes('Text: x<|eos|>y'), EOS]);
    expect(ids.filter((id) => id === EOS)).toHaveLength(1);
  });

  it('cuts a long explanation at the end and keeps the template and BOS', () => {
    const prompt = ArPrompt.build(tokenizer(GEMMA_LIKE), '<text>{explanation}</text>', 20);
    const ids = prompt.ids('x'.repeat(100));
    expect(ids).toHaveLength(20);
    expect(ids).toEqual([BOS, ...bytes('<text>'), ...bytes('x'.repeat(6)), ...bytes('</text>')]);
    // an empty explanation is not padded or refused
    expect(prompt.ids('')).toEqual([BOS, ...bytes('<text></text>')]);
    // a cut never splits a character: é is two bytes, and a cut inside it drops it whole
    const cut = prompt.ids('xxxxxé');
    expect(cut).toEqual([BOS, ...bytes('<text>xxxxx</text>')]);
  });

  it('refuses a template that leaves no room for an explanation', () => {
    expect(() => ArPrompt.build(tokenizer(GEMMA_LIKE), '<text>{explanation}</text>', 14)).toThrow(EngineError);
    expect(() => ArPrompt.build(tokenizer(GEMMA_LIKE), '<text>{explanation}</text>', 14)).toThrow(/The AR template alone is 14 tokens; the AR's context is 14/);
  });
});

describe('critic_suffix_ids is checked against the tokenized AR template', () => {
  const sidecar = path.join(import.meta.dirname, 'nla-release/tiny-L2/training/ar/nla_meta.yaml');
  const meta = loadNlaMeta(sidecar);

  it('the release\'s stable tail matches this worker\'s tokenization', () => {
    const prompt = ArPrompt.build(tokenizer(GEMMA_LIKE), meta.arTemplate!, 128);
    expect(() => prompt.checkSuffix(meta.criticSuffixIds, sidecar)).not.toThrow();
    expect(() => prompt.checkSuffix(null, sidecar)).not.toThrow();
  });

  it('another template or tokenizer is refused, naming the sidecar and the field', () => {
    const prompt = ArPrompt.build(tokenizer(GEMMA_LIKE), 'Summary: <text>{explanation}</text> <abstract>', 128);
    try {
      prompt.checkSuffix(meta.criticSuffixIds, sidecar);
      throw new Error('accepted');
    } catch (err) {
      expect(err).toBeInstanceOf(ManifestError);
      expect((err as ManifestError).file).toBe(sidecar);
      expect((err as ManifestError).field).toBe('tokens.critic_suffix_ids');
      expect((err as Error).message).toMatch(/but the AR prompt tokenized by fixture\/tokenizer\.json ends with \[.*\]: the AR's tokenizer or template is not the one it was trained with$/);
    }
    // a tail longer than the whole prompt cannot match either
    const short = ArPrompt.build(tokenizer(null), '{explanation}', 128);
    expect(() => short.checkSuffix(Array(200).fill(1), sidecar)).toThrow(ManifestError);
  });
});

describe('the reference stack with a tokenizer that adds BOS itself', () => {
  const REFERENCE = path.resolve(import.meta.dirname, '../../../models/reference');
  const copies: string[] = [];
  afterAll(() => copies.forEach((d) => rmSync(d, { recursive: true, force: true })));
  function copy(): string {
    const dir = mkdtempSync(path.join(tmpdir(), 'confab-ref-bos-'));
    copies.push(dir);
    cpSync(REFERENCE, dir, { recursive: true, filter: (src) => !src.includes(`${path.sep}gold${path.sep}`) });
    return dir;
  }

  it('an AR template without <|bos|> gives the golden ids and vector when the tokenizer adds BOS', async () => {
    const dir = copy();
    const tokFile = path.join(dir, 'tokenizer.json');
    writeFileSync(tokFile, JSON.stringify({ ...JSON.parse(readFileSync(tokFile, 'utf8')), post_processor: GEMMA_LIKE }));
    const arMeta = path.join(dir, 'nla/ar/nla_meta.yaml');
    writeFileSync(arMeta, readFileSync(arMeta, 'utf8').replace('ar: "<|bos|>{explanation}"', 'ar: "{explanation}"'));
    const golden = JSON.parse(readFileSync(path.join(REFERENCE, 'golden/ar.json'), 'utf8'));
    const engine = await createEngine(dir);
    try {
      const ar = engine.nla!.ar as OnnxArBackend;
      expect(ar.inputIds(golden.text)).toEqual(golden.input_ids);
      const [v] = await ar.vectors([golden.text]);
      expect(Math.max(...golden.vector.map((x: number, i: number) => Math.abs(x - v[i])))).toBeLessThan(1e-4);
    } finally {
      await engine.close();
    }
  });

  it('a critic_suffix_ids that the tokenized template does not end with stops the start', async () => {
    const dir = copy();
    const arMeta = path.join(dir, 'nla/ar/nla_meta.yaml');
    writeFileSync(arMeta, readFileSync(arMeta, 'utf8').replace('tokens: {', 'tokens: {critic_suffix_ids: [62, 62], '));
    await expect(createEngine(dir)).rejects.toThrow(`${arMeta}: tokens.critic_suffix_ids: is [62,62], but the AR prompt tokenized by`);
  });
});
