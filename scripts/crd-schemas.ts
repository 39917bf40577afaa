/**
 * Regenerate gitops/crd-schemas/argo-rollouts-<version>.json, the
 * schemas render validates Rollouts and AnalysisTemplates against, from
 * Argo Rollouts' own CRDs (the copy scripts/setup.d/64-argo-rollouts.sh
 * makes of its manifests/crds/).
 *
 *   npm run crd-schemas                  write the file
 *   npm run crd-schemas -- --check       exit 1 when the kept file differs
 *   npm run crd-schemas -- --crds <dir>  read the CRDs from <dir>
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crdSchemaFilePath, generateCrdSchemaFile } from '../gitops/crd-schemas.ts';
import { writeFileAtomic } from '../platform/fs.ts';
import { isMain, ProjectError, parseCommand, runMain } from '../platform/index.ts';
import { argoRolloutsDir } from '../tools/cluster/tools.ts';

/** What the command accepts; its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npm run crd-schemas --',
  summary: `Regenerate gitops/crd-schemas/argo-rollouts-<version>.json, the schemas render
checks Rollouts and AnalysisTemplates against, from Argo Rollouts' own CRDs.`,
  options: {
    check: {
      type: 'boolean',
      default: false,
      help: 'do not write; fail (exit 1) when the kept schema file differs from the CRDs',
    },
    crds: {
      type: 'string',
      value: '<dir>',
      help: "Argo Rollouts' manifests/crds (default: the copy 64-argo-rollouts.sh makes\nin ~/.cache/gitops-ml)",
    },
  },
  exit: { 0: 'written (--check: the kept file matches)', 1: 'failed, or with --check the kept file differs' },
} as const;

export async function main(argv: string[], log: (line: string) => void = console.log): Promise<number> {
  const cli = parseCommand(argv, COMMAND, log);
  if (!cli) return 0;
  const crds = cli.values.crds ?? join(argoRolloutsDir(), 'crds');
  const want = await generateCrdSchemaFile(crds);
  const path = crdSchemaFilePath();
  if (cli.values.check) {
    const have = await readFile(path, 'utf8').catch(() => '');
    if (have !== want)
      throw new ProjectError('CONFLICT', `${path} differs from the CRDs in ${crds}`, {
        hint: 'run `npm run crd-schemas` and commit the result',
      });
    log(`${path} matches ${crds}`);
    return 0;
  }
  await writeFileAtomic(path, want);
  log(`wrote ${path} from ${crds}`);
  return 0;
}

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
