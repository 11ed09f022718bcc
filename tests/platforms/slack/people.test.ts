/** Who is acting on Slack: admin rights from users.info, roles from user groups, through the fake's Web API. */
import { WebClient } from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlackPeople } from '../../../src/platforms/slack/people';
import { FakeSlack } from '../../fakes/slack/server';
import { USERS } from './harness';

let fake: FakeSlack;
beforeAll(async () => {
  fake = await FakeSlack.start([...Object.values(USERS), { id: 'U0OWN', name: 'owner', owner: true }]);
  fake.groups = [{ id: 'S0REVIEWERS', users: [USERS.bo.id, USERS.cy.id] }];
});
afterAll(async () => {
  await fake.close();
});

const where = (userId: string) => ({ teamId: 'T0CONFAB', channelId: 'C0REVIEW', userId, userName: 'typed-name' });

describe('Slack people', () => {
  it('admins and owners from users.info, roles from user groups, lookups shared and cached', async () => {
    const warnings: string[] = [];
    const people = new SlackPeople(new WebClient(fake.botToken, { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 } }), { debug() {}, info() {}, warn: (m) => warnings.push(m), error() {} });
    const [ana, bo, bo2, owner] = await Promise.all([people.actorOf(where(USERS.ana.id)), people.actorOf(where(USERS.bo.id)), people.actorOf(where(USERS.bo.id)), people.actorOf(where('U0OWN'))]);
    expect(ana).toEqual({ platform: 'slack', workspaceId: 'T0CONFAB', channelId: 'C0REVIEW', userId: USERS.ana.id, displayName: 'ana', isAdmin: true, roles: [] });
    expect(bo).toMatchObject({ isAdmin: false, roles: ['S0REVIEWERS'], displayName: 'bo' });
    expect(bo2).toEqual(bo);
    expect(owner.isAdmin).toBe(true);
    await people.actorOf(where(USERS.bo.id));
    expect(fake.calls.filter((c) => c.method === 'users.info' && c.args.user === USERS.bo.id)).toHaveLength(1);
    expect(fake.calls.filter((c) => c.method === 'usergroups.list')).toHaveLength(1);

    // An unknown user is nobody's admin, and says so in the log.
    expect(await people.actorOf(where('U0GHOST'))).toMatchObject({ isAdmin: false, displayName: 'typed-name' });
    expect(warnings.join('\n')).toContain('users.info for U0GHOST failed (user_not_found)');
  });
});
