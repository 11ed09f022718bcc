/**
 * A small, fully known review history written through the real schema: analyses with shared
 * and distinct prompts, SAE features, activations, NLA explanations, one decoy, and votes by
 * reviewers whose platform ids and names must never appear in an export.
 */
import { sql } from 'drizzle-orm';
import type { Db } from '../../db';
import { activations, analyses, channels, explanations, positions, reviewers, saeFeatures, votes, workspaces } from '../../db/schema';
import { pseudonymFor } from '../../src/core/identity';

export const SECRET = 'test-install-secret-0123456789';

export const PEOPLE = [
  { userId: '80351110224678912', name: 'Alice Quixote' },
  { userId: '80351110224678913', name: 'Bartholomew Zed' },
  { userId: 'U02ABCDEFGH', name: 'Carmen Ventura' },
  { userId: '80351110224678915', name: 'Dmitri Ostrogorsky' },
] as const;
export const GUILD = '613425648685547541';
export const GUILD_NAME = 'Interpretability Guild Name';

export interface Seeded {
  workspaceId: number;
  reviewerIds: number[];
  pseudonyms: string[];
  /** Real explanation ids, by analysis then position then sample. */
  explanationIds: number[];
  decoyId: number;
  /** The real explanation whose text the decoy shows. */
  decoySourceId: number;
  /** The activation written for each position, by explanation id. */
  activationOf: Map<number, Float32Array>;
  promptOf: Map<number, string>;
  /** Expected votes per explanation id, in casting order. */
  votesOf: Map<number, Array<{ reviewer: number; label: 'faithful' | 'confabulated' | 'unsure' }>>;
}

const PROMPTS = [
  'El que madruga, Dios le ayuda.',
  'A hacker is a person who enjoys exploring the details of programmable systems.',
  'El que madruga, Dios le ayuda.', // the same prompt again: must share a split
  'Chi va piano va sano e va lontano.',
  'CYNIC, n. A blackguard whose faulty vision sees things as they are.',
];

/** The text of explanation 1 (analysis 0, sample 1): three claims, which its votes mark. */
export const CLAIMED_TEXT = 'A Spanish proverb. It names a saint; it praises early rising.';
/** Notes and marked claims of explanation 1's votes, by reviewer index. */
export const REMARKS: Record<number, { note?: string; marked?: number[] }> = {
  0: { note: 'No saint is named, only God.', marked: [2] },
  1: { marked: [3, 2] },
  3: { note: 'Unsure what "early" means here; sentence 1 is right.' },
};

