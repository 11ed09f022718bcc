/**
 * A local fake of Slack: enough of the Web API, the response_urls, the file upload URL and
 * Socket Mode's WebSocket for a real Bolt 5.1 App to run the whole review loop offline.
 *
 * - Web API: form-encoded POSTs to `/api/<method>` with a Bearer token, answered
 *   `{ok: true, …}` or `{ok: false, error}`, with HTTP 429 and `Retry-After` on demand.
 *   Payloads that break Slack's limits are refused as Slack refuses them (./limits.ts).
 * - Socket Mode: `apps.connections.open` (app-level token) names `ws://…/link`; the server
 *   sends `hello`, then envelopes `{envelope_id, type, payload, accepts_response_payload}`, and
 *   waits for the ack `{envelope_id, payload}`.
 * - HTTP mode: the same payloads POSTed to the bot, signed with `v0=HMAC-SHA256(secret,
 *   "v0:<timestamp>:<body>")` in X-Slack-Signature.
 *
 * Everything is recorded, so tests assert what a user would see.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { WebSocketServer, type WebSocket } from 'ws';
import { messageRefusal, modalRefusal, type Refusal } from './limits';

export interface FakeUser {
  id: string;
  name: string;
  admin?: boolean;
  owner?: boolean;
}

export interface ApiCall {
  /** Web API method (`chat.postMessage`), or `response_url` / `upload`. */
  method: string;
  args: any;
  status: number;
  /** The `error` of an `ok: false` answer. */
  error?: string;
  refusal?: Refusal;
  /** What the fake answered (Web API calls). */
  result?: any;
  at: number;
}

export interface FakeMessage {
  channel: string;
  ts: string;
  text: string;
  blocks: any[];
  updates: number;
}

export interface Ephemeral {
  channel: string;
  user: string;
  via: 'response_url' | 'chat.postEphemeral';
  body: any;
  at: number;
}

/** What the bot answered to one delivered payload. */
export interface Delivery {
  status: number;
  /** The ack's body: HTTP response JSON (or '' when empty), or the Socket Mode ack payload. */
  ack: any;
  ms: number;
  /** The response_url and trigger_id this payload carried. */
  responseUrl: string;
  triggerId: string;
}

export type Mode = 'http' | 'socket';

export class FakeSlack extends EventEmitter {
  readonly botToken = 'xoxb-fake-bot-token';
  readonly appToken = 'xapp-1-fake-app-token';
  readonly signingSecret = 'fake-signing-secret-0123456789';
  readonly teamId = 'T0CONFAB';
  readonly channelId = 'C0REVIEW';
  readonly appId = 'A0CONFAB';
  readonly botUserId = 'U0CONFABBOT';
  readonly calls: ApiCall[] = [];
  readonly messages = new Map<string, FakeMessage>();
  readonly ephemerals: Ephemeral[] = [];
  readonly views: Array<{ id: string; view: any; user: string }> = [];
  readonly uploads = new Map<string, { filename: string; length: number; bytes: number }>();
  readonly users = new Map<string, FakeUser>();
  groups: Array<{ id: string; users: string[] }> = [];
  /** Where HTTP-mode payloads go (`http://127.0.0.1:<port>/slack/events`). */
  botUrl = '';
  mode: Mode = 'http';
  maxUploadBytes = 1024 * 1024 * 1024;
  private readonly responseUrls = new Map<string, { channel: string; user: string }>();
  private readonly triggers = new Map<string, number>();
  private readonly rateLimits: Array<{ method: string; remaining: number; retryAfterS: number }> = [];
  private readonly acks = new Map<string, (payload: any) => void>();
  private readonly sockets = new Set<WebSocket>();
  private counter = 0;
  private pings?: NodeJS.Timeout;

  private constructor(
    private readonly server: http.Server,
    private readonly wss: WebSocketServer,
  ) {
    super();
    this.setMaxListeners(0);
  }

