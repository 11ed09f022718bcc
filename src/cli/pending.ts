/**
 * How many analyses of one platform are still queued or running. A piped terminal session
 * waits for zero before it exits, so the results of analyses resumed from an earlier run
 * (which no command of this session is waiting for) still print.
 *
 * This belongs in the core (a `whenIdle` on the dispatcher would not need to poll); it lives
 * here until the core offers one.
 */
import { and, count, eq, inArray } from 'drizzle-orm';
import { analyses, workspaces } from '../../db/schema';
import { coreOf } from '../core/app';
import type { Services } from '../core/services';

export async function countPendingAnalyses(services: Services, platform: string): Promise<number> {
  const { database } = coreOf(services);
  const [row] = await database.db
    .select({ n: count() })
    .from(analyses)
    .innerJoin(workspaces, eq(workspaces.id, analyses.workspaceId))
    .where(and(eq(workspaces.platform, platform), inArray(analyses.status, ['queued', 'running'])));
  return Number(row?.n ?? 0);
}
