/**
 * Errors in the shape Neuronpedia's FastAPI servers send, for the routes that speak their wire:
 * 422 `{detail: [{loc, msg, type}]}` for a body that fails validation, `{detail: "..."}` for
 * every other status. Confab's own `/v1/*` routes keep `{error, detail}`.
 */
import type { z } from 'zod';
import { EngineError } from '../engine';
import { HttpError } from './errors';

export interface ValidationIssue {
  loc: Array<string | number>;
  msg: string;
  type: string;
}

/** A 422 whose every entry names the field, as FastAPI's request validation does. */
export function validationError(issues: ValidationIssue[]): HttpError {
  const text = issues.map((i) => `${i.loc.slice(1).join('.') || 'body'}: ${i.msg}`).join('; ');
  return new HttpError(422, 'invalid_request', text, {}, { detail: issues });
}

/** A non-validation error: FastAPI's HTTPException body. */
export function detailError(status: number, message: string, headers: Record<string, string> = {}): HttpError {
  return new HttpError(status, status === 401 || status === 403 ? 'unauthorized' : 'invalid_request', message, headers, { detail: message });
}

/** Pydantic's error type names for zod's codes, so clients that branch on `type` find the usual ones. */
function pydanticType(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined ? 'missing' : `${issue.expected === 'number' ? 'float' : issue.expected === 'boolean' ? 'bool' : issue.expected}_type`;
    case 'too_big':
      return issue.origin === 'string' ? 'string_too_long' : issue.origin === 'array' ? 'too_long' : issue.inclusive ? 'less_than_equal' : 'less_than';
    case 'too_small':
      return issue.origin === 'string' ? 'string_too_short' : issue.origin === 'array' ? 'too_short' : issue.inclusive ? 'greater_than_equal' : 'greater_than';
    default:
      return 'value_error';
  }
}

/** Parse `body` with `schema`, or throw a 422 naming each field under `body`. */
export function parseFastApi<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  throw validationError(
    parsed.error.issues.map((issue) => ({
      loc: ['body', ...issue.path.map((k) => (typeof k === 'number' ? k : String(k)))],
      msg: issue.input === undefined && issue.code === 'invalid_type' ? 'Field required' : issue.message,
      type: pydanticType(issue),
    })),
  );
}

/** Read the JSON body; malformed or empty JSON is a 422 as FastAPI reports it, an oversized one stays 413. */
export async function readFastApiBody(body: () => Promise<unknown>): Promise<unknown> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof HttpError && err.code === 'invalid_json') throw validationError([{ loc: ['body'], msg: err.message, type: 'json_invalid' }]);
    throw err;
  }
}

/** Any error on a Neuronpedia route, turned into FastAPI's shape (status and headers kept). */
export function toFastApiError(err: unknown): unknown {
  if (err instanceof HttpError) return err.body !== undefined ? err : detailError(err.status, err.message, err.headers);
  if (err instanceof EngineError) return detailError(err.status, err.message);
  return err;
}
