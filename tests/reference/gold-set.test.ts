/**
 * The gold set's items must be what the shipped stack computes: the saved activation is the
 * subject's hidden state at the saved position, and the saved explanation is the AV's greedy
 * output for it, built and injected in TypeScript. Otherwise reviewer accuracy measured on the
 * gold set would be about a different model than the one the worker runs.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeActivation } from '../../src/protocol/analyze';
import { createEngine, type RuntimeEngine } from '../../src/worker/runtime/engine';

const DIR = path.resolve(import.meta.dirname, '../../models/reference');
interface GoldItem {
  id: string;
  prompt: string;
  position: number;
  token: string;
  activation: string;
  explanation: string;
  claims: Array<{ text: string; kind: string; truth: boolean }>;
}
const items: GoldItem[] = readFileSync(path.join(DIR, 'gold/gold_set.jsonl'), 'utf8')
  .trim()
  .split('\n')
  .map((line) => JSON.parse(line));

let engine: RuntimeEngine;
beforeAll(async () => {
  engine = await createEngine(DIR);
});
afterAll(() => engine?.close());

describe('gold set against the shipped stack', () => {
  it('has held-out items with claims', () => {
    expect(items.length).toBeGreaterThanOrEqual(50);
    expect(new Set(items.map((i) => i.id)).size).toBe(items.length);
    for (const item of items) expect(item.claims.length).toBeGreaterThan(0);
  });

  // Every 25th item: enough to catch a drifted export, cheap enough for CI.
  const sample = items.filter((_, i) => i % 25 === 0);
  it.each(sample.map((item) => [item.id, item] as const))('%s: activation, token and explanation reproduce', async (_id, item) => {
    const tok = engine.tokenize(item.prompt);
    expect(tok.tokens[item.position].text).toBe(item.token);
    const { hidden } = await engine.forward([tok.ids]);
    const saved = decodeActivation(item.activation);
    expect(saved.length).toBe(128);
    let worst = 0;
    saved.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - hidden[item.position * 128 + j]))));
    expect(worst).toBeLessThan(1e-4);
    const [[explanation]] = await engine.describe([saved], { samples: 1, temperature: 0, maxNewTokens: 64 });
    // The gold file may store the tagged or the bare text; either holds what the AV said.
    expect(item.explanation).toContain(explanation.parsed ? explanation.text : explanation.raw.trim());
  });
});
