/**
 * Admin settings per workspace. A key not set in the database takes its value from the
 * configuration (CONFAB_VOTES_TO_CLOSE, CONFAB_MAX_PROMPT_CHARS).
 */
import { and, eq, sql } from 'drizzle-orm';
import type { Queryable } from '../../db';
import { settings } from '../../db/schema';
import type { Config } from '../config';
import { DomainError, formatCount } from './errors';

export interface SettingDefinition {
  key: string;
  description: string;
  min: number;
  max: number;
  fromConfig(config: Config): number;
}

export const SETTING_DEFINITIONS = {
  votes_to_close: {
    key: 'votes_to_close',
    description: 'Decisive votes (faithful or confabulated) that close an item',
    min: 1,
    max: 50,
    fromConfig: (c: Config) => c.limits.votesToClose,
  },
  max_prompt_chars: {
    key: 'max_prompt_chars',
    description: 'Longest prompt /explain accepts, in characters',
    min: 1,
    max: 100_000,
    fromConfig: (c: Config) => c.limits.maxPromptChars,
  },
} satisfies Record<string, SettingDefinition>;

export type SettingKey = keyof typeof SETTING_DEFINITIONS;
export type WorkspaceSettings = Record<SettingKey, number>;

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
    const value = {} as WorkspaceSettings;
    for (const def of Object.values(SETTING_DEFINITIONS)) {
      const stored = rows.find((r) => r.key === def.key)?.value;
      value[def.key as SettingKey] = typeof stored === 'number' ? stored : def.fromConfig(this.config);
    }
    this.cache.set(workspaceId, { at: Date.now(), value });
    return value;
  }

  /** Validates and stores changes; returns the keys whose value changed. */
  async update(db: Queryable, workspaceId: number, reviewerId: number, changes: Partial<Record<SettingKey, number>>): Promise<SettingKey[]> {
    const current = await this.get(db, workspaceId);
    const changed: SettingKey[] = [];
    for (const [key, value] of Object.entries(changes) as Array<[SettingKey, number | undefined]>) {
      if (value === undefined) continue;
      const def = SETTING_DEFINITIONS[key];
      if (!Number.isInteger(value) || value < def.min || value > def.max) {
        throw new DomainError('invalid_setting', `${key} must be a whole number from ${formatCount(def.min)} to ${formatCount(def.max)}; got ${value}.`);
      }
      if (current[key] === value) continue;
      await db
        .insert(settings)
        .values({ workspaceId, key, value, updatedBy: reviewerId })
        .onConflictDoUpdate({ target: [settings.workspaceId, settings.key], set: { value, updatedBy: reviewerId, updatedAt: sql`now()` } });
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
