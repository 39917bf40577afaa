// The flags of verify-rollout that are checked before any cluster is asked (the cluster runs: scripts/argocd.e2e.test.ts).
import { describe, expect, it } from '@jest/globals';
import { main } from './verify-rollout.ts';

describe('verify-rollout flags', () => {
  it('--soak needs PROMETHEUS_URL, and a duration; both refused before the cluster is asked', async () => {
    const env = { KUBECONFIG: '/nonexistent/kubeconfig' };
    await expect(
      main(['--env', 'dev', '--version', 'v0123456789ab', '--soak', '10m'], env),
    ).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining('--soak needs PROMETHEUS_URL'),
    });
    await expect(
      main(['--env', 'dev', '--version', 'v0123456789ab', '--soak', 'ten minutes'], env),
    ).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining('--soak "ten minutes" is not a duration'),
    });
    await expect(
      main(['--env', 'dev', '--version', 'v0123456789ab', '--soak', '1m', '--soak-rules', 'no/such.yaml'], {
        ...env,
        PROMETHEUS_URL: 'http://127.0.0.1:9',
      }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('cannot read rule file') });
  });
});
