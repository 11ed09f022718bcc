/**
 * Which analyses of one platform are still queued or running, or finished but not yet shown. A
 * piped terminal session waits for none before it exits, so the results of analyses resumed from
 * an earlier run (which no command of this session is waiting for) still print.
 */
import { and, eq, inArray, isNull, or } from 'drizzle-orm';
import { analyses, workspaces } from '../../db/schema';
import type { Services } from '../core/services';

export async function pendingAnalysisIds(services: Services, platform: string): Promise<number[]> {
  const { database } = services;
  const rows = await database.db
    .select({ id: analyses.id })
    .from(analyses)
    .innerJoin(workspaces, eq(workspaces.id, analyses.workspaceId))
    .where(and(eq(workspaces.platform, platform), or(inArray(analyses.status, ['queued', 'running']), isNull(analyses.postedAt))));
  return rows.map((row) => row.id);
}
