/**
 * A local fake of the OpenAI chat-completions API (`POST /v1/chat/completions`), speaking the
 * real wire format, so the judge is tested through the real `openai` client over real HTTP.
 * Each request takes the next scripted behaviour; requests are recorded for assertions.
 *
 * Like OpenAI's reasoning models, it refuses the deprecated `max_tokens` (400,
 * `unsupported_parameter`); a reply may carry reasoning beside its content, both as vLLM's
 * `reasoning_content` and as `reasoning`, with the reasoning tokens counted in `usage`.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type FakeReply =
  /** 200 with this assistant message content. */
  | { content: string | null; delayMs?: number; finishReason?: 'stop' | 'length'; reasoning?: string; reasoningTokens?: number }
  /** An HTTP error with an OpenAI-shaped error body. */
  | { status: number; message: string };

export interface RecordedRequest {
  path: string;
  authorization: string | undefined;
  body: { model: string; messages: Array<{ role: string; content: string }>; [key: string]: unknown };
}

export interface FakeOpenAI {
  baseUrl: string;
  requests: RecordedRequest[];
  script(...replies: FakeReply[]): void;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startFakeOpenAI(): Promise<FakeOpenAI> {
  const queue: FakeReply[] = [];
  const requests: RecordedRequest[] = [];
  const pending = new Set<NodeJS.Timeout>();
  const server: Server = createServer(async (req, res) => {
    const raw = await readBody(req);
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `No route ${req.method} ${req.url}`, type: 'invalid_request_error' } }));
      return;
    }
    const body = JSON.parse(raw);
    requests.push({ path: req.url, authorization: req.headers.authorization, body });
    if (body.max_tokens !== undefined) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          error: {
            message: "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
            type: 'invalid_request_error',
            param: 'max_tokens',
            code: 'unsupported_parameter',
          },
        }),
      );
      return;
    }
    const reply = queue.shift() ?? { status: 500, message: 'fake: no scripted reply' };
    if ('status' in reply) {
      res.writeHead(reply.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: reply.message, type: 'server_error', code: null } }));
      return;
    }
    const send = () => {
      if (res.destroyed) return;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: `chatcmpl-fake-${requests.length}`,
          object: 'chat.completion',
          created: Math.floor(Date.now() / 1000),
          model: body.model,
          choices: [
            {
              index: 0,
              message: {
                role: 'assistant',
                content: reply.content,
                refusal: null,
                ...(reply.reasoning !== undefined ? { reasoning_content: reply.reasoning, reasoning: reply.reasoning } : {}),
              },
              finish_reason: reply.finishReason ?? 'stop',
              logprobs: null,
            },
          ],
          usage: {
            prompt_tokens: 10,
            completion_tokens: 10 + (reply.reasoningTokens ?? 0),
            total_tokens: 20 + (reply.reasoningTokens ?? 0),
            completion_tokens_details: { reasoning_tokens: reply.reasoningTokens ?? 0 },
          },
        }),
      );
    };
    if (reply.delayMs) {
      const timer = setTimeout(() => {
        pending.delete(timer);
        send();
      }, reply.delayMs);
      pending.add(timer);
    } else send();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    script: (...replies) => queue.push(...replies),
    close: async () => {
      for (const t of pending) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
