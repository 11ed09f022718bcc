/**
 * What `confab doctor` says about Neuronpedia's servers: each one's kind, the wire it speaks,
 * `d_model` and limits, or why it could not be reached.
 */
import { neuronpediaPools, NlaHealthSchema, topkCaller, type NeuronpediaClientOptions } from './neuronpedia';

export interface ServerCheck {
  ok: boolean;
  line: string;
}

export async function checkNeuronpediaServers(options: NeuronpediaClientOptions): Promise<ServerCheck[]> {
  const { nla, inference } = neuronpediaPools({ ...options, retries: 0 });
  try {
    const nlaCheck = (async (): Promise<ServerCheck> => {
      const label = `Neuronpedia NLA server ${options.nlaUrl}`;
      try {
        const h = await nla.request('GET', '/', undefined, NlaHealthSchema);
        const limits = h.limits ? `; up to ${h.limits.max_positions_per_request} positions and ${h.limits.max_new_tokens} new tokens per request` : '';
        return {
          ok: true,
          line:
            `${label}: NLA wire (GET / HealthResponse), status ${h.status}; d_model ${h.d_model ?? 'unknown'}, layer ${h.extraction_layer ?? 'unknown'}; ` +
            `reconstructor ${h.reconstructor_available ? `loaded, ${h.reconstructor_max_concurrent ?? '?'} /score slots` : 'not loaded (round trips not computed)'}${limits}.`,
        };
      } catch (error) {
        return { ok: false, line: `${label}: ${(error as Error).message}` };
      }
    })();
    const inferenceCheck = (async (): Promise<ServerCheck> => {
      const label = `Neuronpedia inference server ${options.inferenceUrl}`;
      try {
        const topk = topkCaller(inference, options);
        const answer = await topk.call('Hello', 1);
        return { ok: true, line: `${label}: topk-by-token answers on the ${topk.wire()} wire for ${options.model} / ${options.source} (${answer.tokens.length} tokens for "Hello").` };
      } catch (error) {
        return { ok: false, line: `${label}: ${(error as Error).message}` };
      }
    })();
    return await Promise.all([nlaCheck, inferenceCheck]);
  } finally {
    nla.close();
    inference.close();
  }
}
