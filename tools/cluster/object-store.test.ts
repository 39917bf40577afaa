import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { tempDir } from '../../testing/lock/fixtures.ts';
import { newS3Credentials, seaweedfsArgs, seaweedfsEnv, writeS3Identities } from './object-store.ts';

describe('how SeaweedFS runs here', () => {
  it('binds every port to loopback, turns its telemetry off, and takes identities only from the file', () => {
    const ports = {
      s3: 1,
      s3Grpc: 2,
      master: 3,
      masterGrpc: 4,
      volume: 5,
      volumeGrpc: 6,
      filer: 7,
      filerGrpc: 8,
    };
    const args = seaweedfsArgs({ dataDir: '/d', identitiesFile: '/d/ids.json', ports });
    expect(args).toEqual(
      expect.arrayContaining(['-ip=127.0.0.1', '-ip.bind=127.0.0.1', '-master.telemetry=false']),
    );
    expect(args).toEqual(expect.arrayContaining(['-s3.port=1', '-s3.port.grpc=2', '-filer.port.grpc=8']));
    expect(args).toEqual(
      expect.arrayContaining(['-s3.config=/d/ids.json', '-s3.port.iceberg=0', '-s3.port.lance=0']),
    );
    expect(args.join(' ')).not.toMatch(/secret|accessKey/i);
    // The caller's AWS key pair would become one more admin identity of the store: emptied.
    const env = seaweedfsEnv({
      PATH: '/bin',
      AWS_ACCESS_KEY_ID: 'AKID',
      AWS_SECRET_ACCESS_KEY: 's',
      AWS_PROFILE: 'p',
    });
    expect(env).toEqual({ PATH: '/bin', AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: '' });
  });

  it('writes the identities file for this user only; each run gets a fresh key pair', async () => {
    const dir = await tempDir('seaweedfs-ids-');
    try {
      const a = newS3Credentials();
      const b = newS3Credentials();
      expect(a.accessKeyId).toMatch(/^GM[0-9A-F]{18}$/);
      expect(a.secretAccessKey).toHaveLength(40);
      expect(b.secretAccessKey).not.toBe(a.secretAccessKey);
      const file = join(dir, 'ids.json');
      await writeS3Identities(file, [{ name: 'admin', ...a, actions: ['Admin'] }]);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({
        identities: [
          {
            name: 'admin',
            credentials: [{ accessKey: a.accessKeyId, secretKey: a.secretAccessKey }],
            actions: ['Admin'],
          },
        ],
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
