/**
 * Confab's database schema. The schema is code: `npx drizzle-kit generate` turns a change here
 * into a new SQL file in `migrations/`, which is committed and never edited after it shipped.
 *
 * Everything is plain PostgreSQL, so the same migrations run on embedded PGlite and on a
 * PostgreSQL server.
 */
import { sql } from 'drizzle-orm';
import {
  boolean,
  check,
  customType,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  serial,
  smallint,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

/** Raw bytes (activation vectors, little-endian float32). */
const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => 'bytea',
});

const createdAt = () => timestamp('created_at', { withTimezone: true }).defaultNow().notNull();
const updatedAt = () => timestamp('updated_at', { withTimezone: true }).defaultNow().notNull();

/**
 * One row: the per-install secret that keys reviewers' pseudonymous ids. Generated on first
 * start unless CONFAB_INSTALL_SECRET is set; rotating it changes every exported reviewer id.
 */
export const install = pgTable(
  'install',
  {
    id: smallint('id').primaryKey().default(1),
    secret: text('secret').notNull(),
    createdAt: createdAt(),
  },
  (t) => [check('install_single_row', sql`${t.id} = 1`)],
);

/** A Discord guild, a Slack team, or the local terminal ('terminal', 'local'). */
export const workspaces = pgTable(
  'workspaces',
  {
    id: serial('id').primaryKey(),
    platform: text('platform').notNull(),
    externalId: text('external_id').notNull(),
    name: text('name'),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('workspaces_platform_external').on(t.platform, t.externalId)],
);

export const channels = pgTable(
  'channels',
  {
    id: serial('id').primaryKey(),
    workspaceId: integer('workspace_id')
      .notNull()
      .references(() => workspaces.id),
    externalId: text('external_id').notNull(),
    name: text('name'),
    /** Per-channel settings (digest schedule and the like), owned by the features that read them. */
    settings: jsonb('settings').$type<Record<string, unknown>>().default({}).notNull(),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('channels_workspace_external').on(t.workspaceId, t.externalId)],
);

export const reviewers = pgTable(
  'reviewers',
  {
    id: serial('id').primaryKey(),
    platform: text('platform').notNull(),
    userId: text('user_id').notNull(),
    displayName: text('display_name').notNull(),
    /** HMAC-SHA256(install secret, "platform:userId"), hex; the only reviewer id that leaves in exports. */
    pseudonym: text('pseudonym').notNull(),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('reviewers_platform_user').on(t.platform, t.userId), uniqueIndex('reviewers_pseudonym').on(t.pseudonym)],
);

export const ANALYSIS_STATUSES = ['queued', 'running', 'done', 'failed'] as const;
export type AnalysisStatus = (typeof ANALYSIS_STATUSES)[number];

/** What the requester asked to analyse; resolved to token positions by the dispatcher. */
export interface AnalysisSelection {
  /** Token indices; negative count from the end (-1 = last token, the default). */
  positions?: number[];
  /** Analyse the last token of the first occurrence of this text in the prompt. */
  token?: string;
}

