/**
 * `/confab dataset`: the export goes to the requester in a direct message, through
 * files.uploadV2 (files.getUploadURLExternal, the upload, files.completeUploadExternal). A
 * direct message, not the channel: the export holds every prompt of the workspace.
 */
import type { WebClient } from '@slack/web-api';
import type { FileView } from '../../core/view';
import { formatCount } from '../../render/text';
import { fileMessage } from './blocks';
import type { SlackMessage } from './mrkdwn';
import { describeSlackError } from './people';

/** The Web API client reads the whole file into memory to upload it; larger files stay on disk. */
export const MAX_UPLOAD_BYTES = 100 * 1024 * 1024;

export async function deliverFile(client: WebClient, file: FileView, userId: string, maxBytes = MAX_UPLOAD_BYTES): Promise<SlackMessage> {
  if (file.bytes === 0) return fileMessage(file, { ok: false, reason: 'The export is empty, so there was nothing to upload.' });
  if (file.bytes > maxBytes) {
    return fileMessage(file, { ok: false, reason: `The file is ${formatCount(file.bytes)} bytes; Confab uploads files up to ${formatCount(maxBytes)} bytes to Slack.` });
  }
  try {
    const dm = await client.conversations.open({ users: userId });
    await client.files.uploadV2({
      channel_id: dm.channel!.id!,
      file: file.path,
      filename: file.filename,
      title: file.filename,
      initial_comment: 'Your Confab dataset export.',
    });
    return fileMessage(file, { ok: true });
  } catch (error) {
    return fileMessage(file, { ok: false, reason: `Slack refused the upload (${describeSlackError(error)}).` });
  }
}
