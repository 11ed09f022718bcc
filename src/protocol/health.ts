/**
 * What a worker's `GET /health` tells the bot about its capacity, so that the dispatchers of
 * several bot processes send it no more work than it runs at once. Optional in the health body:
 * a worker that does not report it still parses, and the bot then falls back to a fixed number
 * of analyses per process.
 */
import { z } from 'zod';

export const WorkerCapacitySchema = z.object({
  /** Analyze requests the worker runs at once: its lanes times the largest batch. */
  concurrent: z.number().int().min(0),
  /** Requests that may wait beyond those before the worker answers 429. */
  queue_limit: z.number().int().min(0),
  /** Requests in the worker now, waiting or running, from every client. */
  in_use: z.number().int().min(0),
});
export type WorkerCapacity = z.infer<typeof WorkerCapacitySchema>;

/** The part of the health body the bot reads; other fields pass through unread. */
export const HealthCapacitySchema = z.object({ capacity: WorkerCapacitySchema.optional() });