export const analyses = pgTable(
  'analyses',
  {
    id: serial('id').primaryKey(),
    workspaceId: integer('workspace_id')
      .notNull()
      .references(() => workspaces.id),
    channelId: integer('channel_id')
      .notNull()
      .references(() => channels.id),
    requesterId: integer('requester_id')
      .notNull()
      .references(() => reviewers.id),
    prompt: text('prompt').notNull(),
    selection: jsonb('selection').$type<AnalysisSelection>().default({}).notNull(),
    nlaSamples: integer('nla_samples').notNull().default(1),
    topK: integer('top_k').notNull().default(8),
    /** Filled from the worker's answer: the model and layer that actually produced the result. */
    model: text('model'),
    layer: integer('layer'),
    dModel: integer('d_model'),
    /** The resolved token positions, once done. */
    positions: jsonb('positions').$type<number[]>(),
    status: text('status').$type<AnalysisStatus>().notNull().default('queued'),
    /** Why it failed, safe to show to the user. */
    error: text('error'),
    errorCode: text('error_code'),
    /** False when retrying cannot help (bad position, prompt over the model's token limit). */
    retryable: boolean('retryable').notNull().default(true),
    attempts: integer('attempts').notNull().default(0),
    /** The platform message showing this analysis, so a result can edit it after a restart. */
    messageRef: text('message_ref'),
    replyExpiresAt: timestamp('reply_expires_at', { withTimezone: true }),
    /** Worker timings (ms) of the successful attempt. */
    timings: jsonb('timings').$type<Record<string, number>>(),
    /** A running analysis whose lease ran out belongs to a process that died; it is queued again. */
    leaseUntil: timestamp('lease_until', { withTimezone: true }),
    claimedBy: text('claimed_by'),
    /**
     * The process whose command waits to show this result (it edits its own reply), until
     * `watched_until`: another process that finishes the analysis leaves the posting to it.
     */
    watchedBy: text('watched_by'),
    watchedUntil: timestamp('watched_until', { withTimezone: true }),
    /**
     * When the finished result was handed to its channel. The watch above is the claim to post
     * it; a finished row still unposted once no live process holds that claim is posted by the
     * next process that serves its platform, so a result is shown once even across crashes.
     */
    postedAt: timestamp('posted_at', { withTimezone: true }),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check('analyses_status', sql`${t.status} in ('queued', 'running', 'done', 'failed')`),
    index('analyses_status_id').on(t.status, t.id),
    index('analyses_workspace_created').on(t.workspaceId, t.createdAt),
    index('analyses_requester_created').on(t.requesterId, t.createdAt),
    index('analyses_unposted').on(t.id).where(sql`${t.postedAt} is null`),
  ],
);

export const tokens = pgTable(
  'tokens',
  {
    analysisId: integer('analysis_id')
      .notNull()
      .references(() => analyses.id, { onDelete: 'cascade' }),
    idx: integer('idx').notNull(),
    tokenId: integer('token_id').notNull(),
    text: text('text').notNull(),
    /** Offsets into the prompt, UTF-16 code units, [start, end). */
    start: integer('start').notNull(),
    end: integer('end').notNull(),
    special: boolean('special').notNull().default(false),
  },
  (t) => [primaryKey({ columns: [t.analysisId, t.idx] })],
);

/** One analysed token position, with the SAE's reconstruction metrics there. */
export const positions = pgTable(
  'positions',
  {
    id: serial('id').primaryKey(),
    analysisId: integer('analysis_id')
      .notNull()
      .references(() => analyses.id, { onDelete: 'cascade' }),
    position: integer('position').notNull(),
    token: text('token').notNull(),
    /** Null where the backend did not compute it (Neuronpedia's top-k lists cannot give it). */
    l0: integer('l0'),
    explainedVariance: doublePrecision('explained_variance').notNull(),
    fveNrm: doublePrecision('fve_nrm').notNull(),
  },
  (t) => [uniqueIndex('positions_analysis_position').on(t.analysisId, t.position)],
);

export const saeFeatures = pgTable(
  'sae_features',
  {
    positionId: integer('position_id')
      .notNull()
      .references(() => positions.id, { onDelete: 'cascade' }),
    /** 1 = strongest at this position. */
    rank: integer('rank').notNull(),
    featureIndex: integer('feature_index').notNull(),
    activation: doublePrecision('activation').notNull(),
    /** The label as it was when analysed; labels files change between SAE releases. */
    label: text('label').notNull(),
  },
  (t) => [primaryKey({ columns: [t.positionId, t.rank] }), index('sae_features_feature_activation').on(t.featureIndex, t.activation)],
);

export const EXPLANATION_SOURCES = ['nla', 'decoy'] as const;
export type ExplanationSource = (typeof EXPLANATION_SOURCES)[number];

