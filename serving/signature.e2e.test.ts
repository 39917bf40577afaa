/**
 * Nothing unsigned runs: the server process (serving/main.ts, as a pod
 * runs it) with a signing policy loads a model only when the pin's
 * signature signs that version by a trusted signer. An unsigned pin, a
 * stranger's signature and another version's signature stop it before it is
 * ready, with the reason in its log; a trusted signature is logged with its
 * signer. Without a policy the log says the signature was not checked.
 */
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PIN_SIGNATURE_ENV } from '../model/pin.ts';
import { localKeySigner, signModel } from '../model/signing/index.ts';
import { freePort } from '../testing/ports.ts';
import { tempFixture } from '../testing/serving/harness.ts';
import { spawnServer } from '../testing/serving/process.ts';

const key = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
const team = key();
let fixture: Awaited<ReturnType<typeof tempFixture>>;
let policyPath = '';

beforeAll(async () => {
  fixture = await tempFixture();
  policyPath = join(fixture.root, 'signing-policy.json');
  await writeFile(
    policyPath,
    JSON.stringify({
      signingPolicyVersion: 1,
      signers: [{ name: 'team key', publicKey: team.publicKey.export({ type: 'spki', format: 'pem' }) }],
    }),
  );
});
afterAll(async () => {
  await fixture?.cleanup();
});

const sign = (privateKey = team.privateKey, rootDigest = fixture.pin.sha256) =>
  signModel(
    { model: fixture.pin.name, version: fixture.pin.version, rootDigest },
    localKeySigner(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'key.pem'),
  );

/** Start the server with `extra` variables; resolve with its log lines once ready or exited. */
async function start(extra: Record<string, string>) {
  const server = spawnServer({
    ...fixture.env,
    SERVING_BACKEND: 'cpu',
    SERVING_HOST: '127.0.0.1',
    SERVING_PORT: String(await freePort()),
    ...extra,
  });
  const ready = await server.ready.then(
    () => true,
    () => false,
  );
  if (ready) {
    server.proc.kill('SIGTERM');
    await server.exited;
  }
  return { ready, lines: server.lines, stderr: server.stderr() };
}

describe('the server verifies the model signature before it loads the model', () => {
  it('a version signed by a trusted key is loaded, its signer logged', async () => {
    const r = await start({
      SERVING_SIGNING_POLICY: policyPath,
      [PIN_SIGNATURE_ENV]: JSON.stringify(await sign()),
    });
    expect(r.ready).toBe(true);
    expect(r.lines).toContainEqual(
      expect.objectContaining({
        msg: 'model signature verified',
        signer: 'team key',
        version: fixture.pin.version,
      }),
    );
  }, 120_000);

  it.each([
    ['an unsigned pin', async () => undefined, /not signed/],
    [
      "a stranger's signature",
      async () => sign(key().privateKey),
      /signed by key [0-9a-f]{12}, which .* does not trust/,
    ],
    [
      "another version's signature",
      async () => sign(team.privateKey, 'e'.repeat(64)),
      /the signature is for .* \(sha256 eeee/,
    ],
  ])(
    '%s stops it before it is ready, saying why',
    async (_what, bundle, reason) => {
      const signature = await bundle();
      const r = await start({
        SERVING_SIGNING_POLICY: policyPath,
        ...(signature ? { [PIN_SIGNATURE_ENV]: JSON.stringify(signature) } : {}),
      });
      expect(r.ready).toBe(false);
      expect(`${r.stderr}${JSON.stringify(r.lines)}`).toMatch(reason);
      expect(r.lines.some((l) => l.msg === 'artifact verified')).toBe(false);
    },
    120_000,
  );

  it('without a policy, the log says the signature was not checked', async () => {
    const r = await start({});
    expect(r.ready).toBe(true);
    expect(r.lines).toContainEqual(
      expect.objectContaining({ msg: 'model signature not checked: SERVING_SIGNING_POLICY is not set' }),
    );
  }, 120_000);
});
