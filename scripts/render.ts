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

/** What the command accepts; its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npm run render --',
  summary: `Render every environment (and manifests/argocd, manifests/training-job) with real
Kustomize, check every object against its schema and the policies, and print
one row per target; with --out, write the YAML too (docs/gitops.md).`,
  options: {
    out: { type: 'string', value: '<dir>', help: 'also write the rendered YAML to this folder' },
    env: { type: 'string', multiple: true, help: 'only this environment (a folder of environments/)' },
    lock: { type: 'string', value: '<file>', help: 'the lock file (default: models.lock.json under --root)' },
    root: { type: 'string', value: '<dir>', help: 'the repository (default: the current folder)' },
  },
  choices: { env: environmentChoices((v) => join(String(v.root ?? '.'), 'environments')) },
  exit: { 0: 'every target valid', 1: 'a problem (each listed), nothing written' },
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
