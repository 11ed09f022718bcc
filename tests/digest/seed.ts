/**
 * A small review history with every date chosen, so each digest figure of ISO week 2026-W48
 * (Monday 2026-11-23 to Monday 2026-11-30, UTC) can be worked out by hand. The expected figures
 * are written out, with their arithmetic, in digest-content.test.ts.
 */
import { sql } from 'drizzle-orm';
import type { Db } from '../../db';
import { analyses, channels, explanations, positions, reviewers, votes, workspaces } from '../../db/schema';

export const W47 = (day: number, hour = 12) => new Date(Date.UTC(2026, 10, 16 + day, hour));
export const W48 = (day: number, hour = 12) => new Date(Date.UTC(2026, 10, 23 + day, hour));
export const W49 = (day: number, hour = 12) => new Date(Date.UTC(2026, 10, 30 + day, hour));

export interface DigestSeed {
  workspaceId: number;
  /** Explanations E1…E6 by name, and the decoy D. */
  ids: Record<'E1' | 'E2' | 'E3' | 'E4' | 'E5' | 'E6' | 'D', number>;
  analysisIds: number[];
}

type Label = 'faithful' | 'confabulated' | 'unsure';

export async function seedDigestHistory(db: Db, externalId = 'guild-digest', channelExternalId = 'chan-digest', platform: 'discord' | 'slack' = 'discord'): Promise<DigestSeed> {
  const [ws] = await db.insert(workspaces).values({ platform, externalId, name: 'Digest guild' }).returning({ id: workspaces.id });
  const [ch] = await db.insert(channels).values({ workspaceId: ws.id, externalId: channelExternalId }).returning({ id: channels.id });
  const people = await db
    .insert(reviewers)
    .values([1, 2, 3, 4].map((n) => ({ platform, userId: `${externalId}-user${n}`, displayName: `Reviewer ${n}`, pseudonym: `${externalId}-p${n}` })))
    .returning({ id: reviewers.id });
  const r = people.map((p) => p.id);

  // A1 and A2 requested in W48, A3 in W47.
  const analysisPlan = [
    { at: W48(0), fve: 0.6 },
    { at: W48(1), fve: 0.8 },
    { at: W47(2), fve: 0.1 },
  ];
  const analysisIds: number[] = [];
  const positionIds: number[] = [];
  for (const [i, a] of analysisPlan.entries()) {
    const [row] = await db
      .insert(analyses)
      .values({ workspaceId: ws.id, channelId: ch.id, requesterId: r[0], prompt: `prompt ${i}`, model: 'm', layer: 2, status: 'done', messageRef: `msg-${i}`, createdAt: a.at })
      .returning({ id: analyses.id });
    const [pos] = await db
      .insert(positions)
      .values({ analysisId: row.id, position: 0, token: 't', l0: 4, explainedVariance: 0.5, fveNrm: a.fve })
      .returning({ id: positions.id });
    analysisIds.push(row.id);
    positionIds.push(pos.id);
  }

  const items: Array<{
    name: keyof DigestSeed['ids'];
    analysis: number;
    source?: 'nla' | 'decoy';
    ar: number | null;
    overlap?: number;
    createdAt: Date;
    closedAt?: Date;
    votes: Array<[number, Label, Date]>;
  }> = [
    { name: 'E1', analysis: 0, ar: 0.9, overlap: 0.8, createdAt: W48(0), closedAt: W48(2), votes: [[0, 'faithful', W48(1)], [1, 'faithful', W48(1)], [2, 'confabulated', W48(2)]] },
    { name: 'E2', analysis: 0, ar: 0.2, overlap: 0.4, createdAt: W48(0), closedAt: W48(3), votes: [[0, 'confabulated', W48(1)], [1, 'confabulated', W48(2)], [2, 'confabulated', W48(3)], [3, 'unsure', W48(3)]] },
    { name: 'E3', analysis: 1, ar: 0.5, createdAt: W48(1), closedAt: W48(4), votes: [[0, 'faithful', W48(2)], [1, 'confabulated', W48(3)]] },
    { name: 'E4', analysis: 1, ar: 0.1, createdAt: W48(1), closedAt: W48(5), votes: [[0, 'faithful', W48(2)], [1, 'faithful', W48(3)], [2, 'faithful', W48(4)]] },
    { name: 'E5', analysis: 2, ar: 0.4, createdAt: W47(2), closedAt: W47(4), votes: [[0, 'confabulated', W47(3)], [1, 'confabulated', W47(3)], [2, 'faithful', W47(4)]] },
    { name: 'E6', analysis: 2, ar: 0.3, createdAt: W47(2), votes: [[3, 'faithful', W48(6)], [0, 'confabulated', W49(1)]] },
    { name: 'D', analysis: 0, source: 'decoy', ar: null, createdAt: W48(0), votes: [[0, 'faithful', W48(2)], [1, 'confabulated', W48(2)], [2, 'confabulated', W48(2)]] },
  ];
  const ids = {} as DigestSeed['ids'];
  for (const item of items) {
    const [row] = await db
      .insert(explanations)
      .values({
        positionId: positionIds[item.analysis],
        analysisId: analysisIds[item.analysis],
        workspaceId: ws.id,
        sample: 0,
        source: item.source ?? 'nla',
        text: `Explanation ${item.name}: a Spanish proverb.`,
        raw: item.name,
        parsed: true,
        arFveNrm: item.ar,
        signals: item.overlap === undefined ? {} : { feature_overlap: { score: item.overlap, matched: [], content_words: 4 } },
        state: item.closedAt ? 'closed' : 'open',
        closedAt: item.closedAt ?? null,
        closedReason: item.closedAt ? 'votes' : null,
        createdAt: item.createdAt,
      })
      .returning({ id: explanations.id });
    ids[item.name] = row.id;
    for (const [who, label, at] of item.votes) {
      await db.insert(votes).values({ explanationId: row.id, reviewerId: r[who], label, createdAt: at, updatedAt: at });
    }
  }
  // The counters the vote transaction keeps (votes were inserted directly).
  await db.execute(sql`update explanations e set
      faithful_votes = (select count(*) from votes v where v.explanation_id = e.id and v.label = 'faithful'),
      confabulated_votes = (select count(*) from votes v where v.explanation_id = e.id and v.label = 'confabulated'),
      unsure_votes = (select count(*) from votes v where v.explanation_id = e.id and v.label = 'unsure'),
      decisive_votes = (select count(*) from votes v where v.explanation_id = e.id and v.label <> 'unsure')
    where e.workspace_id = ${ws.id}`);
  return { workspaceId: ws.id, ids, analysisIds };
}
