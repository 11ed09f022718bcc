/**
 * The pieces of Bolt's setup that are Confab's choices: its logger, the Web API retry policy,
 * and the HTTP receiver's content-type fix.
 */
import type { IncomingMessage } from 'node:http';
import type { Logger as BoltLogger, LogLevel } from '@slack/logger';
import type { SlackLog } from './people';

/** Bolt's default path for commands, interactivity and events in HTTP mode. */
export const HTTP_PATH = '/slack/events';

/**
 * Web API retries. A 429's Retry-After is waited out before each retry; other failures back
 * off from half a second. Bolt's default (ten retries over about 30 minutes) would hold a
 * reply long past the moment it matters.
 */
export const WEB_API_RETRIES = { retries: 4, factor: 2, minTimeout: 500, maxTimeout: 8_000, randomize: true };

/** Bolt's logger interface over Confab's log; Bolt's chatty info lines become debug. */
export function boltLogger(log: SlackLog): BoltLogger {
  let level = 'info' as LogLevel;
  const text = (parts: unknown[]) => parts.map((p) => (p instanceof Error ? p.message : typeof p === 'string' ? p : JSON.stringify(p))).join(' ');
  return {
    debug: (...parts: unknown[]) => log.debug(`slack (bolt): ${text(parts)}`),
    info: (...parts: unknown[]) => log.debug(`slack (bolt): ${text(parts)}`),
    warn: (...parts: unknown[]) => log.warn(`slack (bolt): ${text(parts)}`),
    error: (...parts: unknown[]) => log.error(`slack (bolt): ${text(parts)}`),
    setLevel: (next: LogLevel) => {
      level = next;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}

/**
 * Bolt's HTTP receiver reads a form body only when Content-Type is exactly
 * `application/x-www-form-urlencoded`; with `; charset=utf-8` it parses the form as JSON and
 * answers 400. The signature covers the body alone, so dropping the parameter is safe.
 */
export function normalizeContentType(req: IncomingMessage): void {
  const type = req.headers['content-type'];
  if (type && /^application\/x-www-form-urlencoded\s*;/i.test(type)) req.headers['content-type'] = 'application/x-www-form-urlencoded';
}

/**
 * Acknowledgements before work. Command work (PGlite runs on this event loop) started while
 * other requests wait to be read delays their acks: in a burst of 50 commands the last acks
 * came seconds late. So work waits until no request is in flight and none has arrived for a
 * short quiet period (a burst's requests arrive a few milliseconds apart), and a cap keeps a
 * steady stream of clicks from starving it.
 */
export class AcknowledgementGate {
  private open = 0;
  private lastArrival = 0;

  constructor(private readonly quietMs = 100) {}

  /** Counts an HTTP request from its arrival until its response is sent. */
  track(res: { once(event: 'close', listener: () => void): unknown }): void {
    this.open += 1;
    this.lastArrival = performance.now();
    res.once('close', () => {
      this.open -= 1;
    });
  }

  async settled(maxWaitMs = 1_000): Promise<void> {
    const deadline = performance.now() + maxWaitMs;
    await new Promise<void>((resolve) => setImmediate(resolve));
    for (;;) {
      const quietFor = performance.now() - this.lastArrival;
      if ((this.open === 0 && quietFor >= this.quietMs) || performance.now() >= deadline) return;
      await new Promise<void>((resolve) => setTimeout(resolve, Math.max(1, this.quietMs - quietFor)).unref());
    }
  }
}
