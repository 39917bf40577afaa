/**
 * Render every environment (and manifests/argocd, manifests/training-job)
 * with real Kustomize, validate every object against its schema and the
 * policies, and optionally write the YAML to --out. Prints one row per target.
 *
 *   npm run render -- [--out <dir>] [--env <env>]... [--lock models.lock.json] [--root .]
 *
 * Exit 0: all valid; 1: a problem (each listed); 2: bad usage. See docs/gitops.md.
 */
import { join, resolve } from 'node:path';
import {
  environmentChoices,
  findKustomize,
  formatTable,
  renderAll,
  summarize,
  writeRendered,
} from '../gitops/index.ts';
import { logGroup } from '../platform/github/actions.ts';
import { isMain, parseCommand, runMain } from '../platform/index.ts';

const USAGE =
  'usage: npm run render -- [--out <dir>] [--env <env>]... [--lock <models.lock.json>] [--root <repo>]';

/** What the command accepts (platform/cli.ts parseCommand adds --help). */
const COMMAND = {
  usage: USAGE,
  options: {
    out: { type: 'string' },
    env: { type: 'string', multiple: true },
    lock: { type: 'string' },
    root: { type: 'string' },
  },
  choices: { env: environmentChoices((v) => join(String(v.root ?? '.'), 'environments')) },
} as const;

export async function main(argv: string[]): Promise<number> {
  const cli = parseCommand(argv, COMMAND, console.log);
  if (!cli) return 0;
  const { values } = cli;
  const root = resolve(values.root ?? '.');
  const kustomize = await findKustomize();
  const report = await logGroup(process.env, `render and check every target (${kustomize.label})`, () =>
    renderAll({
      root,
      lockPath: values.lock ? resolve(values.lock) : undefined,
      kustomize,
      envs: values.env,
    }),
  );
  process.stdout.write(formatTable(summarize(report)));
  if (values.out) {
    const paths = await writeRendered(resolve(values.out), report);
    console.log(`wrote ${paths.length} file(s) to ${values.out}`);
  }
  return 0;
}

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
