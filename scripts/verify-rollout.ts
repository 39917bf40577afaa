/**
 * verify-rollout: wait until an environment runs its pinned model version
 * (Argo CD Application Synced+Healthy, Deployment rolled out, Ready pods at the
 * pin, /predict answering with it), or fail with what each check saw.
 * See docs/rollout.md.
 *
 *   npm run verify-rollout -- --env dev [--version 3] [--url http://...] [--timeout 300]
 */
import { readFile } from 'node:fs/promises';
import { isMain, parseCommand, runMain } from '../lib/cli.ts';
import { ProjectError } from '../lib/errors.ts';
import { loadCluster, makeSmokePng, readPinnedVersion, verifyRollout } from '../lib/rollout/index.ts';

const USAGE = `usage: verify-rollout --env <dev|staging|prod> [options]
  --version <v>        expected model version (default: the env's pin in --lock)
  --model <name>       model in the lock file (default: its only model)
  --lock <file>        lock file (default models.lock.json)
  --revision <sha>     git revision the Argo CD Application must be synced to
  --url <base>         model server base URL for /predict (default: the Service via the API server proxy)
  --image <file>       PNG/JPEG for the /predict smoke request (default: a generated 32x32 PNG)
  --timeout <seconds>  give up after this long (default 300)
  --kubeconfig <file>  kubeconfig (default $KUBECONFIG or ~/.kube/config)
  --context <name>     kubeconfig context
  --namespace <ns>     default ml-<env>
  --skip-application   do not check an Argo CD Application (cluster without Argo CD)`;

const FLAGS = {
  env: { type: 'string' },
  version: { type: 'string' },
  model: { type: 'string' },
  lock: { type: 'string', default: 'models.lock.json' },
  revision: { type: 'string' },
  url: { type: 'string' },
  image: { type: 'string' },
  timeout: { type: 'string', default: '300' },
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  namespace: { type: 'string' },
  'skip-application': { type: 'boolean', default: false },
} as const;

/** Run with `argv` (flags only); returns the exit code. Exported for tests. */
export async function main(
  argv: string[],
  env: Record<string, string | undefined> = process.env,
): Promise<number> {
  const cli = parseCommand(argv, { usage: USAGE, options: FLAGS }, console.log);
  if (!cli) return 0;
  const f = cli.values;
  if (!f.env || !/^[a-z0-9-]+$/.test(f.env))
    throw new ProjectError('USAGE', `--env is required (dev, staging, prod)\n\n${USAGE}`);
  const timeout = Number(f.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0)
    throw new ProjectError('USAGE', `--timeout must be a positive number of seconds, got "${f.timeout}"`);
  const pin = f.version
    ? { model: f.model, version: f.version }
    : await readPinnedVersion(f.lock, f.env, f.model);
  let image: Uint8Array = makeSmokePng();
  let contentType = 'image/png';
  if (f.image) {
    image = await readFile(f.image).catch((e: NodeJS.ErrnoException) => {
      throw new ProjectError(
        'USAGE',
        `--image ${f.image}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`,
        { subject: f.image, cause: e },
      );
    });
    contentType = /\.jpe?g$/i.test(f.image) ? 'image/jpeg' : 'image/png';
  }
  const cluster = loadCluster({ kubeconfig: f.kubeconfig, context: f.context, env });
  console.log(
    `verifying ${pin.model ?? 'model'} version ${pin.version} in ${f.env} on ${cluster.server} (timeout ${timeout}s)`,
  );
  const report = await verifyRollout(
    {
      env: f.env,
      version: pin.version,
      model: pin.model,
      namespace: f.namespace,
      revision: f.revision,
      url: f.url,
      skipApplication: f['skip-application'],
      image,
      contentType,
      timeoutMs: timeout * 1000,
    },
    { cluster, log: (lines) => console.log(`--\n${lines}`) },
  );
  console.log(
    `rollout verified: ${f.env} serves version ${report.version} (${Math.round(report.elapsedMs / 1000)}s)`,
  );
  return 0;
}

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
