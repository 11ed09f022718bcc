/**
 * Server-sent events as Neuronpedia's NLA server sends them: one JSON object per `data:` frame,
 * in the order results become ready, and a final `data: [DONE]`.
 */
import type { ServerResponse } from 'node:http';

export interface EventStream {
  send(frame: unknown): void;
  /** Ends the stream with `[DONE]`, or with an `{error}` frame when the work failed midway. */
  end(error?: string): void;
}

export function openEventStream(res: ServerResponse): EventStream {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
  // Each frame leaves at once: Nagle's delay would hold a small frame back until the next.
  res.socket?.setNoDelay(true);
  const writable = () => !res.destroyed && !res.writableEnded;
  return {
    send(frame) {
      if (writable()) res.write(`data: ${JSON.stringify(frame)}\n\n`);
    },
    end(error) {
      if (!writable()) return;
      if (error !== undefined) res.write(`data: ${JSON.stringify({ error })}\n\n`);
      else res.write('data: [DONE]\n\n');
      res.end();
    },
  };
}
