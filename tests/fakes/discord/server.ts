/**
 * A local Discord-compatible server: enough of REST v10 and the gateway for a real discord.js
 * 14.28 `Client` to log in, receive interactions and answer them, offline.
 *
 * Wire facts it follows are in `/work/shared/notes/platforms.md`. In short:
 * - `GET /api/v10/gateway/bot` names the gateway URL; the client connects with `?v=10&encoding=json`.
 * - Gateway: HELLO (op 10) → IDENTIFY (op 2) → READY (with `application`, or discord.js throws)
 *   → one GUILD_CREATE per guild listed (or `ready` waits 15 s). Heartbeats (op 1) get op 11.
 * - Every INTERACTION_CREATE carries `entitlements` and `authorizing_integration_owners`;
 *   discord.js crashes inside its WebSocket handler without them.
 *
 * Everything is recorded (`requests`) so tests assert what a user would see. It can answer
 * with 429 and real rate-limit headers, and treat an interaction token as expired
 * (404 Unknown Webhook, code 10015), the two failures Confab must survive.
 */
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { WebSocketServer, type WebSocket } from 'ws';

export const PERMISSION_MANAGE_GUILD = 1n << 5n;
const PERMISSION_VIEW_CHANNEL = 1n << 10n;
const PERMISSION_SEND_MESSAGES = 1n << 11n;
const MEMBER_PERMISSIONS = PERMISSION_VIEW_CHANNEL | PERMISSION_SEND_MESSAGES;
/** Discord's default attachment limit, sent as `attachment_size_limit` unless a test overrides it. */
export const DEFAULT_ATTACHMENT_LIMIT = 10 * 1024 * 1024;
const DISCORD_EPOCH = 1_420_070_400_000n;

export interface RecordedFile {
  field: string;
  filename: string;
  size: number;
  contentType: string;
}

export interface RecordedRequest {
  method: string;
  /** Path after `/api/v10`, e.g. `/interactions/1/tok/callback`. */
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  /** JSON body, or `payload_json` of a multipart body. */
  body: any;
  files: RecordedFile[];
  status: number;
  /** performance.now() when the request finished arriving. */
  at: number;
}

export interface FakeMember {
  id: string;
  username: string;
  admin?: boolean;
  roles?: string[];
}

export interface FakeMessage {
  id: string;
  channel_id: string;
  content: string;
  embeds: any[];
  components: any[];
  attachments: any[];
  flags: number;
  allowed_mentions?: unknown;
  /** Interaction that created it (original response or follow-up), if any. */
  interactionId?: string;
  edits: number;
}

interface InteractionRecord {
  id: string;
  token: string;
  channelId: string;
  dispatchedAt: number;
  createdAt: number;
  expired: boolean;
  /** Set once the callback (initial response) arrived. */
  callback?: { type: number; data: any; at: number };
  originalMessageId?: string;
  /** For component and modal interactions: the message they came from. */
  sourceMessageId?: string;
}

interface RateLimitRule {
  method: string;
  path: RegExp;
  remaining: number;
  retryAfterMs: number;
  global: boolean;
}

export interface FakeDiscordOptions {
  token?: string;
  applicationId?: string;
  guildId?: string;
  channelId?: string;
  /** Interaction tokens older than this answer 404 Unknown Webhook (Discord: 15 minutes). */
  tokenLifetimeMs?: number;
  heartbeatIntervalMs?: number;
}

export class FakeDiscord extends EventEmitter {
  readonly token: string;
  readonly applicationId: string;
  readonly guildId: string;
  readonly channelId: string;
  readonly botUserId: string;
  readonly requests: RecordedRequest[] = [];
  readonly messages = new Map<string, FakeMessage>();
  readonly interactions = new Map<string, InteractionRecord>();
  /** Bulk-overwritten commands: key `global` or the guild id. */
  readonly commands = new Map<string, any[]>();
  /** Gateway payloads received from clients (IDENTIFY, heartbeats, …). */
  readonly gatewayReceived: any[] = [];
  tokenLifetimeMs: number;
  attachmentSizeLimit = DEFAULT_ATTACHMENT_LIMIT;
  /** Refuse message edits through the channel route (403 Missing Access), as in a channel the bot cannot see. */
  denyChannelEdits = false;

