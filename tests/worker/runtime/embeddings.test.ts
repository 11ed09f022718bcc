import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { EngineError } from '../../../src/worker/engine';
import { AvPromptBuilder, fillAvTemplate, findInjectionSite, rescaleTo } from '../../../src/worker/runtime/embeddings';
import { loadManifest } from '../../../src/worker/runtime/manifest';
import { Tokenizer } from '../../../src/worker/runtime/tokenizer';
import { writeFixtureStack } from './fixtures';

const dirs: string[] = [];
function stack(opts: Parameters<typeof writeFixtureStack>[0] = {}) {
  const dir = writeFixtureStack(opts);
  dirs.push(dir);
  const manifest = loadManifest(dir);
  return { manifest, tokenizer: Tokenizer.fromFile(manifest.subject.tokenizer) };
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const tokens = { injectionChar: '㈎', injectionTokenId: 9, leftNeighborId: 1, rightNeighborId: 2 };

describe('injection site', () => {
  it('finds the one neighbour-checked site', () => {
    expect(findInjectionSite([0, 9, 5, 1, 9, 2, 9], tokens)).toBe(4);
  });

  it('refuses when no occurrence has the right neighbours', () => {
    expect(() => findInjectionSite([0, 9, 2, 1, 9, 3], tokens)).toThrow(/has 0 injection sites .* 2 bare occurrences\); exactly 1 is required/);
  });

  it('refuses when several sites match', () => {
    try {
      findInjectionSite([1, 9, 2, 1, 9, 2], tokens);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(EngineError);
      expect((err as EngineError).message).toMatch(/has 2 injection sites/);
    }
  });

  it('without neighbour ids, any single occurrence is the site', () => {
    expect(findInjectionSite([4, 9, 4], { ...tokens, leftNeighborId: null, rightNeighborId: null })).toBe(1);
  });
});

describe('AvPromptBuilder', () => {
  it('builds template rows times embed_scale and injects v * scale / ||v|| at the site', async () => {
    const { manifest, tokenizer } = stack();
    const spec = manifest.nla!.av;
    expect(fillAvTemplate(spec)).toBe('<|bos|>act <㈎> says <explanation>');
    const builder = await AvPromptBuilder.open(spec, tokenizer, 8);
    const v = Float32Array.from([3, 0, 4, 0, 0, 0, 0, 0]);
    const built = builder.build(v);
    // <|bos|> a c t ' ' < ㈎ > ...: the site is index 6, between '<' (60) and '>' (62)
    expect(Array.from(built.tokenIds.slice(0, 8))).toEqual([256, 97, 99, 116, 32, 60, 259, 62]);
    expect(built.site).toBe(6);
    expect(built.T).toBe(tokenizer.encode(fillAvTemplate(spec), { allowSpecial: true }).ids.length);
    const d = built.d;
    const row = built.embeds.subarray(built.site * d, (built.site + 1) * d);
    // injection_scale 3 in the fixture: [3,0,4]/5*3
    expect(Array.from(row.slice(0, 3)).map((x) => +x.toFixed(5))).toEqual([1.8, 0, 2.4]);
    expect(Math.hypot(...row)).toBeCloseTo(3, 5);
    // The fixture's row v holds v + j/100; neighbours are untouched.
    expect(built.embeds[5 * d + 1]).toBeCloseTo(60.01, 4);
    expect(built.embeds[7 * d]).toBe(62);
    // The template rows are shared, not mutated, between builds.
    const other = builder.build(Float32Array.from([0, 1, 0, 0, 0, 0, 0, 0]));
    expect(other.embeds[6 * d + 1]).toBeCloseTo(3, 6);
    expect(built.embeds[6 * d + 1]).toBe(0);
  });

  it('applies embed_scale to every template row', async () => {
    const { manifest, tokenizer } = stack();
    const spec = { ...manifest.nla!.av, embedScale: Math.sqrt(8) };
    const built = (await AvPromptBuilder.open(spec, tokenizer, 8)).build(Float32Array.from([1, 1, 1, 1, 1, 1, 1, 1]));
    expect(built.embeds[1 * 8 + 2]).toBeCloseTo((97 + 0.02) * Math.sqrt(8), 3);
  });

  it('wraps the filled template in the chat template and tokenizes both in one step', async () => {
    const { manifest, tokenizer } = stack({ avTemplate: 'act <{injection_char}> says' });
    const spec = { ...manifest.nla!.av, chatTemplate: '<|bos|>user: {prompt}<|eos|>\nmodel: <explanation>' };
    expect(fillAvTemplate(spec)).toBe('<|bos|>user: act <㈎> says<|eos|>\nmodel: <explanation>');
    const builder = await AvPromptBuilder.open(spec, tokenizer, 8);
    const ids = Array.from(builder.tokenIds);
    expect(ids.filter((id) => id === 256)).toHaveLength(1);
    expect(ids.filter((id) => id === 257)).toHaveLength(1);
    expect(ids[builder.site]).toBe(259);
    expect(ids[builder.site - 1]).toBe(60);
  });

  it('refuses a template whose neighbours do not match the sidecar', async () => {
    const { manifest, tokenizer } = stack({ neighbors: [60, 62], avTemplate: '<|bos|>act [{injection_char}] <explanation>' });
    await expect(AvPromptBuilder.open(manifest.nla!.av, tokenizer, 8)).rejects.toThrow(/has 0 injection sites/);
  });

  it('rejects vectors of the wrong width, non-finite or zero', async () => {
    const { manifest, tokenizer } = stack();
    const builder = await AvPromptBuilder.open(manifest.nla!.av, tokenizer, 8);
    expect(() => builder.build(new Float32Array(7).fill(1))).toThrow(/has 7 values; this model's d_model is 8/);
    expect(() => builder.build(Float32Array.from([1, NaN, 0, 0, 0, 0, 0, 0]))).toThrow(/non-finite value at index 1/);
    expect(() => builder.build(new Float32Array(8))).toThrow(/all zeros/);
    try {
      builder.build(new Float32Array(3));
    } catch (err) {
      expect((err as EngineError).status).toBe(400);
    }
  });

  it('computes the norm in wide precision: huge Gemma-style scales keep exact norm', () => {
    const v = Float32Array.from({ length: 3840 }, (_, i) => ((i % 7) - 3) * 1e3);
    const out = new Float32Array(3840);
    rescaleTo(v, 80000, out);
    expect(Math.hypot(...out) / 80000).toBeCloseTo(1, 6);
  });

  it('user text typing the injection char can never become the site', async () => {
    const { manifest, tokenizer } = stack();
    const ids = tokenizer.encode('<㈎>', { allowSpecial: false }).ids;
    expect(ids).not.toContain(259);
    expect(() => findInjectionSite(ids, manifest.nla!.av.meta.tokens)).toThrow(/0 injection sites/);
  });
});
