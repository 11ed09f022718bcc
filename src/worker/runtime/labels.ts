/**
 * SAE feature labels, from any of:
 * - a JSON list of `{index, description}` (what Confab's reference stack ships);
 * - Neuronpedia's explanation export: gzipped JSON Lines in batches,
 *   `<source>/explanations/batch-N.jsonl.gz`, one `Explanation` row a line, with `index` as a
 *   string and possibly several explanations per feature;
 * - one such batch file, gzipped or not.
 *
 * A feature with several explanations keeps the first in export order (batches by number,
 * lines in order): the export carries no score to choose by.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ManifestError } from './manifest-files';

const BATCH_FILE = /^batch-(\d+)\.jsonl(\.gz)?$/;

interface Row {
  index: number;
  description: string;
  source: string | null;
}

/** The explanation files of a folder: the folder itself, or its `explanations/` subfolder. */
function batchFiles(dir: string): string[] {
  const sub = path.join(dir, 'explanations');
  const folder = existsSync(sub) && statSync(sub).isDirectory() ? sub : dir;
  const files = readdirSync(folder)
    .map((f) => ({ f, m: BATCH_FILE.exec(f) }))
    .filter((x) => x.m)
    .sort((a, b) => Number(a.m![1]) - Number(b.m![1]))
    .map((x) => path.join(folder, x.f));
  if (!files.length) throw new ManifestError(folder, '', 'holds no batch-N.jsonl.gz files (a Neuronpedia export keeps them in <source>/explanations/)');
  return files;
}

function readText(file: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new ManifestError(file, '', `cannot be read (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (err) {
      throw new ManifestError(file, '', `is not a readable gzip file (${(err as Error).message}); Neuronpedia's exports are gzipped JSON Lines`);
    }
  } else if (file.endsWith('.gz')) {
    throw new ManifestError(file, '', 'has no gzip header; Neuronpedia\'s exports are gzipped JSON Lines');
  }
  return bytes.toString('utf8');
}

/** A Neuronpedia row's index: an integer, or the decimal string its database stores. */
function parseIndex(v: unknown): number | null {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === 'string' && /^\d{1,9}$/.test(v)) return Number(v);
  return null;
}

function parseRow(file: string, where: string, item: unknown): Row {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new ManifestError(file, where, 'must be an object with index and description');
  const o = item as Record<string, unknown>;
  const index = parseIndex(o.index);
  if (index === null) throw new ManifestError(file, `${where}.index`, `is ${JSON.stringify(o.index)}; a feature index (a non-negative integer, or its decimal string) is expected`);
  if (typeof o.description !== 'string') throw new ManifestError(file, `${where}.description`, 'must be a string');
  const source = typeof o.modelId === 'string' && typeof o.layer === 'string' ? `${o.modelId}/${o.layer}` : null;
  return { index, description: o.description, source };
}

function rowsOf(file: string): Row[] {
  const text = readText(file);
  if (text.trimStart().startsWith('[')) {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new ManifestError(file, '', `cannot be read as JSON (${(err as Error).message})`);
    }
    return (raw as unknown[]).map((item, i) => parseRow(file, `[${i}]`, item));
  }
  const rows: Row[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let item: unknown;
    try {
      item = JSON.parse(line);
    } catch (err) {
      throw new ManifestError(file, `line ${i + 1}`, `is not JSON (${(err as Error).message}); JSON Lines hold one object a line`);
    }
    rows.push(parseRow(file, `line ${i + 1}`, item));
  });
  return rows;
}

/**
 * Labels by feature index from a file or a folder of batches. With `dSae`, an index outside
 * the SAE is refused: it means the export is of another SAE.
 */
export function loadLabels(target: string, dSae?: number): Map<number, string> {
  if (!existsSync(target)) throw new ManifestError(target, '', 'does not exist (sae.labels names a JSON list, a batch-N.jsonl.gz file, or a Neuronpedia export folder)');
  const files = statSync(target).isDirectory() ? batchFiles(target) : [target];
  const out = new Map<number, string>();
  let firstSource: { source: string; file: string } | null = null;
  for (const file of files) {
    for (const row of rowsOf(file)) {
      if (row.source) {
        firstSource ??= { source: row.source, file };
        if (row.source !== firstSource.source) {
          throw new ManifestError(file, 'layer', `mixes sources: ${row.source} here, ${firstSource.source} in ${firstSource.file}; point sae.labels at one source's explanations`);
        }
      }
      if (dSae !== undefined && row.index >= dSae) {
        throw new ManifestError(file, 'index', `${row.index} is outside the SAE's ${dSae} features; is this the export of another SAE?`);
      }
      if (!out.has(row.index)) out.set(row.index, row.description);
    }
  }
  if (!out.size) throw new ManifestError(target, '', 'holds no explanations');
  return out;
}
