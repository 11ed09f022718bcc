/** The feature card: what an SAE feature is labelled, and where it fired in this team's prompts. */
import { sql } from 'drizzle-orm';
import { queryRows, type Queryable } from '../../db';
import { DomainError } from './errors';
import { readableFeatureLabel } from './legend';
import type { FeatureCardView } from './view';

/** Characters of prompt shown on each side of an example token. */
const CONTEXT_CHARS = 40;

export async function featureCard(db: Queryable, workspaceId: number, index: number, examples = 5): Promise<FeatureCardView> {
  if (!Number.isInteger(index) || index < 0) {
    throw new DomainError('invalid_feature', `Feature index must be a whole number from 0; got ${index}.`);
  }
  const [c] = await queryRows<{ analysed: number; fired: number; label: string | null }>(db, sql`
    select
      (select count(*) from positions p join analyses a on a.id = p.analysis_id where a.workspace_id = ${workspaceId})::int as analysed,
      (select count(*) from sae_features f join positions p on p.id = f.position_id join analyses a on a.id = p.analysis_id
         where a.workspace_id = ${workspaceId} and f.feature_index = ${index})::int as fired,
      (select f.label from sae_features f join positions p on p.id = f.position_id
         where f.feature_index = ${index} order by p.id desc limit 1) as label
  `);
  const rows = await queryRows<{ analysis_id: number; prompt: string; token: string; activation: number; start: number | null; end: number | null }>(db, sql`
    select a.id as analysis_id, a.prompt, p.token, f.activation, t.start, t."end"
    from sae_features f
    join positions p on p.id = f.position_id
    join analyses a on a.id = p.analysis_id
    left join tokens t on t.analysis_id = a.id and t.idx = p.position
    where a.workspace_id = ${workspaceId} and f.feature_index = ${index}
    order by f.activation desc, p.id
    limit ${examples}
  `);
  return {
    kind: 'feature',
    index,
    label: c.label !== null ? readableFeatureLabel(c.label) : 'No label recorded: this feature has not been among the top features of any analysis yet.',
    firedCount: Number(c.fired),
    analysedPositions: Number(c.analysed),
    examples: rows.map((r) => ({
      analysisId: Number(r.analysis_id),
      token: r.token,
      context: contextAround(r.prompt, r.start, r.end),
      activation: Number(r.activation),
    })),
  };
}

/** The prompt around a token, with "…" where it was cut. */
export function contextAround(prompt: string, start: number | null, end: number | null): string {
  if (start === null || end === null || end <= start) return prompt.length <= 2 * CONTEXT_CHARS ? prompt : `…${prompt.slice(-2 * CONTEXT_CHARS)}`;
  const from = Math.max(0, start - CONTEXT_CHARS);
  const to = Math.min(prompt.length, end + CONTEXT_CHARS);
  return `${from > 0 ? '…' : ''}${prompt.slice(from, to)}${to < prompt.length ? '…' : ''}`;
}
