/**
 * The body of every error a worker answers with, on every route. The client branches on
 * `error` (a stable machine code) and shows `detail` (what was wrong, what is allowed).
 */
import { z } from 'zod';

export const ErrorBodySchema = z.object({ error: z.string(), detail: z.string() });
export type ErrorBody = z.infer<typeof ErrorBodySchema>;
