/**
 * The special tokens a Hugging Face tokenizer adds around one sequence when asked to
 * (`add_special_tokens=True`): its `tokenizer.json` `post_processor`. Gemma's and Llama 3's add
 * BOS in front (TemplateProcessing, inside a Sequence for Llama 3); Qwen2's adds nothing
 * (ByteLevel). The NLA release tokenizes the AR's prompt this way, so the AR was trained on it.
 *
 * An unknown post-processor is kept as a reason rather than thrown, because only the callers
 * that add special tokens need it, and the subject model's tokenizer may never do so.
 */

export interface SpecialTokensAround {
  prefix: number[];
  suffix: number[];
}

export type PostProcessor = { ok: true; single: SpecialTokensAround } | { ok: false; reason: string };

interface Step {
  type?: unknown;
  processors?: unknown;
  single?: unknown;
  special_tokens?: unknown;
  cls?: unknown;
  sep?: unknown;
}

const NONE: SpecialTokensAround = { prefix: [], suffix: [] };

export function readPostProcessor(raw: unknown, source: string): PostProcessor {
  try {
    return { ok: true, single: read(raw) };
  } catch (err) {
    return { ok: false, reason: `${source}: post_processor ${(err as Error).message}` };
  }
}

function read(raw: unknown): SpecialTokensAround {
  if (raw === null || raw === undefined) return NONE;
  const step = raw as Step;
  switch (step.type) {
    case 'ByteLevel':
      return NONE;
    case 'TemplateProcessing':
      return template(step);
    case 'BertProcessing':
    case 'RobertaProcessing':
      return { prefix: [pairId(step.cls, 'cls')], suffix: [pairId(step.sep, 'sep')] };
    case 'Sequence': {
      if (!Array.isArray(step.processors)) throw new Error('Sequence has no processors list');
      // Each processor wraps what the previous one produced.
      return step.processors.map(read).reduce((acc, p) => ({ prefix: [...p.prefix, ...acc.prefix], suffix: [...acc.suffix, ...p.suffix] }), NONE);
    }
    default:
      throw new Error(`type "${String(step.type)}" is not supported; this worker reads TemplateProcessing, ByteLevel, BertProcessing, RobertaProcessing and Sequence`);
  }
}

function template(step: Step): SpecialTokensAround {
  if (!Array.isArray(step.single)) throw new Error('TemplateProcessing has no "single" template');
  const specials = (step.special_tokens ?? {}) as Record<string, { ids?: unknown }>;
  const out: SpecialTokensAround = { prefix: [], suffix: [] };
  let seen = 0;
  for (const piece of step.single as Array<Record<string, { id?: unknown }>>) {
    if (piece?.Sequence) {
      seen++;
      continue;
    }
    const id = piece?.SpecialToken?.id;
    if (typeof id !== 'string') throw new Error('TemplateProcessing has a piece that is neither SpecialToken nor Sequence');
    const ids = specials[id]?.ids;
    if (!Array.isArray(ids) || !ids.every((n) => Number.isInteger(n) && n >= 0)) throw new Error(`TemplateProcessing names "${id}" but special_tokens gives it no ids`);
    (seen === 0 ? out.prefix : out.suffix).push(...(ids as number[]));
  }
  if (seen !== 1) throw new Error(`TemplateProcessing's single template has ${seen} sequences; 1 expected`);
  return out;
}

function pairId(v: unknown, name: string): number {
  if (!Array.isArray(v) || !Number.isInteger(v[1]) || v[1] < 0) throw new Error(`has no valid ${name} [token, id] pair`);
  return v[1] as number;
}
