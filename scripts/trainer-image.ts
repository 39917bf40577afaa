/**
 * Record the trainer image that .github/workflows/image.yml built, by digest,
 * in the training Job's template (manifests/training-job/kustomization.yaml
 * `images:`), where `npm run train -- --on kubernetes` takes its default image.
 *
 *   npm run trainer-image -- <registry/model-trainer@sha256:…> [--template manifests/training-job] [--commit [--push]]
 *
 * promote.yml runs it after each build on main. Exit 0 (also when it was
 * there already), 1 failure, 2 bad usage.
 */
import { resolve } from 'node:path';
import { isMain, parseCommand, runMain, type ScriptDeps, scriptDeps, usageError } from '../lib/cli.ts';
import { commitAndPush, commitPaths, currentBranch, gitRunner } from '../lib/git/index.ts';
import { kustomizationOf, setKustomizeImage } from '../lib/gitops/index.ts';
import { TRAINER_IMAGE_NAME } from '../training/kubernetes/index.ts';

const USAGE =
  'usage: npm run trainer-image -- <registry/model-trainer@sha256:...> [--template manifests/training-job] [--commit [--push]] [--remote origin]';

/** What the command accepts (lib/cli.ts parseCommand adds --help). */
const COMMAND = {
  usage: USAGE,
  positionals: 1,
  options: {
    template: { type: 'string', default: 'manifests/training-job' },
    commit: { type: 'boolean', default: false },
    push: { type: 'boolean', default: false },
    remote: { type: 'string', default: 'origin' },
  },
} as const;

export async function main(argv: string[], deps: Partial<ScriptDeps> = {}): Promise<number> {
  const d = scriptDeps(deps);
  const cli = parseCommand(argv, COMMAND, d.print);
  if (!cli) return 0;
  const [ref] = cli.positionals as [string];
  const { template, commit, push, remote } = cli.values;
  if (push && !commit) throw usageError('--push needs --commit', USAGE);
  const dir = resolve(d.cwd, template);
  const changed = await setKustomizeImage(dir, TRAINER_IMAGE_NAME, ref);
  d.print(
    changed
      ? `${kustomizationOf(template)}: ${TRAINER_IMAGE_NAME} → ${ref}\n`
      : `${template} pins ${ref} already\n`,
  );
  if (!changed || !commit) return 0;
  const git = gitRunner(d.cwd, { env: d.env });
  const paths = [kustomizationOf(template)];
  const message = `trainer image: ${ref}\n`;
  if (!push) {
    await commitPaths(git, paths, message, d.env);
    return 0;
  }
  const published = await commitAndPush({
    git,
    remote,
    branch: await currentBranch(git),
    paths,
    message,
    env: d.env,
    regenerate: true,
    // On a push race: set it again on the moved branch (nothing to do if someone did already).
    reapply: async () => ((await setKustomizeImage(dir, TRAINER_IMAGE_NAME, ref)) ? message : undefined),
    log: (l) => d.print(`${l}\n`),
  });
  d.print(`pushed ${published.commit.slice(0, 12)} to ${remote}\n`);
  return 0;
}

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
