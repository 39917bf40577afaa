/**
 * Record the images .github/workflows/image.yml built, by digest, in the
 * manifests that run them: the trainer image in the training Job's template
 * (manifests/training-job, where `npm run train -- --on kubernetes` takes its
 * default image) and the alert relay's (manifests/alert-relay). The serving
 * image is not here: it travels with the model pin (npm run promote --image).
 *
 *   npm run ci:pin-images -- [--trainer <registry/model-trainer@sha256:...>] [--relay <registry/alert-relay@sha256:...>]
 *                         [--root .] [--commit [--push]] [--remote origin]
 *
 * promote.yml runs it after each build on main. Exit 0 (also when they were
 * there already), 1 failure, 2 bad usage.
 */
import { join, relative, resolve } from 'node:path';
import { kustomizationOf, setKustomizeImage } from '../gitops/index.ts';
import { RELAY_IMAGE_NAME } from '../monitoring/alert-relay.ts';
import { TRAINER_IMAGE_NAME } from '../pipelines/training/kubernetes/index.ts';
import {
  isMain,
  parseCommand,
  runMain,
  type ScriptDeps,
  scriptDeps,
  usageError,
  usageOf,
} from '../platform/cli.ts';
import { commitAndPush, commitPaths, currentBranch, gitRunner, tokenFromEnv } from '../platform/git/index.ts';

/** Which image goes into which manifests folder, under which `images:` name. */
const TARGETS = {
  trainer: { dir: 'training-job', name: TRAINER_IMAGE_NAME },
  relay: { dir: 'alert-relay', name: RELAY_IMAGE_NAME },
} as const;

/** What the command accepts; its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npm run ci:pin-images --',
  summary: `Record the images .github/workflows/image.yml built, by digest, in the
manifests that run them (name at least one): the trainer image in the training
Job's template (manifests/training-job, where \`npm run train -- --on kubernetes\`
takes its default image) and the alert relay's (manifests/alert-relay). The
serving image is not here: it travels with the model pin (npm run promote
--image). promote.yml runs it after each build on main.`,
  options: {
    trainer: {
      type: 'string',
      value: '<image>',
      help: "the trainer image by digest, <registry>/model-trainer@sha256:...,\ninto manifests/training-job's kustomization",
    },
    relay: {
      type: 'string',
      value: '<image>',
      help: "the alert relay's image by digest, <registry>/alert-relay@sha256:...,\ninto manifests/alert-relay's kustomization",
    },
    root: { type: 'string', value: '<dir>', default: '.', help: 'the repository whose manifests/ to change' },
    commit: { type: 'boolean', default: false, help: 'commit the kustomization files that changed' },
    push: {
      type: 'boolean',
      default: false,
      help: 'push that commit too (needs --commit); on a push race, set them again\non the moved branch',
    },
    remote: { type: 'string', value: '<name>', default: 'origin', help: 'the remote --push pushes to' },
  },
  notes: `environment: GITHUB_TOKEN with GITHUB_SERVER_URL authenticate the push (promote.yml:
the promotion App's token), never .git/config.

It prints one line per image: the kustomization file, the image name and its
new reference ("(already)" when it was there).`,
  exit: { 0: 'done, also when they were there already' },
} as const;

export async function main(argv: string[], deps: Partial<ScriptDeps> = {}): Promise<number> {
  const d = scriptDeps(deps);
  const cli = parseCommand(argv, COMMAND, (text) => d.print(`${text}\n`));
  if (!cli) return 0;
  const v = cli.values;
  if (v.push && !v.commit) throw usageError('--push needs --commit', usageOf(COMMAND));
  const wanted = (['trainer', 'relay'] as const).filter((k) => v[k] !== undefined);
  if (wanted.length === 0)
    throw usageError('name at least one image: --trainer or --relay', usageOf(COMMAND));
  /** Set every wanted image; the kustomization files that changed. */
  const apply = async (): Promise<string[]> => {
    const changed: string[] = [];
    for (const k of wanted) {
      const dir = resolve(d.cwd, v.root, 'manifests', TARGETS[k].dir);
      if (await setKustomizeImage(dir, TARGETS[k].name, v[k] as string)) {
        changed.push(relative(d.cwd, kustomizationOf(dir)));
      }
    }
    return changed;
  };
  const changed = await apply();
  for (const k of wanted) {
    const file = join(v.root, 'manifests', TARGETS[k].dir, 'kustomization.yaml');
    d.print(`${file}: ${TARGETS[k].name} → ${v[k]}${changed.includes(file) ? '' : ' (already)'}\n`);
  }
  if (changed.length === 0 || !v.commit) return 0;
  // A push authenticates with GITHUB_TOKEN from the step (promote.yml: the promotion App's token), never .git/config.
  const git = gitRunner(d.cwd, { env: d.env, ...tokenFromEnv(d.env) });
  const paths = wanted.map((k) => join(v.root, 'manifests', TARGETS[k].dir, 'kustomization.yaml'));
  const message = `images: ${wanted.map((k) => `${k} ${v[k]}`).join(', ')}\n`;
  if (!v.push) {
    await commitPaths(git, paths, message, d.env);
    return 0;
  }
  const published = await commitAndPush({
    git,
    remote: v.remote,
    branch: await currentBranch(git),
    paths,
    message,
    env: d.env,
    regenerate: true,
    // On a push race: set them again on the moved branch (nothing to do if someone did already).
    reapply: async () => ((await apply()).length > 0 ? message : undefined),
    log: (l) => d.print(`${l}\n`),
  });
  d.print(`pushed ${published.commit.slice(0, 12)} to ${v.remote}\n`);
  return 0;
}

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