  private readonly http: http.Server;
  private readonly wss: WebSocketServer;
  private readonly sockets = new Set<{ ws: WebSocket; seq: number; identified: boolean }>();
  private readonly rateLimits: RateLimitRule[] = [];
  private snowflake = 0n;
  private readonly heartbeatIntervalMs: number;
  private port = 0;

  private constructor(options: FakeDiscordOptions) {
    super();
    this.setMaxListeners(0);
    this.token = options.token ?? 'fake-bot-token';
    this.applicationId = options.applicationId ?? '1100000000000000001';
    this.guildId = options.guildId ?? '1100000000000000002';
    this.channelId = options.channelId ?? '1100000000000000003';
    this.botUserId = this.applicationId;
    this.tokenLifetimeMs = options.tokenLifetimeMs ?? 15 * 60_000;
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? 41_250;
    this.http = http.createServer((req, res) => void this.handleHttp(req, res));
    this.wss = new WebSocketServer({ server: this.http, path: '/gateway' });
    this.wss.on('connection', (ws) => this.handleGateway(ws));
  }

  static async start(options: FakeDiscordOptions = {}): Promise<FakeDiscord> {
    const fake = new FakeDiscord(options);
    await new Promise<void>((resolve) => fake.http.listen(0, '127.0.0.1', resolve));
    fake.port = (fake.http.address() as AddressInfo).port;
    return fake;
  }

  /** What Confab reads from DISCORD_API_BASE (discord.js appends `/v10`). */
  get apiBase(): string {
    return `http://127.0.0.1:${this.port}/api`;
  }

  private backdatedId(agoMs: number): string {
    return (((BigInt(Date.now() - agoMs) - DISCORD_EPOCH) << 22n) | BigInt(Math.floor(Math.random() * 4096))).toString();
  }

