import { resolve } from 'node:path';
import { nativeManifestOf } from '../model/backend.ts';
import { type DemoResult, isRepoRoot, runDemo } from '../pipelines/demo/index.ts';
import { command, isMain, ProjectError, parsePortFlag, runMain } from '../platform/index.ts';
import { loadTrainingConfig } from '../training/index.ts';

const ROOT = resolve(import.meta.dirname, '..');

export interface MainDeps {
  env?: Record<string, string | undefined>;
  print?: (line: string) => void;
  /** Resolves when the user asks to stop (default: SIGINT or SIGTERM). */
  waitForStop?: () => Promise<void>;
  /** Receives the result (tests). */
  onResult?: (r: DemoResult) => void;
  /** Repository root to copy environments/ and manifests/ from (default this checkout). */
  repoRoot?: string;
}

/** Resolves on the first SIGINT/SIGTERM. */
const untilSignal = () =>
  new Promise<void>((res) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      res();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });

/**
 * The real demo model needs the native backend (scripts/setup.d/70-tfjs-native.sh): on pure JS
 * it would train for most of an hour. Without it, the small config, and say how to get the other.
 */
function defaultConfig(print: (line: string) => void): string {
  if (nativeManifestOf('@tensorflow/tfjs-node') || nativeManifestOf('@tensorflow/tfjs-node-gpu')) {
    return 'training/configs/demo.json';
  }
  print(
    'native TensorFlow is not set up: training the small training/configs/demo-pure-js.json on pure JS (bash scripts/setup.d/70-tfjs-native.sh sets it up, about a minute once)',
  );
  return 'training/configs/demo-pure-js.json';
}

/** What the command accepts; its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npm run demo --',
  summary: `The one-command demo (docs/demo.md): the whole path of one model, locally, on a
copy of the lock and environments/ in a work folder (yours are never modified):
generate the data, train, track and add to the lock, promote to dev, render dev
with real Kustomize, start the server, send it a real image, and leave it
running until Ctrl-C.`,
  options: {
    config: {
      type: 'string',
      value: '<file>',
      help: 'the training config (default: training/configs/demo.json, a deep-cnn on 32x32\ncolour images, where the native backend is set up; else\ntraining/configs/demo-pure-js.json, a small CNN the pure-JS backend trains in\nabout a minute)',
    },
    work: {
      type: 'string',
      default: '.demo',
      value: '<dir>',
      help: 'the work folder for the copy of the lock, environments/, data, runs, rendered\nmanifests',
    },
    port: { type: 'string', default: '8080', value: '<port>', help: 'the server port (0: any free port)' },
    'no-wait': {
      type: 'boolean',
      default: false,
      help: 'stop the server after the request instead of waiting for Ctrl-C (tests, CI)',
    },
    gates: {
      type: 'string',
      value: '<file>',
      help: 'the promotion gates file for dev (default: environments/promotion-gates.json\nof the work folder)',
    },
    'no-progress': { type: 'boolean', default: false, help: 'no training progress bar' },
  },
} as const;

export const main = command(COMMAND, async (cli, deps: MainDeps = {}) => {
  const print = deps.print ?? console.log;
  const { values } = cli;
  const port = parsePortFlag(values.port);
  const repoRoot = deps.repoRoot ?? ROOT;
  if (!isRepoRoot(repoRoot)) {
    throw new ProjectError('NOT_FOUND', `${repoRoot} has no environments/ and manifests/base/ to copy`, {
      subject: repoRoot,
      hint: 'run the demo from a checkout of this repository',
    });
  }
  const configPath = values.config ?? defaultConfig(print);
  const config = await loadTrainingConfig(configPath);
  const result = await runDemo({
    repoRoot,
    workDir: values.work,
    config,
    configPath,
    port,
    progress: !values['no-progress'],
    env: deps.env ?? process.env,
    processEnv: process.env,
    print,
    gatesPath: values.gates ? resolve(values.gates) : undefined,
    waitForStop: values['no-wait'] ? undefined : (deps.waitForStop ?? untilSignal),
  });
  deps.onResult?.(result);
  return 0;
});

if (isMain(import.meta.url)) {
  await runMain(() => main(process.argv.slice(2)));
}
