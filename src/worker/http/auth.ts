/**
 * The shared-secret check (`X-SECRET-KEY`, the header Neuronpedia's servers use).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpError } from './errors';

export const SECRET_HEADER = 'x-secret-key';

/**
 * Both sides are hashed first so the comparison has a fixed length: timingSafeEqual throws on
 * unequal lengths, and an early length check would leak the secret's length.
 */
export function secretMatches(given: string, secret: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(secret).digest();
  return timingSafeEqual(a, b);
}

/** `wrongStatus` is 403 on Neuronpedia's NLA routes, which tell a wrong key from a missing one. */
export function requireSecret(req: IncomingMessage, secret: string | undefined, wrongStatus: 401 | 403 = 401): void {
  if (secret === undefined) return;
  const header = req.headers[SECRET_HEADER];
  const given = Array.isArray(header) ? header[0] : header;
  if (given === undefined || given === '') {
    throw new HttpError(401, 'unauthorized', 'This worker requires the X-SECRET-KEY header.');
  }
  if (!secretMatches(given, secret)) throw new HttpError(wrongStatus, 'unauthorized', 'The X-SECRET-KEY header does not match this worker\'s secret.');
}
