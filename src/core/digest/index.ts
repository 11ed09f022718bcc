/**
 * The digest on demand (`confab digest`, `/digest`): which workspace, which week, and since when
 * the dataset counts as new. The scheduled digest goes through schedule.ts instead.
 */
import { and, eq, isNotNull, max } from 'drizzle-orm';
import type { Queryable } from '../../../db';
import { digestPosts, workspaces } from '../../../db/schema';
import { DomainError } from '../errors';
import { loadDigest, type Digest } from './content';
import { parseIsoWeek, weekContaining } from './period';

export { loadDigest, type Digest } from './content';
export { digestJson, digestLines, digestTitle } from './text';

export interface DigestRequest {
  workspaceId: number;
  timeZone: string;
  /** An ISO week ("2026-W48"); without it, `fallback` decides. */
  week?: string;
  /** 'last': the ISO week that just ended (the CLI); 'current': this week so far (the /digest preview). */
  fallback: 'last' | 'current';
  now?: Date;
}

export async function digestOnDemand(db: Queryable, request: DigestRequest): Promise<Digest> {
  const now = request.now ?? new Date();
  const period = request.week ? parseIsoWeek(request.week, request.timeZone) : weekContaining(now, request.timeZone, request.fallback === 'last' ? -1 : 0);
  const [last] = await db
    .select({ at: max(digestPosts.postedAt) })
    .from(digestPosts)
    .where(and(eq(digestPosts.workspaceId, request.workspaceId), isNotNull(digestPosts.postedAt)));
  return loadDigest(db, request.workspaceId, period, last?.at ? { since: new Date(last.at) } : {});
}

/**
 * The workspace `confab digest --workspace` names: its number, or "platform:id" (discord:6134…),
 * or the platform's id alone when only one platform uses it. Without one, the only workspace.
 */
export async function findWorkspace(db: Queryable, name: string | undefined): Promise<{ id: number; platform: string; externalId: string }> {
  const all = await db.select({ id: workspaces.id, platform: workspaces.platform, externalId: workspaces.externalId }).from(workspaces).orderBy(workspaces.id);
  const listing = () => all.map((w) => `${w.id} (${w.platform}:${w.externalId})`).join(', ');
  if (name === undefined) {
    if (all.length === 1) return all[0];
    if (all.length === 0) throw new DomainError('no_workspace', 'There is no workspace yet: nothing was ever reviewed in this database.');
    throw new DomainError('workspace_needed', `This database has ${all.length} workspaces; name one with --workspace: ${listing()}.`);
  }
  const text = name.trim();
  const matches = all.filter((w) => String(w.id) === text || `${w.platform}:${w.externalId}` === text || w.externalId === text);
  const exact = matches.find((w) => String(w.id) === text) ?? (matches.length === 1 ? matches[0] : undefined);
  if (exact) return exact;
  if (matches.length > 1) throw new DomainError('workspace_ambiguous', `"${text.slice(0, 80)}" names ${matches.length} workspaces; use its number or platform:id: ${listing()}.`);
  throw new DomainError('unknown_workspace', `There is no workspace "${text.slice(0, 80)}". Workspaces: ${all.length ? listing() : 'none yet'}.`);
}
