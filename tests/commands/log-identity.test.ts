/**
 * What the logs say about who ran a command: the reviewer's pseudonym (the HMAC identity the
 * dataset uses), never the platform user id or display name.
 */
import { describe, expect, it } from 'vitest';
import { createServices } from '../../src/core/app';
import { pseudonymFor } from '../../src/core/identity';
import { createTestDatabase, testConfig } from '../db/support';
import { actor, run } from '../core/helpers';
import { recordingLogger } from '../worker/http/reference-worker';

describe('command logs', () => {
  it('name the reviewer by pseudonym when a command fails', async () => {
    const database = await createTestDatabase('pglite');
    const records: Array<Record<string, unknown>> = [];
    const services = await createServices(testConfig(database.target, { CONFAB_INSTALL_SECRET: 'log-identity-secret-0123456789' }), {
      logger: recordingLogger(records),
    });
    try {
      const who = actor('pgo_15', { displayName: 'Pat Go' });
      // A database gone from under the command makes it fail on Confab's side, which is logged.
      await services.database.close();
      const answer = await run(services, who, 'vote', { explanation: 1, label: 'faithful' });
      expect(answer.view).toMatchObject({ kind: 'error' });
      const failures = records.filter((r) => typeof r.msg === 'string' && r.msg.startsWith('/vote'));
      expect(failures.length).toBeGreaterThan(0);
      for (const record of failures) {
        expect(record.reviewer).toBe(pseudonymFor('log-identity-secret-0123456789', who.platform, 'pgo_15'));
        expect(JSON.stringify(record)).not.toMatch(/pgo_15|Pat Go/);
      }
    } finally {
      await services.close().catch(() => {});
      await database.drop();
    }
  });
});