export async function seedReviewHistory(db: Db, tag = 'a', platformPrefix = ''): Promise<Seeded> {
  const [ws] = await db
    .insert(workspaces)
    .values({ platform: 'discord', externalId: `${GUILD}${platformPrefix}`, name: GUILD_NAME })
    .returning({ id: workspaces.id });
  const [ch] = await db.insert(channels).values({ workspaceId: ws.id, externalId: `chan-${tag}`, name: 'review-room' }).returning({ id: channels.id });
  const reviewerRows = await db
    .insert(reviewers)
    .values(
      PEOPLE.map((p) => ({
        platform: 'discord',
        userId: `${p.userId}${platformPrefix}`,
        displayName: p.name,
        pseudonym: pseudonymFor(SECRET, 'discord', `${p.userId}${platformPrefix}`),
      })),
    )
    .returning({ id: reviewers.id, pseudonym: reviewers.pseudonym });
  const seeded: Seeded = {
    workspaceId: ws.id,
    reviewerIds: reviewerRows.map((r) => r.id),
    pseudonyms: reviewerRows.map((r) => r.pseudonym),
    explanationIds: [],
    decoyId: 0,
    decoySourceId: 0,
    activationOf: new Map(),
    promptOf: new Map(),
    votesOf: new Map(),
  };
  let seed = 1;
  for (const [a, prompt] of PROMPTS.entries()) {
    const [analysis] = await db
      .insert(analyses)
      .values({ workspaceId: ws.id, channelId: ch.id, requesterId: seeded.reviewerIds[a % 4], prompt, model: 'confab-reference-v1', layer: 2, dModel: 8, status: 'done' })
      .returning({ id: analyses.id });
    const [position] = await db
      .insert(positions)
      .values({ analysisId: analysis.id, position: 3 + a, token: ` tok${a}`, l0: 16, explainedVariance: 0.9 - a / 100, fveNrm: 0.8 - a / 100 })
      .returning({ id: positions.id });
    await db.insert(saeFeatures).values([
      { positionId: position.id, rank: 1, featureIndex: 100 + a, activation: 4.5, label: 'Spanish proverbs' },
      { positionId: position.id, rank: 2, featureIndex: 200 + a, activation: 2.25, label: 'dictionary entries' },
      { positionId: position.id, rank: 3, featureIndex: 300 + a, activation: 0.5, label: 'punctuation, "quotes" and commas' },
    ]);
    const vector = new Float32Array(8).map(() => (seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5);
    await db.insert(activations).values({ positionId: position.id, dModel: 8, vector: new Uint8Array(vector.buffer.slice(0)) });
    for (let sample = 0; sample < 2; sample++) {
      const [e] = await db
        .insert(explanations)
        .values({
          positionId: position.id,
          analysisId: analysis.id,
          workspaceId: ws.id,
          sample,
          text: a === 0 && sample === 1 ? CLAIMED_TEXT : `Explanation ${a}.${sample}: a Spanish proverb, "quoted", with a comma.`,
          raw: `<explanation>Explanation ${a}.${sample}</explanation>`,
          parsed: true,
          arCosine: 0.9 - sample / 10,
          arMseNrm: 0.2 + sample / 5,
          arFveNrm: 0.7 - sample / 10,
          signals: { feature_overlap: { score: 0.25 * (sample + 1), matched: ['spanish'], content_words: 4 } },
        })
        .returning({ id: explanations.id });
      seeded.explanationIds.push(e.id);
      seeded.activationOf.set(e.id, vector);
      seeded.promptOf.set(e.id, prompt);
    }
  }
  // A decoy on analysis 0's position showing the text of analysis 3's first explanation.
  const decoySourceId = seeded.explanationIds[6];
  const [decoyPosition] = await db.select({ positionId: explanations.positionId, analysisId: explanations.analysisId }).from(explanations).limit(1);
  const [decoy] = await db
    .insert(explanations)
    .values({
      positionId: decoyPosition.positionId,
      analysisId: decoyPosition.analysisId,
      workspaceId: ws.id,
      sample: 9,
      source: 'decoy',
      decoyOfExplanationId: decoySourceId,
      text: 'DECOY TEXT that must never become a row',
      raw: 'DECOY TEXT',
      parsed: true,
    })
    .returning({ id: explanations.id });
  seeded.decoyId = decoy.id;
  seeded.decoySourceId = decoySourceId;

  // Votes: [explanation index, reviewer index, label]. Explanation 9 gets none.
  const plan: Array<[number, number, 'faithful' | 'confabulated' | 'unsure']> = [
    [0, 0, 'faithful'], [0, 1, 'faithful'], [0, 2, 'confabulated'],
    [1, 0, 'confabulated'], [1, 1, 'confabulated'], [1, 2, 'confabulated'], [1, 3, 'unsure'],
    [2, 0, 'faithful'], [2, 1, 'confabulated'],
    [3, 2, 'unsure'],
    [4, 0, 'faithful'], [4, 1, 'faithful'], [4, 2, 'faithful'], [4, 3, 'faithful'],
    [5, 3, 'confabulated'],
    [6, 0, 'faithful'], [6, 1, 'faithful'], [6, 2, 'faithful'],
    [7, 1, 'confabulated'], [7, 2, 'faithful'], [7, 3, 'confabulated'],
    [8, 0, 'faithful'],
  ];
  let t = Date.UTC(2026, 10, 20, 9, 0, 0);
  for (const [e, r, label] of plan) {
    const explanationId = seeded.explanationIds[e];
    const at = new Date((t += 60_000));
    const remarks = e === 1 ? REMARKS[r] : undefined;
    const claims = CLAIMED_TEXT.split(/(?<=[.;])\s+/);
    await db.insert(votes).values({
      explanationId,
      reviewerId: seeded.reviewerIds[r],
      label,
      note: remarks?.note ?? null,
      markedClaims: (remarks?.marked ?? []).map((index) => ({ index, text: claims[index - 1] })),
      createdAt: at,
      updatedAt: at,
    });
    let list = seeded.votesOf.get(explanationId);
    if (!list) seeded.votesOf.set(explanationId, (list = []));
    list.push({ reviewer: r, label });
  }
  // Everybody calls the decoy faithful except reviewer 3 — the decoy is known confabulated.
  for (const [r, label] of [[0, 'faithful'], [1, 'faithful'], [2, 'faithful'], [3, 'confabulated']] as const) {
    const at = new Date((t += 60_000));
    await db.insert(votes).values({ explanationId: decoy.id, reviewerId: seeded.reviewerIds[r], label, createdAt: at, updatedAt: at });
  }
  // The counters the vote transaction keeps on each explanation (votes were inserted directly).
  await db.execute(sql`update explanations e set
      faithful_votes = (select count(*) from votes v where v.explanation_id = e.id and v.label = 'faithful'),
      confabulated_votes = (select count(*) from votes v where v.explanation_id = e.id and v.label = 'confabulated'),
      unsure_votes = (select count(*) from votes v where v.explanation_id = e.id and v.label = 'unsure'),
      decisive_votes = (select count(*) from votes v where v.explanation_id = e.id and v.label <> 'unsure')
    where e.workspace_id = ${ws.id}`);
  return seeded;
}
