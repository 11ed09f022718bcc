/**
 * Neuronpedia's top-k lists cannot tell how many SAE features are active, so the Neuronpedia
 * backend reports `l0` as not computed (null), and it stays null from the client through the
 * database to every channel, where it reads "n/a", never a sentinel such as -1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServices, type Services } from '../../src/core/app';
import type { AnalysisView } from '../../src/core/view';
import { createNeuronpediaInferenceClient } from '../../src/inference';
import { silentLogger } from '../../src/log';
import { renderView as renderDiscord } from '../../src/platforms/discord/render';
import { renderView as renderSlack } from '../../src/platforms/slack/blocks';
import { renderView as renderTerminal } from '../../src/platforms/terminal/render';
import { SaeBlockSchema } from '../../src/protocol/analyze';
import { formatCount } from '../../src/render/text';
import { actor, explainAndWait } from '../core/helpers';
import { createTestDatabase, testConfig, type TestDatabase } from '../db/support';
import { startFakeNeuronpedia, type FakeNeuronpedia } from '../fakes/neuronpedia/server';

describe('l0 from the Neuronpedia backend', () => {
  let database: TestDatabase;
  let services: Services;
  let fake: FakeNeuronpedia;
  const options = { nlaUrl: '', inferenceUrl: '', secret: 'np-l0-secret', model: 'qwen2.5-7b-it', source: '20-res' };

  beforeAll(async () => {
    fake = await startFakeNeuronpedia({ secret: options.secret, dModel: 16, layer: 20 });
    options.nlaUrl = fake.url;
    options.inferenceUrl = fake.url;
    database = await createTestDatabase('pglite');
    services = await createServices(testConfig(database.target, { CONFAB_DECOY_RATE: '0' }), {
      backend: createNeuronpediaInferenceClient(options),
      pollMs: 100,
      logger: silentLogger,
    });
  });
  afterAll(async () => {
    await services?.close();
    await database?.drop();
    await fake?.close();
  });

  it('the client answers l0: null, which the protocol accepts', async () => {
    const client = createNeuronpediaInferenceClient(options);
    try {
      const result = await client.analyze({ prompt: 'hi there', positions: [-1], top_k: 3 });
      expect(result.positions[0].sae.l0).toBeNull();
      expect(SaeBlockSchema.shape.l0.safeParse(null).success).toBe(true);
    } finally {
      await client.close();
    }
  });

  it('is stored as null and shown as "n/a" in the terminal, Discord and Slack', async () => {
    const view: AnalysisView = await explainAndWait(services, actor('alice'), { prompt: 'hi there' });
    expect(view.status).toBe('done');
    expect(view.positions[0].l0).toBeNull();

    const terminal = renderTerminal(view, { color: false });
    expect(terminal).toContain('SAE L0 n/a');
    expect(terminal).not.toMatch(/L0 -1/);

    const discord = JSON.stringify(renderDiscord(view));
    expect(discord).toContain('{"name":"L0","value":"n/a","inline":true}');
    expect(discord).not.toContain('"value":"-1"');

    const slack = JSON.stringify(renderSlack(view));
    expect(slack).toContain('L0 n/a');
    expect(slack).not.toContain('L0 -1');
    expect(fake.violations).toEqual([]);
  });

  it('a computed count still prints as a count', () => {
    expect([formatCount(16), formatCount(2400), formatCount(0), formatCount(null), formatCount(undefined), formatCount(Number.NaN)]).toEqual([
      '16',
      '2,400',
      '0',
      'n/a',
      'n/a',
      'n/a',
    ]);
  });
});
