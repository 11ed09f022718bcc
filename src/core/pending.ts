/**
 * Service-level reads and writes about analyses that channels need without touching the
 * database: how many are still pending (a piped terminal session waits for zero before it
 * exits), and where the platform shows one (recorded once the pending reply was posted).
 */
import { and, count, eq, inArray } from 'drizzle-orm';
import { analyses, workspaces } from '../../db/schema';
import { setAnalysisMessageRef } from './analyses';
import { coreOf } from './context';
import type { Services } from './services';

/** Analyses of one platform still queued or running, in any process sharing the database. */
export async function countPendingAnalyses(services: Services, platform: string): Promise<number> {
  const { database } = coreOf(services);
  const [row] = await database.db
    .select({ n: count() })
    .from(analyses)
    .innerJoin(workspaces, eq(workspaces.id, analyses.workspaceId))
    .where(and(eq(workspaces.platform, platform), inArray(analyses.status, ['queued', 'running'])));
  return Number(row?.n ?? 0);
}

/**
 * Records the platform message that shows analysis `analysisId` (a Slack `ts`, a Discord message
 * id), so that AnalysisFinishedEvent.messageRef names it, also after a restart.
 */
export async function rememberAnalysisMessage(services: Services, analysisId: number, messageRef: string, replyExpiresAt?: Date | null): Promise<void> {
  await setAnalysisMessageRef(coreOf(services).database.db, analysisId, messageRef, replyExpiresAt);
}
