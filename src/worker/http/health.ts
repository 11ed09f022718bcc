/**
 * `GET /health`: liveness for load balancers and the bot's client. Unauthenticated, and it
 * tells nothing beyond the model name, its context length and how busy the worker is.
 */
import { z } from 'zod';
import type { Route } from './route';

export const HealthResponseSchema = z.object({
  status: z.literal('ok'),
  model: z.string(),
  queue: z.object({ waiting: z.number().int(), running: z.number().int() }),
  uptime_s: z.number(),
  /** The model's context length in tokens: the longest prompt it reads. */
  max_tokens: z.number().int().optional(),
});
export type HealthResponse = z.infer<typeof HealthResponseSchema>;

const startedAt = performance.now();

export const healthRoute: Route = {
  method: 'GET',
  path: '/health',
  auth: false,
  async handle({ engine, queue }) {
    const { waiting, running } = queue.stats();
    const body: HealthResponse = {
      status: 'ok',
      model: engine.capabilities().model,
      queue: { waiting, running },
      uptime_s: Math.round((performance.now() - startedAt) / 1000),
      max_tokens: engine.capabilities().max_tokens,
    };
    return body;
  },
};
