/**
 * `GET /health`: liveness for load balancers and the bot's client. Unauthenticated, and it
 * tells nothing beyond the model name, its context length, how busy the worker is and how much
 * it takes at once (the bot's dispatchers claim work by that capacity).
 */
import { z } from 'zod';
import { WorkerCapacitySchema } from '../../protocol/health';
import type { Route } from './route';

export const HealthResponseSchema = z.object({
  status: z.literal('ok'),
  model: z.string(),
  queue: z.object({ waiting: z.number().int(), running: z.number().int() }),
  uptime_s: z.number(),
  /** The model's context length in tokens: the longest prompt it reads. */
  max_tokens: z.number().int().optional(),
  capacity: WorkerCapacitySchema.optional(),
});
export type HealthResponse = z.infer<typeof HealthResponseSchema>;

const startedAt = performance.now();

export const healthRoute: Route = {
  method: 'GET',
  path: '/health',
  auth: false,
  async handle({ engine, queue }) {
    const { waiting, running, inUse } = queue.stats();
    const { concurrent, queueLimit } = queue.limits();
    const body: HealthResponse = {
      status: 'ok',
      model: engine.capabilities().model,
      queue: { waiting, running },
      uptime_s: Math.round((performance.now() - startedAt) / 1000),
      max_tokens: engine.capabilities().max_tokens,
      capacity: { concurrent, queue_limit: queueLimit, in_use: inUse },
    };
    return body;
  },
};