  static async start(users: FakeUser[] = []): Promise<FakeSlack> {
    const server = http.createServer();
    const wss = new WebSocketServer({ noServer: true });
    const fake = new FakeSlack(server, wss);
    for (const user of users) fake.users.set(user.id, user);
    server.on('request', (req, res) => void fake.onRequest(req, res));
    server.on('upgrade', (req, socket, head) => {
      if (!req.url?.startsWith('/link')) return socket.destroy();
      wss.handleUpgrade(req, socket, head, (ws) => fake.onSocket(ws));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    // Slack pings its Socket Mode clients; without pings Bolt's client reconnects after 30 s.
    fake.pings = setInterval(() => fake.sockets.forEach((ws) => ws.ping()), 5_000);
    return fake;
  }

  get base(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  get apiUrl(): string {
    return `${this.base}/api/`;
  }
  get connectedSockets(): number {
    return this.sockets.size;
  }

  /** Answer the next `times` calls of `method` with 429 and Retry-After. */
  rateLimit(method: string, times: number, retryAfterS = 1): void {
    this.rateLimits.push({ method, remaining: times, retryAfterS });
  }

  channelMessages(channel = this.channelId): FakeMessage[] {
    return [...this.messages.values()].filter((m) => m.channel === channel);
  }

  ephemeralsFor(user: string): Ephemeral[] {
    return this.ephemerals.filter((e) => e.user === user);
  }

  /** Resolves with the first recorded call (from `from` on) that matches; each call is tested once. */
  waitFor(match: (call: ApiCall) => boolean, timeoutMs = 30_000, from = 0): Promise<ApiCall> {
    const found = this.calls.slice(from).find(match);
    if (found) return Promise.resolve(found);
    return this.waitForEvent('call', match, timeoutMs, () => `no matching call; calls: ${this.calls.slice(from).map((c) => `${c.method}:${c.status}${c.error ? `:${c.error}` : ''}`).join(', ')}`);
  }

  waitForEphemeral(user: string, match: (e: Ephemeral) => boolean = () => true, from = 0, timeoutMs = 30_000): Promise<Ephemeral> {
    const wanted = (e: Ephemeral) => e.user === user && match(e);
    const found = this.ephemerals.slice(from).find(wanted);
    if (found) return Promise.resolve(found);
    return this.waitForEvent('ephemeral', wanted, timeoutMs, () => `no ephemeral for ${user}`);
  }

  private waitForEvent<T>(event: 'call' | 'ephemeral', match: (item: T) => boolean, timeoutMs: number, describe: () => string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const listener = (item: T) => {
        if (!match(item)) return;
        clearTimeout(timer);
        this.off(event, listener);
        resolve(item);
      };
      const timer = setTimeout(() => {
        this.off(event, listener);
        reject(new Error(`FakeSlack: ${describe()} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.on(event, listener);
    });
  }

  // ------------------------------------------------------------ payloads to the bot

  slash(text: string, user: FakeUser, options: { mode?: Mode; channel?: string } = {}): Promise<Delivery> {
    const responseUrl = this.newResponseUrl(options.channel ?? this.channelId, user.id);
    const triggerId = this.newTrigger();
    const fields = {
      token: 'verification-token-unused',
      team_id: this.teamId,
      team_domain: 'confab-lab',
      channel_id: options.channel ?? this.channelId,
      channel_name: 'review',
      user_id: user.id,
      user_name: user.name,
      command: '/confab',
      // Slack sends command text with &, < and > as entities.
      text: text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;'),
      api_app_id: this.appId,
      is_enterprise_install: 'false',
      response_url: responseUrl,
      trigger_id: triggerId,
    };
    return this.deliver('slash_commands', fields, options.mode, { responseUrl, triggerId });
  }

  /** Click a button, on a public message (by ts) or on an ephemeral one (its blocks). */
  click(where: { ts: string } | { ephemeralBlocks: any[] }, actionId: string, user: FakeUser, options: { mode?: Mode } = {}): Promise<Delivery> {
    const message = 'ts' in where ? this.messages.get(where.ts) : undefined;
    if ('ts' in where && !message) throw new Error(`FakeSlack: no message ${where.ts}`);
    const blocks = message ? message.blocks : (where as { ephemeralBlocks: any[] }).ephemeralBlocks;
    const block = blocks.find((b) => b.type === 'actions' && b.elements.some((e: any) => e.action_id === actionId));
    if (!block) throw new Error(`FakeSlack: no button ${actionId} on that message`);
    const element = block.elements.find((e: any) => e.action_id === actionId);
    const responseUrl = this.newResponseUrl(this.channelId, user.id);
    const triggerId = this.newTrigger();
    const payload = {
      type: 'block_actions',
      user: { id: user.id, username: user.name, name: user.name, team_id: this.teamId },
      api_app_id: this.appId,
      token: 'verification-token-unused',
      container: message
        ? { type: 'message', message_ts: message.ts, channel_id: message.channel, is_ephemeral: false }
        : { type: 'message', message_ts: `${Date.now() / 1000}`, channel_id: this.channelId, is_ephemeral: true },
      trigger_id: triggerId,
      team: { id: this.teamId, domain: 'confab-lab' },
      enterprise: null,
      is_enterprise_install: false,
      channel: { id: this.channelId, name: 'review' },
      // Slack sends the message only for public messages; an ephemeral one is not stored.
      ...(message ? { message: { type: 'message', user: this.botUserId, ts: message.ts, text: message.text, blocks: message.blocks } } : {}),
      state: { values: {} },
      response_url: responseUrl,
      actions: [{ type: 'button', action_id: actionId, block_id: block.block_id, text: element.text, value: element.value, action_ts: `${Date.now() / 1000}` }],
    };
    return this.deliver('interactive', { payload: JSON.stringify(payload) }, options.mode, { responseUrl, triggerId }, payload);
  }

  /** Submit an opened modal with `values` in Slack's view.state.values shape. */
  submitView(viewId: string, values: Record<string, Record<string, any>>, user: FakeUser, options: { mode?: Mode } = {}): Promise<Delivery> {
    const opened = this.views.find((v) => v.id === viewId);
    if (!opened) throw new Error(`FakeSlack: no view ${viewId}`);
    const payload = {
      type: 'view_submission',
      team: { id: this.teamId, domain: 'confab-lab' },
      user: { id: user.id, username: user.name, name: user.name, team_id: this.teamId },
      api_app_id: this.appId,
      token: 'verification-token-unused',
      trigger_id: this.newTrigger(),
      view: { ...opened.view, id: viewId, team_id: this.teamId, app_id: this.appId, bot_id: 'B0CONFAB', state: { values } },
      response_urls: [],
      is_enterprise_install: false,
      enterprise: null,
    };
    return this.deliver('interactive', { payload: JSON.stringify(payload) }, options.mode, { responseUrl: '', triggerId: payload.trigger_id }, payload);
  }

  /** POST a raw body to the bot (HTTP mode), signed with `secret` at `timestamp` unless told otherwise. */
  async postToBot(body: string, options: { secret?: string; timestamp?: number; contentType?: string; signature?: string } = {}): Promise<{ status: number; body: string; ms: number }> {
    const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
    const signature = options.signature ?? `v0=${createHmac('sha256', options.secret ?? this.signingSecret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
    const started = performance.now();
    const response = await fetch(this.botUrl, {
      method: 'POST',
      headers: { 'content-type': options.contentType ?? 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(timestamp), 'x-slack-signature': signature },
      body,
    });
    const text = await response.text();
    return { status: response.status, body: text, ms: performance.now() - started };
  }

  private async deliver(type: 'slash_commands' | 'interactive', fields: Record<string, string>, mode: Mode | undefined, ids: { responseUrl: string; triggerId: string }, payload?: any): Promise<Delivery> {
    if ((mode ?? this.mode) === 'http') {
      const sent = await this.postToBot(new URLSearchParams(fields).toString());
      let ack: any = sent.body;
      try {
        ack = sent.body ? JSON.parse(sent.body) : '';
      } catch {
        // Not JSON: kept as text.
      }
      return { status: sent.status, ack, ms: sent.ms, ...ids };
    }
    const socket = [...this.sockets][0];
    if (!socket) throw new Error('FakeSlack: no Socket Mode client is connected');
    const envelopeId = randomUUID();
    const acked = new Promise<any>((resolve) => this.acks.set(envelopeId, resolve));
    const started = performance.now();
    socket.send(JSON.stringify({ envelope_id: envelopeId, type, payload: payload ?? fields, accepts_response_payload: type === 'slash_commands' || payload?.type === 'view_submission' }));
    const ack = await Promise.race([acked, new Promise((_, reject) => setTimeout(() => reject(new Error(`FakeSlack: envelope ${envelopeId} not acknowledged within 3 s`)), 3_000))]);
    return { status: 200, ack, ms: performance.now() - started, ...ids };
  }

  dropSockets(): void {
    for (const ws of this.sockets) ws.send(JSON.stringify({ type: 'disconnect', reason: 'refresh_requested' }));
  }

  private onSocket(ws: WebSocket): void {
    this.sockets.add(ws);
    ws.on('close', () => this.sockets.delete(ws));
    ws.on('message', (data) => {
      const message = JSON.parse(String(data));
      const resolve = this.acks.get(message.envelope_id);
      if (resolve) {
        this.acks.delete(message.envelope_id);
        resolve(message.payload ?? {});
      }
    });
    ws.send(JSON.stringify({ type: 'hello', num_connections: this.sockets.size, debug_info: { host: 'fake-slack', approximate_connection_time: 18060 }, connection_info: { app_id: this.appId } }));
    this.emit('socket');
  }

  private newResponseUrl(channel: string, user: string): string {
    const id = randomUUID();
    this.responseUrls.set(id, { channel, user });
    return `${this.base}/response/${id}`;
  }

  private newTrigger(): string {
    const id = `${++this.counter}.${randomUUID()}`;
    this.triggers.set(id, Date.now());
    return id;
  }

  private nextTs(): string {
    return `${Math.floor(Date.now() / 1000)}.${String(++this.counter).padStart(6, '0')}`;
  }

  // ------------------------------------------------------------ HTTP side

  private async onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', this.base);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    if (url.pathname.startsWith('/response/')) return this.onResponseUrl(url.pathname.slice('/response/'.length), raw.toString(), send);
    if (url.pathname.startsWith('/upload/')) {
      const id = url.pathname.slice('/upload/'.length);
      const upload = this.uploads.get(id);
      const bytes = uploadedBytes(req.headers['content-type'] ?? '', raw);
      this.record('upload', { id, bytes }, upload ? 200 : 404);
      if (upload) upload.bytes = bytes;
      res.writeHead(upload ? 200 : 404, { 'content-type': 'text/plain' });
      return void res.end(upload ? `OK - ${bytes}` : 'not found');
    }
    if (!url.pathname.startsWith('/api/')) return send(404, { ok: false, error: 'unknown_path' });
    const method = url.pathname.slice('/api/'.length);
    const args = parseArgs(req.headers['content-type'] ?? '', raw.toString(), url.searchParams);
    const rule = this.rateLimits.find((r) => r.method === method && r.remaining > 0);
    if (rule) {
      rule.remaining -= 1;
      this.record(method, args, 429, 'ratelimited');
      return send(429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(rule.retryAfterS) });
    }
    const token = (req.headers.authorization ?? '').replace(/^Bearer /, '') || args.token;
    const wanted = method === 'apps.connections.open' ? this.appToken : this.botToken;
    if (token !== wanted) return this.answer(send, method, args, { ok: false, error: token?.startsWith('xapp-') || token?.startsWith('xoxb-') ? 'invalid_auth' : 'not_authed' });
    this.answer(send, method, args, this.api(method, args));
  }

  private answer(send: (status: number, body: unknown) => void, method: string, args: any, body: any): void {
    const refusal = body.refusal as Refusal | undefined;
    delete body.refusal;
    this.record(method, args, 200, body.ok ? undefined : body.error, { result: body, refusal });
    send(200, body);
  }

  private addEphemeral(ephemeral: Ephemeral): void {
    this.ephemerals.push(ephemeral);
    this.emit('ephemeral', ephemeral);
  }

  private record(method: string, args: any, status: number, error?: string, extra: Pick<ApiCall, 'result' | 'refusal'> = {}): ApiCall {
    const call: ApiCall = { method, args, status, error, ...extra, at: performance.now() };
    this.calls.push(call);
    this.emit('call', call);
    return call;
  }

  private refuse(refusal: Refusal) {
    return { ok: false, error: refusal.error, response_metadata: { messages: refusal.messages }, refusal };
  }

  private api(method: string, args: any): any {
    switch (method) {
      case 'auth.test':
        return { ok: true, url: 'https://confab-lab.slack.com/', team: 'Confab Lab', user: 'confab', team_id: this.teamId, user_id: this.botUserId, bot_id: 'B0CONFAB' };
      case 'apps.connections.open':
        return { ok: true, url: `${this.base.replace(/^http/, 'ws')}/link?ticket=${randomUUID()}` };
      case 'users.info': {
        const user = this.users.get(args.user);
        if (!user) return { ok: false, error: 'user_not_found' };
        return {
          ok: true,
          user: { id: user.id, team_id: this.teamId, name: user.name, real_name: `${user.name} (real)`, is_admin: Boolean(user.admin), is_owner: Boolean(user.owner), is_primary_owner: false, is_bot: false, profile: { display_name: user.name } },
        };
      }
      case 'usergroups.list':
        return { ok: true, usergroups: this.groups.map((g) => ({ id: g.id, team_id: this.teamId, handle: g.id.toLowerCase(), ...(args.include_users ? { users: g.users } : {}) })) };
      case 'conversations.open':
        return { ok: true, channel: { id: `D${String(args.users).split(',')[0]}` } };
      case 'chat.postMessage': {
        const refusal = messageRefusal(args);
        if (refusal) return this.refuse(refusal);
        if (args.channel !== this.channelId && !String(args.channel).startsWith('D')) return { ok: false, error: 'channel_not_found' };
        const message: FakeMessage = { channel: args.channel, ts: this.nextTs(), text: args.text ?? '', blocks: args.blocks ?? [], updates: 0 };
        this.messages.set(message.ts, message);
        return { ok: true, channel: message.channel, ts: message.ts, message: { type: 'message', text: message.text, blocks: message.blocks, ts: message.ts } };
      }
      case 'chat.update': {
        const refusal = messageRefusal(args);
        if (refusal) return this.refuse(refusal);
        const message = this.messages.get(args.ts);
        if (!message || message.channel !== args.channel) return { ok: false, error: 'message_not_found' };
        Object.assign(message, { text: args.text ?? message.text, blocks: args.blocks ?? [], updates: message.updates + 1 });
        return { ok: true, channel: message.channel, ts: message.ts, text: message.text };
      }
      case 'chat.postEphemeral': {
        const refusal = messageRefusal(args);
        if (refusal) return this.refuse(refusal);
        this.addEphemeral({ channel: args.channel, user: args.user, via: 'chat.postEphemeral', body: args, at: performance.now() });
        return { ok: true, message_ts: this.nextTs() };
      }
      case 'views.open': {
        const issued = this.triggers.get(args.trigger_id);
        if (issued === undefined) return { ok: false, error: 'invalid_trigger_id' };
        if (Date.now() - issued > 3_000) return { ok: false, error: 'expired_trigger_id' };
        this.triggers.delete(args.trigger_id);
        const refusal = modalRefusal(args.view);
        if (refusal) return this.refuse(refusal);
        const id = `V${++this.counter}`;
        this.views.push({ id, view: args.view, user: '' });
        return { ok: true, view: { ...args.view, id } };
      }
      case 'files.getUploadURLExternal': {
        const length = Number(args.length);
        if (!args.filename || !Number.isInteger(length) || length < 1) return { ok: false, error: 'invalid_arguments' };
        if (length > this.maxUploadBytes) return { ok: false, error: 'file_too_large' };
        const id = `F${++this.counter}`;
        this.uploads.set(id, { filename: args.filename, length, bytes: -1 });
        return { ok: true, upload_url: `${this.base}/upload/${id}`, file_id: id };
      }
      case 'files.completeUploadExternal': {
        const files: Array<{ id: string; title?: string }> = typeof args.files === 'string' ? JSON.parse(args.files) : args.files;
        for (const file of files ?? []) {
          const upload = this.uploads.get(file.id);
          if (!upload || upload.bytes !== upload.length) return { ok: false, error: 'file_not_found' };
        }
        return { ok: true, files: files.map((f) => ({ id: f.id, title: f.title ?? '', name: this.uploads.get(f.id)!.filename })) };
      }
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }

  private onResponseUrl(id: string, raw: string, send: (status: number, body: unknown) => void): void {
    const target = this.responseUrls.get(id);
    let body: any;
    try {
      body = JSON.parse(raw);
    } catch {
      body = null;
    }
    if (!target || !body) {
      this.record('response_url', body, 404, 'not_found');
      return send(404, { ok: false, error: 'not_found' });
    }
    const refusal = messageRefusal(body);
    this.record('response_url', body, refusal ? 400 : 200, refusal?.error, { refusal: refusal ?? undefined });
    if (refusal) return send(400, { ok: false, error: refusal.error });
    if (body.response_type === 'in_channel') {
      const ts = this.nextTs();
      this.messages.set(ts, { channel: target.channel, ts, text: body.text ?? '', blocks: body.blocks ?? [], updates: 0 });
    } else {
      this.addEphemeral({ channel: target.channel, user: target.user, via: 'response_url', body, at: performance.now() });
    }
    send(200, { ok: true });
  }

  async close(): Promise<void> {
    clearInterval(this.pings);
    for (const ws of this.sockets) ws.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The file's size in an upload: the raw body, or the one part of a multipart/form-data body. */
function uploadedBytes(contentType: string, raw: Buffer): number {
  const boundary = /boundary=("?)([^";]+)\1/.exec(contentType)?.[2];
  if (!contentType.startsWith('multipart/form-data') || !boundary) return raw.length;
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  const start = raw.indexOf(Buffer.from(`--${boundary}`));
  const headersEnd = raw.indexOf('\r\n\r\n', start);
  const end = raw.indexOf(delimiter, headersEnd);
  return start < 0 || headersEnd < 0 || end < 0 ? -1 : end - (headersEnd + 4);
}

/** Web API arguments: form fields (objects arrive JSON-encoded, as the Web API client sends them) or JSON. */
function parseArgs(contentType: string, raw: string, query: URLSearchParams): any {
  const args: any = Object.fromEntries(query);
  if (contentType.startsWith('application/json')) return { ...args, ...(raw ? JSON.parse(raw) : {}) };
  for (const [key, value] of new URLSearchParams(raw)) {
    args[key] = ['blocks', 'view', 'attachments'].includes(key) && /^[[{]/.test(value) ? JSON.parse(value) : value;
  }
  return args;
}