  /** A snowflake with the current time in it: discord.js reads `createdTimestamp` from ids. */
  nextId(): string {
    const now = (BigInt(Date.now()) - DISCORD_EPOCH) << 22n;
    this.snowflake = now > this.snowflake ? now : this.snowflake + 1n;
    return this.snowflake.toString();
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  /** Answer the next `times` matching requests with 429 and proper headers. */
  rateLimit(method: string, path: RegExp, options: { times?: number; retryAfterMs?: number; global?: boolean } = {}): void {
    this.rateLimits.push({
      method,
      path,
      remaining: options.times ?? 1,
      retryAfterMs: options.retryAfterMs ?? 200,
      global: options.global ?? false,
    });
  }

  /** Make an interaction token behave as if its 15 minutes had passed. */
  expireToken(token: string): void {
    for (const rec of this.interactions.values()) if (rec.token === token) rec.expired = true;
  }

  // ---------------------------------------------------------------- gateway

  /** Cut every gateway connection abruptly (as a network failure would); clients reconnect. */
  dropGatewayConnections(): void {
    for (const s of this.sockets) s.ws.terminate();
  }

  get connectedClients(): number {
    return [...this.sockets].filter((s) => s.identified).length;
  }

  private handleGateway(ws: WebSocket): void {
    const session = { ws, seq: 0, identified: false };
    this.sockets.add(session);
    ws.on('close', () => this.sockets.delete(session));
    ws.on('message', (raw) => {
      const payload = JSON.parse(raw.toString());
      this.gatewayReceived.push(payload);
      if (payload.op === 1) ws.send(JSON.stringify({ op: 11, d: null }));
      if (payload.op === 2) {
        if (payload.d?.token !== this.token && payload.d?.token !== `Bot ${this.token}`) {
          ws.close(4004, 'Authentication failed.');
          return;
        }
        session.identified = true;
        this.sendDispatch(session, 'READY', {
          v: 10,
          user: { id: this.botUserId, username: 'confab', discriminator: '0', global_name: null, avatar: null, bot: true, flags: 0 },
          guilds: [{ id: this.guildId, unavailable: true }],
          session_id: `session-${this.nextId()}`,
          resume_gateway_url: `ws://127.0.0.1:${this.port}/gateway`,
          shard: [0, 1],
          application: { id: this.applicationId, flags: 0 },
        });
        this.sendDispatch(session, 'GUILD_CREATE', this.guildPayload());
        this.emit('identify', payload.d);
      }
      if (payload.op === 6) {
        // RESUME after a dropped connection: accept it if the token is right. Dispatches sent
        // while the client was away are not replayed (tests send none then).
        if (payload.d?.token !== this.token && payload.d?.token !== `Bot ${this.token}`) {
          ws.send(JSON.stringify({ op: 9, d: false }));
          return;
        }
        session.identified = true;
        session.seq = Number(payload.d?.seq ?? 0);
        this.sendDispatch(session, 'RESUMED', {});
        this.emit('resume', payload.d);
      }
    });
    ws.send(JSON.stringify({ op: 10, d: { heartbeat_interval: this.heartbeatIntervalMs } }));
  }

  private sendDispatch(session: { ws: WebSocket; seq: number }, t: string, d: unknown): void {
    session.seq += 1;
    session.ws.send(JSON.stringify({ op: 0, t, s: session.seq, d }));
  }

  private guildPayload() {
    const everyone = {
      id: this.guildId,
      name: '@everyone',
      permissions: MEMBER_PERMISSIONS.toString(),
      position: 0,
      color: 0,
      hoist: false,
      managed: false,
      mentionable: false,
      flags: 0,
    };
    return {
      id: this.guildId,
      name: 'Confab Test Guild',
      icon: null,
      owner_id: '1100000000000000099',
      roles: [everyone],
      channels: [
        { id: this.channelId, type: 0, name: 'interp', guild_id: this.guildId, position: 0, permission_overwrites: [], nsfw: false, topic: null },
      ],
      members: [],
      member_count: 2,
      unavailable: false,
      large: false,
      joined_at: new Date().toISOString(),
      emojis: [],
      stickers: [],
      features: [],
      threads: [],
      voice_states: [],
      presences: [],
      stage_instances: [],
      guild_scheduled_events: [],
      soundboard_sounds: [],
      premium_tier: 0,
      preferred_locale: 'en-US',
      system_channel_flags: 0,
      verification_level: 0,
      default_message_notifications: 0,
      explicit_content_filter: 0,
      mfa_level: 0,
      nsfw_level: 0,
      afk_timeout: 300,
    };
  }

  // ------------------------------------------------------------ interactions

  memberPayload(member: FakeMember) {
    const permissions = member.admin ? MEMBER_PERMISSIONS | PERMISSION_MANAGE_GUILD : MEMBER_PERMISSIONS;
    return {
      user: { id: member.id, username: member.username, discriminator: '0', global_name: member.username, avatar: null },
      roles: member.roles ?? [],
      joined_at: '2026-01-01T00:00:00.000Z',
      permissions: permissions.toString(),
      nick: null,
      deaf: false,
      mute: false,
      flags: 0,
      pending: false,
    };
  }

  /** Send INTERACTION_CREATE to every identified client, with every field discord.js needs. */
  dispatchInteraction(type: number, data: unknown, member: FakeMember, extra: Record<string, unknown> = {}, createdAgoMs = 0): InteractionRecord {
    // discord.js reads an interaction's creation time from its id; `createdAgoMs` backdates it
    // (to test the 15-minute token lifetime without waiting) while the token stays usable.
    const id = createdAgoMs > 0 ? this.backdatedId(createdAgoMs) : this.nextId();
    const token = `itok-${id}-${Math.random().toString(36).slice(2)}`;
    const payload = {
      id,
      application_id: this.applicationId,
      type,
      token,
      version: 1,
      guild_id: this.guildId,
      guild: { id: this.guildId, locale: 'en-US', features: [] },
      channel_id: this.channelId,
      channel: { id: this.channelId, type: 0, guild_id: this.guildId, name: 'interp' },
      member: this.memberPayload(member),
      app_permissions: (MEMBER_PERMISSIONS | PERMISSION_MANAGE_GUILD).toString(),
      locale: 'en-US',
      guild_locale: 'en-US',
      entitlements: [],
      authorizing_integration_owners: { '0': this.guildId },
      context: 0,
      attachment_size_limit: this.attachmentSizeLimit,
      data,
      ...extra,
    };
    const rec: InteractionRecord = { id, token, channelId: this.channelId, dispatchedAt: 0, createdAt: Date.now(), expired: false };
    const source = (extra.message as { id?: string } | undefined)?.id;
    if (source) rec.sourceMessageId = source;
    this.interactions.set(id, rec);
    const identified = [...this.sockets].filter((s) => s.identified);
    if (identified.length === 0) throw new Error('FakeDiscord: no identified gateway client to receive the interaction');
    rec.dispatchedAt = performance.now();
    for (const s of identified) this.sendDispatch(s, 'INTERACTION_CREATE', payload);
    return rec;
  }

  /** A slash command. Options: `{name: value}`; integer-looking numbers are sent as type 4. */
  slash(name: string, options: Record<string, string | number | boolean>, member: FakeMember, createdAgoMs = 0): InteractionRecord {
    const opts = Object.entries(options).map(([optName, value]) => ({
      name: optName,
      type: typeof value === 'boolean' ? 5 : typeof value === 'number' ? (Number.isInteger(value) ? 4 : 10) : 3,
      value,
    }));
    const registered = [...this.commands.values()].flat().find((c) => c.name === name);
    return this.dispatchInteraction(2, { id: registered?.id ?? this.nextId(), name, type: 1, options: opts, guild_id: this.guildId }, member, {}, createdAgoMs);
  }

  /** A button click on a stored message. */
  button(customId: string, messageId: string, member: FakeMember): InteractionRecord {
    const message = this.messages.get(messageId);
    if (!message) throw new Error(`FakeDiscord: no message ${messageId}`);
    return this.dispatchInteraction(3, { custom_id: customId, component_type: 2 }, member, { message: this.messagePayload(message) });
  }

  /**
   * A modal submit. `fields` maps a component custom_id to a text value (text input) or an
   * array of values (string select), wrapped in Label components as Discord sends them.
   */
  modalSubmit(customId: string, fields: Record<string, string | string[]>, member: FakeMember, messageId?: string): InteractionRecord {
    let n = 0;
    const components = Object.entries(fields).map(([fieldId, value]) => {
      n += 2;
      return {
        type: 18,
        id: n - 1,
        component: Array.isArray(value)
          ? { type: 3, id: n, custom_id: fieldId, values: value }
          : { type: 4, id: n, custom_id: fieldId, value },
      };
    });
    const message = messageId ? this.messages.get(messageId) : undefined;
    return this.dispatchInteraction(5, { custom_id: customId, components }, member, message ? { message: this.messagePayload(message) } : {});
  }

  // -------------------------------------------------------------- messages

  messagePayload(message: FakeMessage) {
    return {
      id: message.id,
      channel_id: message.channel_id,
      guild_id: this.guildId,
      author: { id: this.botUserId, username: 'confab', discriminator: '0', global_name: null, avatar: null, bot: true },
      content: message.content,
      timestamp: new Date().toISOString(),
      edited_timestamp: message.edits > 0 ? new Date().toISOString() : null,
      tts: false,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      mention_channels: [],
      attachments: message.attachments,
      embeds: message.embeds,
      components: message.components,
      pinned: false,
      type: message.interactionId ? 20 : 0,
      flags: message.flags,
      application_id: this.applicationId,
      webhook_id: message.interactionId ? this.applicationId : undefined,
    };
  }

  private storeMessage(channelId: string, body: any, files: RecordedFile[], interactionId?: string, existing?: FakeMessage): FakeMessage {
    const message: FakeMessage = existing ?? {
      id: this.nextId(),
      channel_id: channelId,
      content: '',
      embeds: [],
      components: [],
      attachments: [],
      flags: 0,
      interactionId,
      edits: 0,
    };
    if (existing) message.edits += 1;
    if (body && typeof body === 'object') {
      if ('content' in body) message.content = body.content ?? '';
      if ('embeds' in body) message.embeds = body.embeds ?? [];
      if ('components' in body) message.components = body.components ?? [];
      if ('flags' in body && body.flags !== undefined && !existing) message.flags = body.flags;
      if ('allowed_mentions' in body) message.allowed_mentions = body.allowed_mentions;
      if ('attachments' in body || files.length > 0) {
        message.attachments = files.map((f, i) => ({
          id: this.nextId(),
          filename: f.filename,
          size: f.size,
          content_type: f.contentType,
          url: `http://127.0.0.1:${this.port}/attachments/${i}/${f.filename}`,
          proxy_url: `http://127.0.0.1:${this.port}/attachments/${i}/${f.filename}`,
        }));
      }
    }
    this.messages.set(message.id, message);
    return message;
  }

  /** Messages in the channel, oldest first. */
  channelMessages(channelId = this.channelId): FakeMessage[] {
    return [...this.messages.values()].filter((m) => m.channel_id === channelId);
  }

  // ------------------------------------------------------------ waiting

  /** Resolve with the first recorded request (past or future) that matches. */
  waitForRequest(match: (r: RecordedRequest) => boolean, timeoutMs = 30_000): Promise<RecordedRequest> {
    const found = this.requests.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('request', listener);
        reject(new Error(`FakeDiscord: no matching request within ${timeoutMs} ms`));
      }, timeoutMs);
      const listener = (r: RecordedRequest) => {
        if (!match(r)) return;
        clearTimeout(timer);
        this.off('request', listener);
        resolve(r);
      };
      this.on('request', listener);
    });
  }

  /** The initial response (callback) for an interaction. */
  waitForCallback(interaction: { id: string }, timeoutMs?: number): Promise<RecordedRequest> {
    return this.waitForRequest((r) => r.method === 'POST' && r.path.startsWith(`/interactions/${interaction.id}/`), timeoutMs);
  }

  /** The first edit of the original response, or a follow-up, for an interaction. */
  waitForWebhook(interaction: { token: string }, method: 'PATCH' | 'POST' | 'DELETE' = 'PATCH', timeoutMs?: number, after = 0): Promise<RecordedRequest> {
    let seen = 0;
    return this.waitForRequest((r) => r.method === method && r.path.startsWith(`/webhooks/${this.applicationId}/${interaction.token}`) && seen++ >= after, timeoutMs);
  }

  requestsFor(interaction: { id: string; token: string }): RecordedRequest[] {
    return this.requests.filter((r) => r.path.includes(`/${interaction.id}/${interaction.token}/`) || r.path.includes(`/${interaction.token}`));
  }

  // ------------------------------------------------------------------ HTTP

  private async readBody(req: http.IncomingMessage): Promise<{ body: any; files: RecordedFile[] }> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const type = req.headers['content-type'] ?? '';
    if (raw.length === 0) return { body: undefined, files: [] };
    if (type.startsWith('multipart/form-data')) {
      // Node's fetch Request parses multipart for us; discord.js puts JSON in `payload_json`.
      const form = await new Request('http://fake.local/', { method: 'POST', headers: { 'content-type': type }, body: raw }).formData();
      let body: any;
      const files: RecordedFile[] = [];
      for (const [field, value] of form.entries()) {
        if (typeof value === 'string') {
          if (field === 'payload_json') body = JSON.parse(value);
        } else {
          files.push({ field, filename: value.name, size: value.size, contentType: value.type });
        }
      }
      return { body, files };
    }
    const text = raw.toString('utf8');
    return { body: type.includes('json') ? JSON.parse(text) : text, files: [] };
  }

  private async handleHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake.local');
    const { body, files } = await this.readBody(req);
    const path = decodeURIComponent(url.pathname).replace(/^\/api\/v10/, '');
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      path,
      query: url.searchParams,
      headers: req.headers,
      body,
      files,
      status: 0,
      at: performance.now(),
    };
    const send = (status: number, payload?: unknown, headers: Record<string, string> = {}) => {
      record.status = status;
      this.requests.push(record);
      const json = payload === undefined ? '' : JSON.stringify(payload);
      res.writeHead(status, {
        ...(json ? { 'content-type': 'application/json' } : {}),
        'x-ratelimit-limit': '50',
        'x-ratelimit-remaining': '49',
        'x-ratelimit-reset-after': '1',
        'x-ratelimit-bucket': `bucket-${path.split('/')[1] ?? 'root'}`,
        ...headers,
      });
      res.end(json);
      this.emit('request', record);
    };

    try {
      const limit = this.rateLimits.find((r) => r.remaining > 0 && r.method === record.method && r.path.test(path));
      if (limit) {
        limit.remaining -= 1;
        const seconds = limit.retryAfterMs / 1000;
        send(
          429,
          { message: 'You are being rate limited.', retry_after: seconds, global: limit.global, code: 0 },
          {
            'retry-after': String(Math.ceil(seconds)),
            'x-ratelimit-limit': '5',
            'x-ratelimit-remaining': '0',
            'x-ratelimit-reset-after': String(seconds),
            'x-ratelimit-reset': String(Date.now() / 1000 + seconds),
            'x-ratelimit-scope': limit.global ? 'global' : 'user',
            ...(limit.global ? { 'x-ratelimit-global': 'true' } : {}),
          },
        );
        return;
      }

      const needsBotAuth = !path.startsWith('/interactions/') && !path.startsWith('/webhooks/');
      if (needsBotAuth && req.headers.authorization !== `Bot ${this.token}`) {
        send(401, { message: '401: Unauthorized', code: 0 });
        return;
      }

      let m: RegExpMatchArray | null;
      if (record.method === 'GET' && path === '/gateway/bot') {
        send(200, {
          url: `ws://127.0.0.1:${this.port}/gateway`,
          shards: 1,
          session_start_limit: { total: 1000, remaining: 999, reset_after: 14_400_000, max_concurrency: 1 },
        });
      } else if ((m = path.match(/^\/applications\/(\d+)(?:\/guilds\/(\d+))?\/commands$/))) {
        const key = m[2] ?? 'global';
        if (record.method === 'PUT') {
          const saved = (body as any[]).map((c) => ({ ...c, id: this.nextId(), application_id: m![1], version: this.nextId() }));
          this.commands.set(key, saved);
          send(200, saved);
        } else send(200, this.commands.get(key) ?? []);
      } else if ((m = path.match(/^\/interactions\/(\d+)\/([^/]+)\/callback$/)) && record.method === 'POST') {
        this.handleCallback(m[1], m[2], body, files, send);
      } else if ((m = path.match(/^\/webhooks\/(\d+)\/([^/]+)(?:\/messages\/([^/]+))?$/))) {
        this.handleWebhook(m[2], m[3], record, body, files, send);
      } else if ((m = path.match(/^\/channels\/(\d+)\/messages(?:\/(\d+))?$/))) {
        const [, channelId, messageId] = m;
        if (record.method === 'POST' && !messageId) {
          const message = this.storeMessage(channelId, body, files);
          send(200, this.messagePayload(message));
        } else if (messageId && this.messages.has(messageId)) {
          const message = this.messages.get(messageId)!;
          if (record.method === 'PATCH') {
            if (this.denyChannelEdits) send(403, { message: 'Missing Access', code: 50001 });
            else if (message.flags & 64) send(404, { message: 'Unknown Message', code: 10008 });
            else send(200, this.messagePayload(this.storeMessage(channelId, body, files, undefined, message)));
          } else if (record.method === 'GET') send(200, this.messagePayload(message));
          else if (record.method === 'DELETE') {
            this.messages.delete(messageId);
            send(204);
          } else send(405, { message: '405: Method Not Allowed', code: 0 });
        } else send(404, { message: 'Unknown Message', code: 10008 });
      } else {
        send(404, { message: `FakeDiscord does not implement ${record.method} ${path}`, code: 0 });
      }
    } catch (error) {
      send(500, { message: `FakeDiscord error: ${(error as Error).message}`, code: 0 });
    }
  }

  private isExpired(rec: InteractionRecord): boolean {
    return rec.expired || Date.now() - rec.createdAt > this.tokenLifetimeMs;
  }

  private handleCallback(
    id: string,
    token: string,
    body: any,
    files: RecordedFile[],
    send: (status: number, payload?: unknown) => void,
  ): void {
    const rec = this.interactions.get(id);
    if (!rec || rec.token !== token) return send(404, { message: 'Unknown interaction', code: 10062 });
    if (rec.callback) return send(400, { message: 'Interaction has already been acknowledged.', code: 40060 });
    // An initial response after 3 s is refused by Discord; an expired token is, too.
    if (this.isExpired(rec)) return send(404, { message: 'Unknown interaction', code: 10062 });
    rec.callback = { type: body.type, data: body.data, at: performance.now() };
    if (body.type === 4 || body.type === 5) {
      const message = this.storeMessage(rec.channelId, body.type === 4 ? body.data : { flags: body.data?.flags ?? 0 }, files, id);
      message.flags = body.data?.flags ?? 0;
      rec.originalMessageId = message.id;
    } else if ((body.type === 6 || body.type === 7) && rec.sourceMessageId) {
      rec.originalMessageId = rec.sourceMessageId;
      const source = this.messages.get(rec.sourceMessageId);
      if (body.type === 7 && source) this.storeMessage(source.channel_id, body.data, files, undefined, source);
    }
    send(204);
  }

  private handleWebhook(
    token: string,
    messageRef: string | undefined,
    record: RecordedRequest,
    body: any,
    files: RecordedFile[],
    send: (status: number, payload?: unknown) => void,
  ): void {
    const rec = [...this.interactions.values()].find((r) => r.token === token);
    if (!rec || this.isExpired(rec)) return send(404, { message: 'Unknown Webhook', code: 10015 });
    if (!messageRef) {
      if (record.method !== 'POST') return send(405, { message: '405: Method Not Allowed', code: 0 });
      const message = this.storeMessage(rec.channelId, body, files, rec.id);
      return send(200, this.messagePayload(message));
    }
    let messageId = messageRef;
    if (messageRef === '@original') {
      // For a component interaction answered with a deferred update, @original is the message it came from.
      if (!rec.originalMessageId) return send(404, { message: 'Unknown Message', code: 10008 });
      messageId = rec.originalMessageId;
    }
    const message = this.messages.get(messageId);
    if (!message) return send(404, { message: 'Unknown Message', code: 10008 });
    if (record.method === 'PATCH') return send(200, this.messagePayload(this.storeMessage(message.channel_id, body, files, undefined, message)));
    if (record.method === 'GET') return send(200, this.messagePayload(message));
    if (record.method === 'DELETE') {
      this.messages.delete(messageId);
      return send(204);
    }
    send(405, { message: '405: Method Not Allowed', code: 0 });
  }
}
