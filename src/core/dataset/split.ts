/**
 * Train/validation/test split by prompt hash. The split depends on the prompt text alone, so
 * (a) the same prompt never lands in two splits — several explanations of one prompt would
 * otherwise leak between train and test — and (b) an explanation keeps its split in every
 * later export, whatever else was added.
 */
import { createHash } from 'node:crypto';

export type Split = 'train' | 'validation' | 'test';

/** Fractions: 80% train, 10% validation, 10% test. */
export const SPLIT_FRACTIONS = { train: 0.8, validation: 0.1, test: 0.1 } as const;

export function promptHash(prompt: string): string {
  return createHash('sha256').update(prompt.normalize('NFC'), 'utf8').digest('hex');
}

/** The first 32 bits of the SHA-256 of the prompt (NFC), as a fraction in [0, 1), picks the split. */
export function splitOfHash(hash: string): Split {
  const u = Number.parseInt(hash.slice(0, 8), 16) / 2 ** 32;
  if (u < SPLIT_FRACTIONS.train) return 'train';
  if (u < SPLIT_FRACTIONS.train + SPLIT_FRACTIONS.validation) return 'validation';
  return 'test';
}

export function splitOf(prompt: string): Split {
  return splitOfHash(promptHash(prompt));
}
