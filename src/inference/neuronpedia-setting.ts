/**
 * `CONFAB_NEURONPEDIA`: the one variable that points the bot at Neuronpedia's servers instead
 * of a Confab worker. Comma-separated `key=value` pairs:
 *
 *   nla=http://gpu-1:5001,inference=http://gpu-1:5002,model=gemma-3-12b-it,source=32-gemmascope-2-res-16k,fve_baseline=0.0302
 *
 * `nla`, `inference`, `model` and `source` are required; `fve_baseline` (the layer's B, for the
 * AR's fve_nrm) is optional. The secret is CONFAB_WORKER_SECRET, sent as X-SECRET-KEY.
 */
export interface NeuronpediaSetting {
  nlaUrl: string;
  inferenceUrl: string;
  model: string;
  source: string;
  fveBaseline?: number;
}

const KEYS = ['nla', 'inference', 'model', 'source', 'fve_baseline'] as const;
const FORMAT = 'nla=<url>,inference=<url>,model=<id>,source=<id>[,fve_baseline=<B>]';

/** Parse the variable, or throw a message that says what is wrong and what is allowed. */
export function parseNeuronpediaSetting(value: string): NeuronpediaSetting {
  const pairs = new Map<string, string>();
  for (const part of value.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    const key = eq > 0 ? part.slice(0, eq).trim() : '';
    if (!(KEYS as readonly string[]).includes(key)) throw new Error(`"${part}" is not one of ${KEYS.join(', ')}; the format is ${FORMAT}.`);
    if (pairs.has(key)) throw new Error(`${key} is given twice; the format is ${FORMAT}.`);
    pairs.set(key, part.slice(eq + 1).trim());
  }
  const missing = ['nla', 'inference', 'model', 'source'].filter((k) => !pairs.get(k));
  if (missing.length > 0) throw new Error(`${missing.join(', ')} missing; the format is ${FORMAT}.`);
  for (const key of ['nla', 'inference']) {
    if (!/^https?:\/\/[^\s/]+/.test(pairs.get(key)!)) throw new Error(`${key} must be an http(s):// URL, not "${pairs.get(key)}".`);
  }
  let fveBaseline: number | undefined;
  if (pairs.has('fve_baseline')) {
    fveBaseline = Number(pairs.get('fve_baseline'));
    if (!Number.isFinite(fveBaseline) || fveBaseline <= 0) throw new Error(`fve_baseline must be a positive number, not "${pairs.get('fve_baseline')}".`);
  }
  return { nlaUrl: pairs.get('nla')!, inferenceUrl: pairs.get('inference')!, model: pairs.get('model')!, source: pairs.get('source')!, fveBaseline };
}
