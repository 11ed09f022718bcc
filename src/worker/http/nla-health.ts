/**
 * `GET /`, the health route of Neuronpedia's NLA server (`HealthResponse` in its spec): what is
 * loaded, `d_model`, the extraction layer, the concurrency limits and the request caps.
 *
 * This worker queues instead of refusing at a fixed slot count, so every concurrency figure is
 * the queue's size: a client that keeps at most that many requests in flight is never told 429.
 */
import type { Route } from './route';
import { maxTemperature, NLA_LIMITS } from './nla-limits';

export const nlaHealthRoute: Route = {
  method: 'GET',
  path: '/',
  auth: true,
  style: 'nla',
  async handle({ engine, settings }) {
    const caps = engine.capabilities();
    const slots = settings.queueLimit;
    return {
      status: 'ok',
      verbalizer_model: `${caps.model} (AV: ${caps.nla.av_backend})`,
      d_model: caps.d_model,
      verbalizer_quantization: null,
      verbalizer_kv_cache_dtype: null,
      verbalizer_cuda_graph_max_bs: null,
      verbalizer_torch_compile: null,
      verbalizer_device: caps.device,
      reconstructor_available: caps.nla.available,
      reconstructor_fp8: null,
      reconstructor_int4: null,
      reconstructor_device: caps.nla.available ? caps.device : null,
      source_model: caps.model,
      extraction_layer: caps.layer,
      // The subject graph ends at the extraction layer: it cannot complete text.
      source_truncated: true,
      source_fp8: null,
      source_device: caps.device,
      completion_available: false,
      num_cuda_devices: caps.device === 'cuda' ? 1 : 0,
      max_concurrent: slots,
      max_concurrent_explains: slots,
      source_max_concurrent: slots,
      reconstructor_max_concurrent: slots,
      max_describe_requests: slots,
      limits: { ...NLA_LIMITS, max_temperature: maxTemperature(caps.nla.av_backend) },
    };
  },
};
