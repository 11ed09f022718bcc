/**
 * Who and where, in database ids: the workspace, channel and reviewer rows behind a platform
 * Actor, created on first sight. Reviewers get a stable pseudonymous id, an HMAC of their
 * platform id under the per-install secret, which is the only reviewer id exports carry.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { sql, type SQL } from 'drizzle-orm';
import { queryRows, type Queryable } from '../../db';
import { install } from '../../db/schema';
import type { Actor } from './actor';

export interface ActorIds {
  workspaceId: number;
  channelId: number;
  reviewerId: number;
}

/** Reads the install secret, creating it on first start; CONFAB_INSTALL_SECRET wins when set. */
export async function loadInstallSecret(db: Queryable, configured: string | undefined): Promise<string> {
  if (configured) return configured;
  await db
    .insert(install)
    .values({ id: 1, secret: randomBytes(32).toString('hex') })
    .onConflictDoNothing();
  const [row] = await db.select({ secret: install.secret }).from(install);
  return row.secret;
}

export function pseudonymFor(secret: string, platform: string, userId: string): string {
  return createHmac('sha256', secret).update(`${platform}:${userId}`).digest('hex').slice(0, 24);
}

/**
 * Resolves Actors to ids, remembering them: every command needs these ids, and the rows
 * change only when a name does.
 */
export class Identity {
  private readonly known = new Map<string, ActorIds & { displayName: string }>();

  constructor(
    private readonly db: Queryable,
    private readonly secret: string,
  ) {}

  /** The reviewer's pseudonymous id: what logs name, never the platform's user id or name. */
  pseudonym(actor: Pick<Actor, 'platform' | 'userId'>): string {
    return pseudonymFor(this.secret, actor.platform, actor.userId);
  }

  async resolve(actor: Actor): Promise<ActorIds> {
    const key = JSON.stringify([actor.platform, actor.workspaceId, actor.channelId, actor.userId]);
    const cached = this.known.get(key);
    if (cached && cached.displayName === actor.displayName) return cached;

    const workspaceId = await this.workspaceId(actor.platform, actor.workspaceId);
    const channelId = await this.upsertId(
      sql`insert into channels (workspace_id, external_id) values (${workspaceId}, ${actor.channelId})
          on conflict (workspace_id, external_id) do update set external_id = excluded.external_id returning id`,
    );
    // confab_upsert_reviewer (migrations/): safe when a new reviewer's first clicks arrive at once.
    const reviewerId = await this.upsertId(
      sql`select confab_upsert_reviewer(${actor.platform}, ${actor.userId}, ${actor.displayName}, ${pseudonymFor(this.secret, actor.platform, actor.userId)}) as id`,
    );
    const ids = { workspaceId, channelId, reviewerId };
    this.known.set(key, { ...ids, displayName: actor.displayName });
    return ids;
  }

  /** The workspace row for a platform workspace, created if new. */
  async workspaceId(platform: Actor['platform'], externalId: string): Promise<number> {
    return this.upsertId(
      sql`insert into workspaces (platform, external_id) values (${platform}, ${externalId})
          on conflict (platform, external_id) do update set external_id = excluded.external_id returning id`,
    );
  }

  private async upsertId(query: SQL): Promise<number> {
    const [row] = await queryRows<{ id: number }>(this.db, query);
    return Number(row.id);
  }
}
