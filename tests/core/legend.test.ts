/**
 * Scores explained where they are shown: a score legend under a reviewer's first result and in
 * the detailed help of /explain, feature-label counts that say what they count, and feature
 * references inside an explanation written as the feature list writes them (`f780`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allCommands } from '../../commands';
import { createServices, type Services } from '../../src/core/app';
import { featureReferences, readableFeatureLabel, SCORE_LEGEND } from '../../src/core/legend';
import type { FeatureCardView } from '../../src/core/view';
import { createLogger } from '../../src/log';
import { parseSlashText } from '../../src/platforms/slack/slash';
import { renderView } from '../../src/platforms/terminal/render';
import type { AnalyzeRequestInput, AnalyzeResponse } from '../../src/protocol/analyze';
import { createTestDatabase, testConfig, type TestDatabase } from '../db/support';
import { FixtureWorker } from './fixture-worker';
import { actor, explainAndWait, run } from './helpers';

/** The fixture worker, answering with labels and explanations shaped like the reference stack's. */
class ReferenceShapedWorker extends FixtureWorker {
  override async analyze(input: AnalyzeRequestInput, signal?: AbortSignal): Promise<AnalyzeResponse> {
    const response = await super.analyze(input, signal);
    for (const position of response.positions) {
      position.sae.features.forEach((f) => (f.label = `token "${position.token}" (14/20); Spanish saying (20/20)`));
      for (const e of position.explanations) e.text = `Spanish saying; word "mar"; next " Al"; #780`;
    }
    return response;
  }
}

describe('readable scores, labels and feature references', () => {
  it('rewrites top-example counts and #feature references, and nothing else', () => {
    expect(readableFeatureLabel('token "R" (15/20); Italian saying (13/20); fires on 56 of 208036 tokens')).toBe(
      'token "R" (15 of 20 top examples); Italian saying (13 of 20 top examples); fires on 56 of 208036 tokens',
    );
    expect(readableFeatureLabel('a label with no counts, 3/4 of the time')).toBe('a label with no counts, 3/4 of the time');
    expect(featureReferences('Spanish saying; next " Al"; #780')).toBe('Spanish saying; next " Al"; f780');
    expect(featureReferences('#12 and #7, then x#3 and &#38; stay')).toBe('f12 and f7, then x#3 and &#38; stay');
    expect(featureReferences('no references')).toBe('no references');
    expect(SCORE_LEGEND).toMatch(/cosine, higher is better, 1 is perfect; fve_nrm, 1 is perfect, 0 is as good as predicting the mean, below 0 is worse/);
  });

  it('/help explain shows the legend on Slack and in the /explain declaration the terminal reads', () => {
    const commands = new Map(allCommands.map((c) => [c.name, c]));
    expect(commands.get('explain')!.notes).toEqual([SCORE_LEGEND]);
    expect(parseSlashText('help explain', commands)).toMatchObject({ kind: 'help', lines: expect.arrayContaining([SCORE_LEGEND]) });
    expect(parseSlashText('help vote', commands)).toMatchObject({ kind: 'help', lines: expect.not.arrayContaining([SCORE_LEGEND]) });
  });
});

describe('the first result of a session', () => {
  let database: TestDatabase;
  let services: Services;

  beforeAll(async () => {
    database = await createTestDatabase('pglite');
    services = await createServices(testConfig(database.target, { CONFAB_RATE_LIMIT_PER_MINUTE: '100', CONFAB_DECOY_RATE: '0' }), {
      backend: new ReferenceShapedWorker(),
      pollMs: 200,
      logger: createLogger({ level: 'error' }),
    });
  }, 180_000);
  afterAll(async () => {
    await services?.close();
    await database?.drop();
  });

  it('carries the legend once per reviewer, with readable labels and f-references', async () => {
    const first = await explainAndWait(services, actor('alice'), { prompt: 'The sea' });
    expect(first.legend).toBe(SCORE_LEGEND);
    const [position] = first.positions;
    expect(position.features[0].label).toBe('token "a" (14 of 20 top examples); Spanish saying (20 of 20 top examples)');
    expect(position.explanations[0].text).toBe('Spanish saying; word "mar"; next " Al"; f780');
    expect(position.explanations[0].claims).toEqual(['Spanish saying;', 'word "mar";', 'next " Al";', 'f780']);
    const shown = renderView(first, { color: false });
    expect(shown.trimEnd().split('\n').at(-1)).toBe(SCORE_LEGEND);
    expect(shown).not.toMatch(/#780|\(14\/20\)/);

    const second = await explainAndWait(services, actor('alice'), { prompt: 'The sea again' });
    expect(second.legend).toBeUndefined();
    expect(renderView(second, { color: false })).not.toContain('fve_nrm, 1 is perfect');
    expect((await explainAndWait(services, actor('bob'), { prompt: 'Hola' })).legend).toBe(SCORE_LEGEND);

    const card = (await run(services, actor('alice'), 'feature', { index: position.features[0].index })).view as FeatureCardView;
    expect(card.label).toContain('of 20 top examples');
  });
});
