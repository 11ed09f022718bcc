/**
 * Who is acting, and where, as a channel reports it. Platform ids are opaque strings, and the
 * platform is an open name, so a new channel needs no change here.
 */
export interface Actor {
  /** The channel's name: 'terminal', 'discord', 'slack', ... */
  platform: string;
  /** Guild id, Slack team id, or 'local'. */
  workspaceId: string;
  channelId: string;
  userId: string;
  displayName: string;
  /** Set by the platform from its own permission model (Manage Server, Slack admin, --admin). */
  isAdmin: boolean;
  /** Platform role ids, for the reviewer-role check. */
  roles?: string[];
}
