/**
 * The whole /explain → vote loop with Neuronpedia's servers as the backend, against the fake
 * held to their wire contract, on a real PGlite database: once with a reconstructor loaded,
 * and once without one, where the explanation is still shown and voted on and its round trip
 * reads as not computed.
 */
import { silentLogger } from '../../src/log';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServices, type Services } from '../../src/core/app';
import type { VoteAckView } from '../../src/core/view';
import { createNeuronpediaInferenceClient } from '../../src/inference';
import { formatScore } from '../../src/render/text';
import { createTestDatabase, testConfig, type TestDatabase } from '../db/support';
import { fakeCosine, startFakeNeuronpedia, type FakeNeuronpedia } from '../fakes/neuronpedia/server';
import { actor, explainAndWait, run } from './helpers';

for (const reconstructor of [true, false]) {
  describe(`Neuronpedia backend, reconstructor ${reconstructor ? 'loaded' : 'absent'}`, () => {
    let database: TestDatabase;
    let services: Services;
    let fake: FakeNeuronpedia;

    beforeAll(async () => {
      fake = await startFakeNeuronpedia({ secret: 'np-loop-secret', dModel: 16, layer: 20, reconstructor });
      const backend = createNeuronpediaInferenceClient({
        nlaUrl: fake.url,
        inferenceUrl: fake.url,
        secret: 'np-loop-secret',
        model: 'qwen2.5-7b-it',
        source: '20-res',
        fveBaseline: 0.7335,
      });
      database = await createTestDatabase('pglite');
      services = await createServices(testConfig(database.target, { CONFAB_DECOY_RATE: '0' }), { backend, pollMs: 100, logger: silentLogger });
    });
    afterAll(async () => {
      await services?.close();
      await database?.drop();
      await fake?.close();
    });

    it('explains, shows the explanation with its round trip (or n/a), and takes votes', async () => {
      const view = await explainAndWait(services, actor('alice'), { prompt: 'hi there' });
      expect(view.status, JSON.stringify(view).slice(0, 600)).toBe('done');
      const [p] = view.positions;
      expect(p).toMatchObject({ position: 8, token: 'e' });
      const [explanation] = p.explanations;
      expect(explanation.text).toBe('the character "e" at 8');
      if (reconstructor) expect(explanation.ar!.cosine).toBeCloseTo(fakeCosine(explanation.text), 6);
      else expect(explanation.ar === null || formatScore(explanation.ar.cosine) === 'n/a').toBe(true);

      const ack = (await run(services, actor('bob'), 'vote', { explanation: explanation.explanationId, label: 'faithful' })).view as VoteAckView;
      expect(ack.kind).toBe('vote-ack');
      const second = (await run(services, actor('carol'), 'vote', { explanation: explanation.explanationId, label: 'confabulated' })).view as VoteAckView;
      expect(second.kind).toBe('vote-ack');
      expect(fake.violations).toEqual([]);
      expect(fake.requests.map((r) => r.path).sort()).toEqual(['/explain', '/v1/activation/topk-by-token']);
    });
  });
}
