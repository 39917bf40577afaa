/**
 * init: make a fresh fork of the template its own in one step. Replaces the
 * template's placeholders (the repository, the image registry, the
 * maintainers team) in every tracked file: Argo CD's manifests, the
 * workflows, CODEOWNERS, the alert rules' runbook URLs, the alert relay, the
 * docs. See tools/init/init.ts and README.md "The journey of a team".
 *
 *   npm run init -- --repo <owner/name> [--registry <host/path>] [--team <@org/team>] [--commit]
 *
 * Exit 0: done (or nothing left to do); 1: the working tree has uncommitted
 * changes, or the repository was made another one's already; 2: bad usage.
 */
import { resolve } from 'node:path';
import { command, runIfMain, type ScriptDeps, scriptDeps } from '../platform/cli.ts';
import { gitRunner } from '../platform/git/index.ts';
import { forkNames, initRepository } from '../tools/init/index.ts';

/** What the command accepts; its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npm run init --',
  summary: `Makes this fork its own: replaces the template's placeholders in every file git
tracks. Refuses a working tree with uncommitted changes. A second run changes
nothing.`,
  required: ['repo'],
  options: {
    repo: {
      type: 'string',
      value: '<owner/name>',
      help: "the fork on GitHub (Argo CD's repoURL, runbook URLs, the alert relay's target)",
    },
    registry: {
      type: 'string',
      value: '<host/path>',
      help: 'where image.yml pushes the images (default: ghcr.io/<owner>, lowercase)',
    },
    team: {
      type: 'string',
      value: '<@org/team>',
      help: 'who reviews the lock, environments, workflows, manifests\n(default: @<owner>/ml-maintainers)',
    },
    commit: {
      type: 'boolean',
      default: false,
      help: 'commit the changed files (default: leave them for you to review and commit)',
    },
    root: { type: 'string', default: '.', value: '<dir>', help: 'the repository' },
  },
  exit: {
    0: 'done (or nothing left to do)',
    1: "refused (uncommitted changes, or made another repository's already)",
  },
} as const;

export const main = command(COMMAND, async ({ values: v }, deps: Partial<ScriptDeps>) => {
  const d = scriptDeps(deps);
  const names = forkNames(v);
  const git = gitRunner(resolve(d.cwd, v.root), { env: d.env });
  const r = await initRepository({ git, names, commit: v.commit, env: d.env });
  if (r.changed.length === 0) {
    d.print(`nothing to change: no placeholder is left; this is ${names.repo} already\n`);
    return 0;
  }
  d.print(`made this fork ${names.repo}: images in ${names.registry}, reviews by ${names.team}\n`);
  d.print(`changed ${r.changed.length} file(s):\n${r.changed.map((f) => `  ${f}\n`).join('')}`);
  for (const l of r.leftovers) d.print(`check by hand: ${l}\n`);
  const owner = names.repo.split('/')[0]?.toLowerCase();
  if (names.registry !== `ghcr.io/${owner}`) {
    d.print(
      `set the repository variable REGISTRY to ${names.registry}: image.yml pushes to ghcr.io/${owner} without it\n`,
    );
  }
  d.print(
    r.commitSha
      ? `committed ${r.commitSha.slice(0, 12)}\n`
      : 'review with `git diff`, then commit (or run again with --commit on a clean tree)\n',
  );
  d.print('next: npm run render (every environment renders; each runs no model until its first promotion)\n');
  return 0;
});

await runIfMain(import.meta.url, main);
