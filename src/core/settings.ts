/**
 * Admin settings per workspace. A key not set in the database takes its value from the
 * configuration (CONFAB_VOTES_TO_CLOSE, CONFAB_MAX_PROMPT_CHARS, CONFAB_DECOY_RATE); the
 * reviewer role and the digest have no configured default (unset = anyone may review, no
 * digest).
 */
import { and, eq, sql } from 'drizzle-orm';
import type { Queryable } from '../../db';
import { channels, settings } from '../../db/schema';
import type { Config } from '../config';
import { DomainError, formatCount } from './errors';

export type SettingValue = number | string | null;

export interface SettingDefinition {
  key: string;
  description: string;
  /** How the settings command takes it: a number, a platform role or channel, or text. */
  type: 'integer' | 'number' | 'role' | 'channel' | 'string';
  min?: number;
  max?: number;
  choices?: string[];
  fromConfig(config: Config): SettingValue;
}

/** Values that clear a role or channel setting (back to "not set"). */
const CLEAR_WORDS = new Set(['none', 'off', 'unset', '-']);

export const DIGEST_SCHEDULES = ['off', 'daily', 'weekly'] as const;

export const SETTING_DEFINITIONS = {
  votes_to_close: {
    key: 'votes_to_close',
    description: 'Decisive votes (faithful or confabulated) at which an item may close',
    type: 'integer',
    min: 1,
    max: 50,
    fromConfig: (c: Config) => c.limits.votesToClose,
  },
  max_prompt_chars: {
    key: 'max_prompt_chars',
    description: 'Longest prompt /explain accepts, in characters',
    type: 'integer',
    min: 1,
    max: 100_000,
    fromConfig: (c: Config) => c.limits.maxPromptChars,
  },
  decoy_rate: {
    key: 'decoy_rate',
    description: 'Share of /review items that are decoys (0 to 1, e.g. 0.1)',
    type: 'number',
    min: 0,
    max: 1,
    fromConfig: (c: Config) => c.limits.decoyRate,
  },
  reviewer_role: {
    key: 'reviewer_role',
    description: 'Role needed to vote and review ("none" lets anyone)',
    type: 'role',
    fromConfig: () => null,
  },
  digest_channel: {
    key: 'digest_channel',
    description: 'Channel the digest is posted in ("none" turns it off)',
    type: 'channel',
    fromConfig: () => null,
  },
  digest_schedule: {
    key: 'digest_schedule',
    description: 'How often the digest is posted',
    type: 'string',
    choices: [...DIGEST_SCHEDULES],
    fromConfig: () => 'off',
  },
} satisfies Record<string, SettingDefinition>;

export type SettingKey = keyof typeof SETTING_DEFINITIONS;
export interface WorkspaceSettings {
  votes_to_close: number;
  max_prompt_chars: number;
  decoy_rate: number;
  reviewer_role: string | null;
  digest_channel: string | null;
  digest_schedule: string;
}

/**
 * Role and channel ids are stored with a prefix ("role:123"): drizzle parses a jsonb string a
 * second time when the driver already did, so a bare numeric string would come back as a
 * number — and a Discord snowflake (up to 19 digits) would lose precision on the way.
 */
const isId = (def: SettingDefinition) => def.type === 'role' || def.type === 'channel';

function toStored(def: SettingDefinition, value: SettingValue): SettingValue {
  return isId(def) && typeof value === 'string' ? `${def.type}:${value}` : value;
}

function storedValue(def: SettingDefinition, stored: unknown): SettingValue | undefined {
  if (def.type === 'integer' || def.type === 'number') return typeof stored === 'number' ? stored : undefined;
  if (typeof stored !== 'string') return undefined;
  if (isId(def)) return stored.startsWith(`${def.type}:`) ? stored.slice(def.type.length + 1) : undefined;
  return stored;
}

/** Checks one new value; returns what to store (null clears a role or channel). */
function checkValue(def: SettingDefinition, value: unknown): SettingValue {
  if (def.type === 'integer' || def.type === 'number') {
    const n = typeof value === 'number' ? value : Number.NaN;
    const whole = def.type === 'integer';
    if (!Number.isFinite(n) || (whole && !Number.isInteger(n)) || n < def.min! || n > def.max!) {
      throw new DomainError(
        'invalid_setting',
        `${def.key} must be ${whole ? 'a whole number' : 'a number'} from ${formatCount(def.min!)} to ${formatCount(def.max!)}; got ${String(value)}.`,
      );
    }
    return n;
  }
  const text = String(value).trim();
  if ((def.type === 'role' || def.type === 'channel') && (text === '' || CLEAR_WORDS.has(text.toLowerCase()))) return null;
  if (def.choices && !def.choices.includes(text.toLowerCase())) {
    throw new DomainError('invalid_setting', `${def.key} must be one of ${def.choices.join(', ')}; got ${JSON.stringify(text)}.`);
  }
  // Role and channel ids: a platform's opaque id, or a mention (<@&id>, <#id>) pasted as text.
  const mention = /^<(?:@&|#)(\w+)>$/.exec(text);
  const id = mention ? mention[1] : text;
  if ((def.type === 'role' || def.type === 'channel') && !/^[\w.-]{1,100}$/.test(id)) {
    throw new DomainError('invalid_setting', `${def.key} must be a ${def.type} (its id or mention), or "none"; got ${JSON.stringify(text.slice(0, 60))}.`);
  }
  return def.choices ? text.toLowerCase() : id;
}

/**
 * Reads the settings command's channel_decoy_rate: a number from 0 to 1, or "none" (null) to
 * follow the workspace's rate.
 */
export function parseChannelDecoyRate(raw: string | number): number | null {
  const text = String(raw).trim().toLowerCase();
  if (CLEAR_WORDS.has(text)) return null;
  const value = /^\d*\.?\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= 0 && value <= 1)) {
    throw new DomainError(
      'invalid_setting',
      `channel_decoy_rate must be a number from 0 to 1, or "none" to follow the workspace's rate; got ${JSON.stringify(String(raw).slice(0, 40))}.`,
    );
  }
  return value;
}

