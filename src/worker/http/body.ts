/**
 * Reading a JSON request body with a hard size cap.
 *
 * The cap is checked against Content-Length before a byte is read, and again while streaming
 * (chunked bodies have no length), so an oversized upload never sits in memory.
 */
import type { IncomingMessage } from 'node:http';
import { HttpError } from './errors';

export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const tooLarge = () =>
    new HttpError(413, 'payload_too_large', `Request body is over ${maxBytes.toLocaleString('en-US')} bytes; send a smaller body.`, {
      // The rest of the upload is not read; closing is the only way to stop the client sending it.
      connection: 'close',
    });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge();

  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge();
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks, size).toString('utf8');
  if (text.trim() === '') throw new HttpError(400, 'invalid_json', 'The request body is empty; send a JSON object.');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, 'invalid_json', `The request body is not valid JSON (${(err as Error).message}).`);
  }
}
