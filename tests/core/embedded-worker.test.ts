/**
 * The core against the real embedded worker on the reference model stack (ONNX via
 * onnxruntime-node, the HTTP edge, the inference client): what /explain stores is what the
 * worker computed, and the worker's refusals reach the user as failed analyses with its reason.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asc, eq } from 'drizzle-orm';
import { activations, positions, saeFeatures, tokens } from '../../db/schema';
import { REFERENCE_MODELS } from '../../src/config';
import { createServices, type Services } from '../../src/core/app';
import { readableFeatureLabel } from '../../src/core/legend';
import { createEmbeddedInferenceClient, type EmbeddedInferenceClient } from '../../src/cli/embedded-worker';
import { createEngine } from '../../src/worker/runtime/engine';
import type { AnalysisView, VoteAckView } from '../../src/core/view';
import { createTestDatabase, STORAGE_KINDS, testConfig, type TestDatabase } from '../db/support';
import { actor, explainAndWait, explanationIds, run } from './helpers';
import { silentLogger } from '../../src/log';

let client: EmbeddedInferenceClient;
beforeAll(async () => {
  const engine = await createEngine(REFERENCE_MODELS, { executionProvider: 'cpu' });
  client = await createEmbeddedInferenceClient({ engine, timeoutMs: 30_000 });
});
afterAll(async () => {
  await client?.close();
});

for (const { kind, skip } of STORAGE_KINDS) {
  describe.skipIf(skip)(`core with the embedded reference worker on ${kind}`, () => {
    let database: TestDatabase;
    let services: Services;
    beforeAll(async () => {
      database = await createTestDatabase(kind);
      // The client is shared by both suites; it is closed once, above, not by services.close().
      services = await createServices(testConfig(database.target), { backend: { analyze: (r, s) => client.analyze(r, s) }, logger: silentLogger });
    });
    afterAll(async () => {
      await services?.close();
      await database?.drop();
    });

    it('stores exactly what the worker computed', async () => {
      const prompt = 'The quick brown fox';
      const view = await explainAndWait(services, actor('alice'), { prompt, token: 'quick', samples: 2 });
      expect(view.status).toBe('done');
      const direct = await client.analyze({ prompt, positions: [view.positions[0].position], nla_samples: 0, top_k: 8, return_activations: true });
      expect(view.model).toBe(direct.model);
      expect(view.layer).toBe(direct.layer);
      expect(view.tokens).toEqual(direct.tokens.map((t) => ({ text: t.text, start: t.start, end: t.end })));
      // "quick" ends at the token covering its last character, in the worker's own tokenizer.
      const p = view.positions[0];
      const token = direct.tokens[p.position];
      expect(prompt.slice(token.start, token.end)).toBe('k');
      expect(p.features.map((f) => f.index)).toEqual(direct.positions[0].sae.features.map((f) => f.index));
      expect(p.features[0].label).toBe(readableFeatureLabel(direct.positions[0].sae.features[0].label));
      expect(p.fveNrm).toBeCloseTo(direct.positions[0].sae.fve_nrm, 6);
      expect(p.explanations).toHaveLength(2);
      for (const e of p.explanations) {
        expect(e.text.length).toBeGreaterThan(0);
        expect(e.ar!.mseNrm).toBeCloseTo(2 * (1 - e.ar!.cosine), 5);
      }

      const [row] = await services.database.db
        .select({ vector: activations.vector, dModel: activations.dModel })
        .from(activations)
        .innerJoin(positions, eq(positions.id, activations.positionId))
        .where(eq(positions.analysisId, view.analysisId));
      expect(row.dModel).toBe(direct.d_model);
      expect(Buffer.from(row.vector).toString('base64')).toBe(direct.positions[0].activation);
      const stored = await services.database.db.select().from(tokens).where(eq(tokens.analysisId, view.analysisId)).orderBy(asc(tokens.idx));
      expect(stored.map((t) => t.tokenId)).toEqual(direct.tokens.map((t) => t.id));
      const features = await services.database.db
        .select()
        .from(saeFeatures)
        .innerJoin(positions, eq(positions.id, saeFeatures.positionId))
        .where(eq(positions.analysisId, view.analysisId));
      expect(features).toHaveLength(8);

      // And the loop closes on it.
      const [id] = explanationIds(view);
      for (const name of ['r1', 'r2', 'r3']) await run(services, actor(name), 'vote', { explanation: id, label: 'confabulated' });
      const again = (await run(services, actor('r1'), 'vote', { explanation: id, label: 'confabulated' })).view as VoteAckView;
      expect(again).toMatchObject({ change: 'unchanged', state: 'closed', tally: { confabulated: 3 } });
    });

    it("shows the worker's reason when it refuses a position or an over-long prompt", async () => {
      const badPosition = await explainAndWait(services, actor('alice'), { prompt: 'Short', position: 50 });
      expect(badPosition).toMatchObject({ status: 'failed', retryable: false });
      expect(badPosition.error).toMatch(/^The worker rejected this analysis: /);
      expect(badPosition.error!.length).toBeGreaterThan('The worker rejected this analysis: '.length + 10);

      // Under the character limit (2,000) but over the model's 128-token context.
      const tooManyTokens: AnalysisView = await explainAndWait(services, actor('alice'), { prompt: 'word '.repeat(60) });
      expect(tooManyTokens).toMatchObject({ status: 'failed', retryable: false });
      expect(tooManyTokens.error).toMatch(/token/i);
    });
  });
}