/** An NLA verbalization of one position's activation: the item reviewers vote on. */
export const explanations = pgTable(
  'explanations',
  {
    id: serial('id').primaryKey(),
    positionId: integer('position_id')
      .notNull()
      .references(() => positions.id, { onDelete: 'cascade' }),
    /** Denormalised from the position so that the review queue is one indexed scan. */
    analysisId: integer('analysis_id')
      .notNull()
      .references(() => analyses.id, { onDelete: 'cascade' }),
    workspaceId: integer('workspace_id')
      .notNull()
      .references(() => workspaces.id),
    /** 0-based sample number within its position. */
    sample: integer('sample').notNull(),
    source: text('source').$type<ExplanationSource>().notNull().default('nla'),
    /** For a decoy: the explanation (of another activation) whose text is shown here. */
    decoyOfExplanationId: integer('decoy_of_explanation_id'),
    text: text('text').notNull(),
    raw: text('raw').notNull(),
    parsed: boolean('parsed').notNull(),
    arCosine: doublePrecision('ar_cosine'),
    arMseNrm: doublePrecision('ar_mse_nrm'),
    arFveNrm: doublePrecision('ar_fve_nrm'),
    /** Automatic confabulation signals added by later features (judge scores, …), by name. */
    signals: jsonb('signals').$type<Record<string, unknown>>().default({}).notNull(),
    state: text('state').$type<'open' | 'closed'>().notNull().default('open'),
    closedReason: text('closed_reason'),
    closedAt: timestamp('closed_at', { withTimezone: true }),
    closedBy: integer('closed_by').references(() => reviewers.id),
    /** Vote counts, kept by the vote transaction under this row's lock. */
    faithfulVotes: integer('faithful_votes').notNull().default(0),
    confabulatedVotes: integer('confabulated_votes').notNull().default(0),
    unsureVotes: integer('unsure_votes').notNull().default(0),
    /** faithful + confabulated: `unsure` is recorded but is not a label. */
    decisiveVotes: integer('decisive_votes').notNull().default(0),
    createdAt: createdAt(),
  },
  (t) => [
    check('explanations_source', sql`${t.source} in ('nla', 'decoy')`),
    check('explanations_state', sql`${t.state} in ('open', 'closed')`),
    index('explanations_queue').on(t.workspaceId, t.state, t.decisiveVotes, t.id),
    index('explanations_position').on(t.positionId),
    index('explanations_analysis').on(t.analysisId),
    // The items closed in a period (the digest's rate, trend and signals).
    index('explanations_closed').on(t.workspaceId, t.closedAt),
  ],
);

/** The residual-stream activation at a position, little-endian float32 [d_model]. */
export const activations = pgTable('activations', {
  positionId: integer('position_id')
    .primaryKey()
    .references(() => positions.id, { onDelete: 'cascade' }),
  dModel: integer('d_model').notNull(),
  vector: bytea('vector').notNull(),
});

export const VOTE_LABEL_VALUES = ['faithful', 'confabulated', 'unsure'] as const;
export type VoteLabelValue = (typeof VOTE_LABEL_VALUES)[number];

/** A claim (sentence) of an explanation that the reviewer marked as wrong; index is 1-based. */
export interface MarkedClaim {
  index: number;
  text: string;
}

export const votes = pgTable(
  'votes',
  {
    id: serial('id').primaryKey(),
    explanationId: integer('explanation_id')
      .notNull()
      .references(() => explanations.id, { onDelete: 'cascade' }),
    reviewerId: integer('reviewer_id')
      .notNull()
      .references(() => reviewers.id),
    label: text('label').$type<VoteLabelValue>().notNull(),
    note: text('note'),
    markedClaims: jsonb('marked_claims').$type<MarkedClaim[]>().default([]).notNull(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check('votes_label', sql`${t.label} in ('faithful', 'confabulated', 'unsure')`),
    uniqueIndex('votes_explanation_reviewer').on(t.explanationId, t.reviewerId),
    // A reviewer's votes by time: the digest's active reviewers are one probe each.
    index('votes_reviewer_created').on(t.reviewerId, t.createdAt),
    // The votes of a period (the digest) without reading the others.
    index('votes_created').on(t.createdAt),
  ],
);

/** Every vote as cast: the first one and each change. Nothing here is ever updated. */
export const voteHistory = pgTable(
  'vote_history',
  {
    id: serial('id').primaryKey(),
    voteId: integer('vote_id')
      .notNull()
      .references(() => votes.id, { onDelete: 'cascade' }),
    explanationId: integer('explanation_id').notNull(),
    reviewerId: integer('reviewer_id').notNull(),
    label: text('label').$type<VoteLabelValue>().notNull(),
    previousLabel: text('previous_label').$type<VoteLabelValue>(),
    note: text('note'),
    markedClaims: jsonb('marked_claims').$type<MarkedClaim[]>().default([]).notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('vote_history_explanation').on(t.explanationId), index('vote_history_created').on(t.createdAt)],
);

/** Admin settings per workspace (votes to close, max prompt length); absent keys use the config. */
export const settings = pgTable(
  'settings',
  {
    workspaceId: integer('workspace_id')
      .notNull()
      .references(() => workspaces.id),
    key: text('key').notNull(),
    value: jsonb('value').$type<string | number | boolean | null>(),
    updatedBy: integer('updated_by').references(() => reviewers.id),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.workspaceId, t.key] })],
);