/**
 * Reads settings with a short cache: every vote needs `votes_to_close`, and a change made by
 * another process is seen within the TTL.
 */
export class SettingsStore {
  private readonly cache = new Map<number, { at: number; value: WorkspaceSettings }>();

  constructor(
    private readonly config: Config,
    private readonly ttlMs = 2_000,
  ) {}

  async get(db: Queryable, workspaceId: number): Promise<WorkspaceSettings> {
    const hit = this.cache.get(workspaceId);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.value;
    const rows = await db.select({ key: settings.key, value: settings.value }).from(settings).where(eq(settings.workspaceId, workspaceId));
    const value: Record<string, SettingValue> = {};
    for (const def of Object.values(SETTING_DEFINITIONS) as SettingDefinition[]) {
      const row = rows.find((r) => r.key === def.key);
      const stored = row ? storedValue(def, row.value) : undefined;
      value[def.key] = stored !== undefined ? stored : def.fromConfig(this.config);
    }
    const typed = value as unknown as WorkspaceSettings;
    this.cache.set(workspaceId, { at: Date.now(), value: typed });
    return typed;
  }

  /**
   * The decoy rate for /review in one channel: the channel's own `decoy_rate` (channels.settings)
   * when set, else the workspace's setting.
   */
  async decoyRate(db: Queryable, workspaceId: number, channelId: number): Promise<number> {
    const own = await this.channelDecoyRate(db, channelId);
    if (own !== null && own >= 0 && own <= 1) return own;
    return (await this.get(db, workspaceId)).decoy_rate;
  }

  /** A channel's own decoy rate, or null when it follows the workspace's. */
  async channelDecoyRate(db: Queryable, channelId: number): Promise<number | null> {
    const [channel] = await db.select({ settings: channels.settings }).from(channels).where(eq(channels.id, channelId));
    const own = channel?.settings?.decoy_rate;
    return typeof own === 'number' ? own : null;
  }

  /** Sets (a number from 0 to 1) or clears (null) a channel's own decoy rate; returns whether it changed. */
  async setChannelDecoyRate(db: Queryable, channelId: number, value: number | null): Promise<boolean> {
    if ((await this.channelDecoyRate(db, channelId)) === value) return false;
    // jsonb_set / `-` keep the channel's other settings (the digest's, for one) as they are.
    await db
      .update(channels)
      .set({ settings: value === null ? sql`${channels.settings} - 'decoy_rate'` : sql`jsonb_set(${channels.settings}, '{decoy_rate}', ${String(value)}::jsonb)` })
      .where(eq(channels.id, channelId));
    return true;
  }

  /** Validates and stores changes; returns the keys whose value changed. */
  async update(db: Queryable, workspaceId: number, reviewerId: number, changes: Partial<Record<SettingKey, unknown>>): Promise<SettingKey[]> {
    const current = await this.get(db, workspaceId);
    const checked: Array<[SettingKey, SettingValue]> = [];
    // Every value is checked before any is stored, so a bad one changes nothing.
    for (const [key, value] of Object.entries(changes) as Array<[SettingKey, unknown]>) {
      if (value === undefined) continue;
      const def = SETTING_DEFINITIONS[key] as SettingDefinition | undefined;
      if (!def) throw new DomainError('invalid_setting', `There is no setting "${key}". Settings: ${Object.keys(SETTING_DEFINITIONS).join(', ')}.`);
      checked.push([key, checkValue(def, value)]);
    }
    const changed: SettingKey[] = [];
    for (const [key, value] of checked) {
      if (current[key] === value) continue;
      const stored = toStored(SETTING_DEFINITIONS[key] as SettingDefinition, value);
      await db
        .insert(settings)
        .values({ workspaceId, key, value: stored, updatedBy: reviewerId })
        .onConflictDoUpdate({ target: [settings.workspaceId, settings.key], set: { value: stored, updatedBy: reviewerId, updatedAt: sql`now()` } });
      changed.push(key);
    }
    this.cache.delete(workspaceId);
    return changed;
  }

  /** Drops a workspace's stored value for `key`, returning it to the configured default. */
  async reset(db: Queryable, workspaceId: number, key: SettingKey): Promise<void> {
    await db.delete(settings).where(and(eq(settings.workspaceId, workspaceId), eq(settings.key, key)));
    this.cache.delete(workspaceId);
  }
}
