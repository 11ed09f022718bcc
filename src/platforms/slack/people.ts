/**
 * Who is acting: Slack users become the core's `Actor`. Admin rights come from `users.info`
 * (a workspace admin or owner); roles are the user groups the user belongs to, so a user group
 * id set as the reviewer role (`settings reviewer_role=S…`) grants it. Both are cached briefly:
 * every click would otherwise cost two Web API calls.
 */
import type { WebClient } from '@slack/web-api';
import type { Actor } from '../../core/actor';

export interface SlackLog {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

const USER_TTL_MS = 5 * 60_000;
const GROUPS_TTL_MS = 60_000;

interface UserFacts {
  isAdmin: boolean;
  displayName: string;
  at: number;
}

export class SlackPeople {
  private readonly users = new Map<string, UserFacts>();
  /** Lookups in flight, shared: a burst of clicks from one user costs one users.info call. */
  private readonly pendingUsers = new Map<string, Promise<UserFacts>>();
  private pendingGroups: Promise<void> | null = null;
  private groups: { byUser: Map<string, string[]>; at: number } | null = null;
  private groupsUnavailable = false;

  constructor(
    private readonly client: WebClient,
    private readonly log: SlackLog,
  ) {}

  async actorOf(where: { teamId: string; channelId: string; userId: string; userName?: string }): Promise<Actor> {
    const [user, roles] = await Promise.all([this.user(where.userId, where.userName), this.rolesOf(where.userId)]);
    return {
      platform: 'slack',
      workspaceId: where.teamId,
      channelId: where.channelId,
      userId: where.userId,
      displayName: user.displayName,
      isAdmin: user.isAdmin,
      roles,
    };
  }

  private async user(userId: string, fallbackName?: string): Promise<UserFacts> {
    const cached = this.users.get(userId);
    if (cached && Date.now() - cached.at < USER_TTL_MS) return cached;
    let pending = this.pendingUsers.get(userId);
    if (!pending) {
      pending = this.lookUpUser(userId, fallbackName).finally(() => this.pendingUsers.delete(userId));
      this.pendingUsers.set(userId, pending);
    }
    return pending;
  }

  private async lookUpUser(userId: string, fallbackName?: string): Promise<UserFacts> {
    try {
      const { user } = await this.client.users.info({ user: userId });
      const facts: UserFacts = {
        isAdmin: Boolean(user?.is_admin || user?.is_owner || user?.is_primary_owner),
        displayName: user?.profile?.display_name || user?.real_name || user?.name || fallbackName || userId,
        at: Date.now(),
      };
      this.users.set(userId, facts);
      if (this.users.size > 5000) this.users.delete(this.users.keys().next().value!);
      return facts;
    } catch (error) {
      // Without users.info nobody is an admin: admin-only commands are refused, not opened up.
      this.log.warn(`slack: users.info for ${userId} failed (${describeSlackError(error)}); treating them as a non-admin.`);
      return { isAdmin: false, displayName: fallbackName || userId, at: 0 };
    }
  }

  private async rolesOf(userId: string): Promise<string[]> {
    if (this.groupsUnavailable) return [];
    if (!this.groups || Date.now() - this.groups.at > GROUPS_TTL_MS) {
      this.pendingGroups ??= this.loadGroups().finally(() => (this.pendingGroups = null));
      await this.pendingGroups;
    }
    return this.groups?.byUser.get(userId) ?? [];
  }

  private async loadGroups(): Promise<void> {
    try {
      const { usergroups } = await this.client.usergroups.list({ include_users: true });
      const byUser = new Map<string, string[]>();
      for (const group of usergroups ?? []) {
        for (const member of group.users ?? []) byUser.set(member, [...(byUser.get(member) ?? []), group.id!]);
      }
      this.groups = { byUser, at: Date.now() };
    } catch (error) {
      // User groups need a paid plan and the usergroups:read scope; without them no one holds a role.
      this.groupsUnavailable = true;
      this.log.warn(`slack: usergroups.list failed (${describeSlackError(error)}); the reviewer role cannot be checked, only admins pass it.`);
    }
  }
}

export function describeSlackError(error: unknown): string {
  const data = (error as { data?: { error?: string } }).data;
  if (data?.error) return data.error;
  return error instanceof Error ? error.message : String(error);
}
