/**
 * Where a channel shows an analysis publicly (`analyses.message_ref`), kept in the database so
 * that an item closed by any route (a slash vote, a Note, an admin's close), in any process and
 * after a restart, can still update that message.
 */
import { eq } from 'drizzle-orm';
import { analyses, channels, explanations, workspaces } from '../../db/schema';
import type { Services } from './services';
import type { AnalysisView } from './view';
import { loadAnalysisView } from './views';

export interface PublicMessage {
  platform: string;
  /** The platform's channel id the analysis was requested in. */
  channelId: string;
  /** The platform's id of the message (Slack: its ts). */
  messageRef: string;
  /** The analysis as someone who has not voted sees it: what the public message shows. */
  view: AnalysisView;
}

/** Records the public message of an analysis; only the reference changes, not the analysis. */
export async function recordPublicMessage(services: Services, analysisId: number, messageRef: string): Promise<void> {
  await services.database.db.update(analyses).set({ messageRef }).where(eq(analyses.id, analysisId));
}

/** The public message showing an explanation, freshly rendered; null when none was recorded. */
export async function publicMessageOf(services: Services, explanationId: number): Promise<PublicMessage | null> {
  const db = services.database.db;
  const [row] = await db
    .select({ analysisId: analyses.id, messageRef: analyses.messageRef, channelId: channels.externalId, platform: workspaces.platform })
    .from(explanations)
    .innerJoin(analyses, eq(analyses.id, explanations.analysisId))
    .innerJoin(channels, eq(channels.id, analyses.channelId))
    .innerJoin(workspaces, eq(workspaces.id, analyses.workspaceId))
    .where(eq(explanations.id, explanationId));
  if (!row?.messageRef) return null;
  return { platform: row.platform, channelId: row.channelId, messageRef: row.messageRef, view: await loadAnalysisView(db, row.analysisId, null) };
}
