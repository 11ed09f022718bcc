/**
 * The dataset card (`<name>.card.md` written beside the export), in the Hugging Face card layout: YAML
 * front matter, then what a researcher needs before trusting the labels. It never names a
 * reviewer: only counts.
 */
import type { ColumnSpec } from './columns';
import type { ExportSummary } from './summary';
import { SPLIT_FRACTIONS } from './split';

const pct = (n: number, total: number) => (total === 0 ? '–' : `${((100 * n) / total).toFixed(1)}%`);
const num = (n: number) => n.toLocaleString('en-US');

function fieldType(c: ColumnSpec): string {
  if (!c.list) return `${c.type}${c.nullable ? ', nullable' : ''}`;
  const element = `${c.type}${c.elementNullable ? '?' : ''}`;
  return `${c.nested ? `list<list<${element}>>` : `list<${element}>`}${c.nullable ? ', nullable' : ''}`;
}

export function datasetCard(
  s: ExportSummary,
  o: { minVotes: number; since?: Date; includeActivations: boolean; columns: ColumnSpec[]; now: Date; file: string },
): string {
  const l = s.labels;
  const sizeCategory = s.rows < 1_000 ? 'n<1K' : s.rows < 10_000 ? '1K<n<10K' : s.rows < 100_000 ? '10K<n<100K' : s.rows < 1_000_000 ? '100K<n<1M' : '1M<n<10M';
  const lines: string[] = [];
  lines.push('---');
  lines.push('license: other');
  lines.push('task_categories:\n- text-classification');
  lines.push(`size_categories:\n- ${sizeCategory}`);
  lines.push('tags:\n- interpretability\n- natural-language-autoencoders\n- sparse-autoencoders\n- confabulation');
  lines.push(`configs:\n- config_name: default\n  data_files: ${o.file}`);
  lines.push('---');
  lines.push('');
  lines.push('# Confab: human labels of NLA explanations (faithful vs confabulated)');
  lines.push('');
  lines.push(
    `Exported ${o.now.toISOString()} by \`confab dataset export\`. One row per natural-language-autoencoder (NLA) explanation of a language-model activation, ` +
      'shown to reviewers beside the sparse-autoencoder (SAE) features of the same activation, with every vote, aggregated labels and automatic signals.',
  );
  lines.push('');
  lines.push('## Contents');
  lines.push('');
  lines.push(`- File: \`${o.file}\` (${s.format === 'parquet' ? 'Parquet, typed columns including list<float>' : 'JSON Lines'})`);
  lines.push(`- Rows (explanations): ${num(s.rows)}`);
  lines.push(`- Votes in these rows: ${num(s.votes)} (faithful, confabulated and unsure); ${num(s.votesWithNote)} with a note, ${num(s.votesWithMarkedClaims)} with marked claims`);
  lines.push(`- Reviewers: ${num(s.reviewersInRows)} voted on these rows; ${num(l.reviewers)} gave a decisive vote anywhere (identities are not included)`);
  lines.push(`- Filters: minimum decisive votes ${o.minVotes}${o.since ? `; explanations stored since ${o.since.toISOString()}` : ''}; ${num(s.belowMinVotes)} explanations left out by the vote minimum`);
  lines.push(`- Activations included: ${o.includeActivations ? 'yes (`activation`, float32 list)' : 'no'}`);
  lines.push('');
  lines.push('### Model and layer');
  lines.push('');
  lines.push('| model | layer | rows |');
  lines.push('|---|---|---|');
  for (const m of s.models) lines.push(`| ${m.model ?? '(unknown)'} | ${m.layer ?? '–'} | ${num(m.rows)} |`);
  if (s.models.length === 0) lines.push('| – | – | 0 |');
  lines.push('');
  lines.push('## Labels');
  lines.push('');
  lines.push('Definitions, as shown to reviewers:');
  lines.push('');
  lines.push('- **faithful**: what the explanation claims about the activation is supported by the evidence (prompt context, SAE features).');
  lines.push('- **confabulated**: the explanation asserts things the evidence does not support.');
  lines.push('- **unsure**: an abstention; recorded in `votes` but never counted as a label.');
  lines.push('');
  lines.push('| label | majority | Dawid–Skene |');
  lines.push('|---|---|---|');
  for (const k of ['faithful', 'confabulated', 'undecided'] as const) {
    lines.push(`| ${k} | ${num(s.majority[k])} (${pct(s.majority[k], s.rows)}) | ${num(s.dawidSkene[k])} (${pct(s.dawidSkene[k], s.rows)}) |`);
  }
  lines.push('');
  lines.push('- `majority_label`: most common decisive vote; ties and unvoted items are null.');
  lines.push(
    `- \`ds_label\`, \`ds_posterior\`, \`ds_p_confabulated\`: Dawid & Skene (1979) EM with one confusion matrix per reviewer, initialised from the majority, each reviewer's matrix smoothed towards the crowd's (a Dirichlet prior worth two votes per row), ${l.dsConverged ? `converged after ${l.dsIterations} iterations` : `stopped at the cap of ${l.dsIterations} iterations`}. Computed over every vote in the database, also those of rows filtered out here.`,
  );
  lines.push('- `item_agreement`: share of an item\'s decisive votes that agree with its most common label.');
  lines.push('');
  lines.push('## Notes and marked claims');
  lines.push('');
  lines.push(
    'Beside a label, a reviewer may write a note and mark the claims of the explanation that are wrong. `claims` lists the claims (the explanation split into sentences, numbered from 1) exactly as reviewers were shown them. ' +
      'Per vote, parallel to `votes` and `reviewer_ids`: `vote_notes` holds the note (null when none) and `vote_marked_claims` the 1-based indices into `claims` that the reviewer marked wrong (empty when none). ' +
      '`claim_wrong_counts`, parallel to `claims`, counts the reviewers who marked each claim wrong, among the current votes of the row.',
  );
  lines.push('Notes are free text typed by reviewers: review them before publishing, as they may name people or quote private material.');
  lines.push('');
  lines.push('## Agreement');
  lines.push('');
  lines.push(
    `- Krippendorff's alpha (nominal, missing data allowed): ${l.alpha.alpha === null ? 'n/a' : l.alpha.alpha.toFixed(3)} over ${num(l.alpha.pairableItems)} items with two or more decisive votes.`,
  );
  lines.push(`- Fleiss' kappa: ${l.kappa.applicable ? `${l.kappa.kappa.toFixed(3)} (${l.kappa.items} items × ${l.kappa.raters} ratings)` : `not applicable (${l.kappa.reason})`}.`);
  lines.push('');
  lines.push('## Decoys and reviewer accuracy');
  lines.push('');
  lines.push(
    'While reviewing, a share of items are decoys: the explanation of a *different* activation, from another prompt, shown as if it belonged to this one, so known to be confabulated. ' +
      'Decoys are not rows of this dataset and their votes never become labels; they are given to Dawid–Skene as items of known class, which calibrates each reviewer\'s confusion matrix.',
  );
  lines.push(
    l.decoyCatchRate
      ? `- Crowd catch rate on decoys: ${(100 * l.decoyCatchRate.rate).toFixed(1)}% of ${num(l.decoyCatchRate.n)} decisive decoy votes said confabulated (95% Wilson interval ${(100 * l.decoyCatchRate.low).toFixed(1)}–${(100 * l.decoyCatchRate.high).toFixed(1)}%).`
      : '- No decisive votes on decoys yet.',
  );
  lines.push('');
  lines.push('## Splits');
  lines.push('');
  lines.push(
    `By prompt: the first 32 bits of SHA-256 of the prompt (Unicode NFC), as a fraction of 2^32, below ${SPLIT_FRACTIONS.train} is train, below ${SPLIT_FRACTIONS.train + SPLIT_FRACTIONS.validation} validation, else test. ` +
      'All explanations of one prompt share a split, and an explanation keeps its split across exports.',
  );
  lines.push('');
  lines.push(`| split | rows |\n|---|---|\n| train | ${num(s.splits.train)} |\n| validation | ${num(s.splits.validation)} |\n| test | ${num(s.splits.test)} |`);
  lines.push('');
  lines.push('## Privacy');
  lines.push('');
  lines.push(
    '`reviewer_ids` are pseudonyms: an HMAC-SHA256 of the platform user id under a secret kept by this Confab install. They are stable within one install (so per-reviewer analyses work) and cannot be reversed without the secret. ' +
      'No platform user id, user name or workspace name is exported. Prompts and explanations are included as typed by the team: review them before publishing.',
  );
  lines.push('');
  lines.push('## Fields');
  lines.push('');
  lines.push('| field | type | description |');
  lines.push('|---|---|---|');
  for (const c of o.columns) lines.push(`| \`${c.name}\` | ${fieldType(c)} | ${c.description} |`);
  lines.push('');
  lines.push('## Licence');
  lines.push('');
  lines.push(
    'The labels are the work of the reviewers of this install; the prompts and model outputs carry the terms of their sources and of the models used. ' +
      'Set a licence here before sharing. Explanations from the embedded reference model are generated from public-domain training text.',
  );
  lines.push('');
  return lines.join('\n');
}
