/**
 * `confab agreement`: agreement statistics and aggregated labels for a CSV of votes from any
 * labelling tool. The work is in src/core/labels/agreement-cli.ts; this file only maps flags.
 */
import { runAgreement } from '../core/labels/agreement-cli';
import { UsageError, type CliCommand } from './spec';

export const agreementCommand: CliCommand = {
  name: 'agreement',
  summary: 'Agreement (Krippendorff’s alpha, Fleiss’ kappa) and Dawid–Skene labels for a CSV of votes.',
  options: {
    csv: { type: 'string', valueName: 'PATH', description: 'The votes: a CSV with columns item, reviewer and label (any order; others ignored).' },
    out: { type: 'string', valueName: 'PATH', description: 'Also write one row per item: item, majority, ds_label, ds_posterior, n_votes.' },
    'case-sensitive': { type: 'boolean', description: 'Keep labels exactly as written ("Faithful" and "faithful " are then two labels).' },
  },
  details: [
    'Labels are compared without case and spacing by default ("Faithful " is "faithful"), as /vote accepts both.',
    '"unsure" votes count as abstentions. When a reviewer labelled an item twice, the later row wins.',
  ],
  async run({ values }, io) {
    if (typeof values.csv !== 'string') throw new UsageError('--csv PATH is required.', 'agreement');
    const result = await runAgreement({
      csvPath: values.csv,
      outPath: typeof values.out === 'string' ? values.out : undefined,
      caseSensitive: values['case-sensitive'] === true,
    });
    (result.exitCode === 0 ? io.stdout : io.stderr).write(`${result.text.replace(/\n?$/, '\n')}`);
    return result.exitCode;
  },
};