/**
 * Every change of an item's state: closed by votes (posterior cleared, or the vote cap hit),
 * closed or reopened by an admin. Appended by the vote function and by src/core/items.ts;
 * never updated, so an item's lifecycle can be audited after a reopen.
 */
export const explanationStateChanges = pgTable(
  'explanation_state_changes',
  {
    id: serial('id').primaryKey(),
    explanationId: integer('explanation_id')
      .notNull()
      .references(() => explanations.id, { onDelete: 'cascade' }),
    state: text('state').$type<'open' | 'closed'>().notNull(),
    /** 'votes', 'max_votes' or 'admin'. */
    reason: text('reason').notNull(),
    /** The admin who closed or reopened it; null when votes closed it. */
    changedBy: integer('changed_by').references(() => reviewers.id),
    faithfulVotes: integer('faithful_votes').notNull(),
    confabulatedVotes: integer('confabulated_votes').notNull(),
    createdAt: createdAt(),
  },
  (t) => [check('explanation_state_changes_state', sql`${t.state} in ('open', 'closed')`), index('explanation_state_changes_item').on(t.explanationId)],
);

/**
 * /review's soft locks: "this reviewer is looking at this item until `until`", so reviewers
 * working at once — through any bot process on the same database — are given different items.
 * Advisory: a vote is never refused for a lock, and an expired row is simply taken over.
 */
export const reviewLocks = pgTable(
  'review_locks',
  {
    explanationId: integer('explanation_id')
      .primaryKey()
      .references(() => explanations.id, { onDelete: 'cascade' }),
    reviewerId: integer('reviewer_id')
      .notNull()
      .references(() => reviewers.id),
    until: timestamp('until', { withTimezone: true }).notNull(),
  },
  (t) => [index('review_locks_reviewer').on(t.reviewerId)],
);

/**
 * One row per scheduled digest fire that some process decided to post: the unique key
 * (workspace, channel, scheduled time) is what makes a fire post exactly once across bot
 * processes. A row whose `posted_at` is still null after its lease belongs to a process that
 * died between claiming and posting; the next process to look takes it over.
 */
export const digestPosts = pgTable(
  'digest_posts',
  {
    id: serial('id').primaryKey(),
    workspaceId: integer('workspace_id')
      .notNull()
      .references(() => workspaces.id),
    /** The platform's channel id (the digest_channel setting). */
    channel: text('channel').notNull(),
    scheduledFor: timestamp('scheduled_for', { withTimezone: true }).notNull(),
    /** The period the digest reports on, fixed at the claim so a retry posts the same one. */
    periodStart: timestamp('period_start', { withTimezone: true }).notNull(),
    periodEnd: timestamp('period_end', { withTimezone: true }).notNull(),
    periodKind: text('period_kind').$type<'week' | 'day' | 'span'>().notNull(),
    periodLabel: text('period_label').notNull(),
    timeZone: text('time_zone').notNull(),
    /** Posted after the bot was down at the scheduled time. */
    late: boolean('late').notNull().default(false),
    claimedBy: text('claimed_by').notNull(),
    leaseUntil: timestamp('lease_until', { withTimezone: true }).notNull(),
    attempts: integer('attempts').notNull().default(1),
    postedAt: timestamp('posted_at', { withTimezone: true }),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('digest_posts_fire').on(t.workspaceId, t.channel, t.scheduledFor),
    index('digest_posts_unposted').on(t.postedAt, t.leaseUntil),
  ],
);

/**
 * The per-user rate limit's sliding window: one row per key with the times of its uses in the
 * last minute, so every bot process on the database enforces one limit. One row, updated by one
 * upsert, makes concurrent uses of one key queue on its row lock.
 */
export const rateLimits = pgTable('rate_limits', {
  key: text('key').primaryKey(),
  uses: timestamp('uses', { withTimezone: true }).array().notNull(),
});
