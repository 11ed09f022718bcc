/**
 * Platform-neutral view models. Every command returns one of these; Discord, Slack and the
 * terminal each render them in their own syntax. Nothing here is pre-escaped: user text is
 * raw, and each renderer escapes and truncates it through its own single helper.
 *
 * Ids shown to users are short numbers (`#12`) so they can be typed. What a reviewer can do
 * from a view is listed in its `actions`; each channel draws those as its own widgets and turns
 * them into ids with the codec in ./actions, so buttons survive a restart.
 */

import type { Action, VoteLabel } from './actions';

export { VOTE_LABELS, type Action, type VoteLabel } from './actions';

export interface TallyView {
  faithful: number;
  confabulated: number;
  unsure: number;
}

export interface FeatureRowView {
  index: number;
  label: string;
  activation: number;
}

export interface ExplanationView {
  /** Database id; typed by users as `#<id>`. */
  explanationId: number;
  /** 1-based number within its position, for display. */
  number: number;
  text: string;
  /** False when the AV output had no <explanation> tags. */
  parsed: boolean;
  /** Sentences of `text`, which a reviewer may mark as wrong. */
  claims: string[];
  ar: { cosine: number; mseNrm: number; fveNrm: number } | null;
  state: 'open' | 'closed';
  /** Set once the item closed: why (e.g. 'votes', 'admin'). */
  closedReason?: string;
  /** Visible only when the viewer has voted or the item is closed; otherwise null. */
  tally: TallyView | null;
  /** The viewer's own vote, when known. */
  myVote?: VoteLabel | null;
  /** Majority label once closed. */
  outcome?: 'faithful' | 'confabulated' | 'undecided';
  /** Vote three ways and note; drawn disabled once the item is closed. */
  actions: Action[];
}

export interface PositionView {
  position: number;
  token: string;
  features: FeatureRowView[];
  /** Null when the backend did not count the active features (shown as "n/a"). */
  l0: number | null;
  explainedVariance: number;
  fveNrm: number;
  explanations: ExplanationView[];
}

export interface AnalysisView {
  kind: 'analysis';
  analysisId: number;
  status: 'queued' | 'running' | 'done' | 'failed';
  prompt: string;
  /** Tokens with their offsets into `prompt`, so renderers can highlight the selected ones. */
  tokens: Array<{ text: string; start: number; end: number }>;
  model: string;
  layer: number;
  positions: PositionView[];
  /** When status is 'failed': the reason, safe to show. */
  error?: string;
  /** True when a failed analysis can be retried with `/retry <analysisId>`. */
  retryable?: boolean;
  requestedBy?: string;
  /** A line that explains the scores, shown under the result (the first one a reviewer sees). */
  legend?: string;
  /** Retry, when the analysis failed and can run again. */
  actions: Action[];
}

/** One explanation to review, shown with its evidence (from `/review`). */
export interface ReviewItemView {
  kind: 'review-item';
  analysis: AnalysisView;
  /** The single position and explanation under review. */
  position: PositionView;
  explanation: ExplanationView;
}

export interface VoteAckView {
  kind: 'vote-ack';
  explanationId: number;
  myVote: VoteLabel;
  /** 'recorded' first time; 'unchanged' for a duplicate click; 'changed' from a previous label. */
  change: 'recorded' | 'unchanged' | 'changed';
  previous?: VoteLabel;
  tally: TallyView;
  /** True when this vote closed the item (or, from /close and /reopen, when an admin changed it). */
  closedNow: boolean;
  state: 'open' | 'closed';
  /** Why the item closed, when `closedNow`: 'votes', 'max_votes' (contested, at the vote cap) or 'admin'. */
  closedReason?: string;
  /** Majority label of the decisive votes, once closed. */
  outcome?: 'faithful' | 'confabulated' | 'undecided';
  note?: string;
  markedClaims?: string[];
}

export interface StatsView {
  kind: 'stats';
  scope: string;
  analyses: number;
  explanations: number;
  votes: number;
  reviewers: number;
  openItems: number;
  closedItems: number;
  /** Share of closed items labelled confabulated, with a Wilson interval when available. */
  confabulationRate: { rate: number; low: number; high: number; n: number } | null;
  /** Further labelled lines (agreement, AUROC, …). */
  extra: Array<{ label: string; value: string }>;
}

export interface FeatureCardView {
  kind: 'feature';
  index: number;
  label: string;
  /** How many analysed positions had it among their top features. */
  firedCount: number;
  analysedPositions: number;
  examples: Array<{ analysisId: number; token: string; context: string; activation: number }>;
}

export interface SettingsView {
  kind: 'settings';
  settings: Record<string, string | number | boolean | null>;
  changed: string[];
}

/** An item's state after an admin closed or reopened it: what a channel needs to update the public message. */
export interface ItemStateView {
  explanationId: number;
  analysisId: number;
  state: 'open' | 'closed';
  /** 'admin' for /close; absent when open. */
  closedReason?: string;
  tally: TallyView;
  /** Majority of the decisive votes, when closed. */
  outcome?: 'faithful' | 'confabulated' | 'undecided';
}

/** A message with no structure: confirmations, help, empty queues. */
export interface MessageView {
  kind: 'message';
  title?: string;
  lines: string[];
  tone?: 'info' | 'success' | 'warning';
  /** From /close and /reopen: the item's new state and tally, so the public message can be updated. */
  item?: ItemStateView;
}

/** A user-facing error: says what was wrong and what is allowed. */
export interface ErrorView {
  kind: 'error';
  message: string;
  /** Stable code for tests and logs, e.g. 'prompt_too_long'. */
  code: string;
}

export interface FileView {
  kind: 'file';
  path: string;
  filename: string;
  bytes: number;
  contentType: string;
  summary: string[];
}

export type View =
  | AnalysisView
  | ReviewItemView
  | VoteAckView
  | StatsView
  | FeatureCardView
  | SettingsView
  | MessageView
  | ErrorView
  | FileView;
