import { resolve } from 'node:path';
import { nativeManifestOf } from '../model/backend.ts';
import { type DemoResult, isRepoRoot, runDemo } from '../pipelines/demo/index.ts';
import { command, isMain, ProjectError, runMain } from '../platform/index.ts';
import { loadTrainingConfig } from '../training/index.ts';

const ROOT = resolve(import.meta.dirname, '..');

const USAGE = `usage: npm run demo -- [--config training/configs/demo.json] [--work .demo] [--port 8080] [--no-wait] [--no-progress] [--gates <promotion-gates.json>]
  --config       training config (default training/configs/demo.json, a deep-cnn on 32x32 colour images,
                 where the native backend is set up; else training/configs/demo-pure-js.json, a small
                 CNN the pure-JS backend trains in about a minute)
  --work         work folder for the copy of the lock, environments/, data, runs, rendered manifests (default .demo)
  --port         server port (default 8080; 0 = any free port)
  --no-wait      stop the server after the request instead of waiting for Ctrl-C (tests, CI)
  --no-progress  no training progress bar`;

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

/** What the command accepts (platform/cli.ts parseCommand adds --help). */
const COMMAND = {
  usage: USAGE,
  options: {
    config: { type: 'string' },
    work: { type: 'string', default: '.demo' },
    port: { type: 'string', default: '8080' },
    'no-wait': { type: 'boolean', default: false },
    gates: { type: 'string' },
    'no-progress': { type: 'boolean', default: false },
  },
} as const;

export const main = command(COMMAND, async (cli, deps: MainDeps = {}) => {
  const print = deps.print ?? console.log;
  const { values } = cli;
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ProjectError('USAGE', `--port ${values.port} is not a port number (0-65535)\n\n${USAGE}`, {
      subject: '--port',
    });
  }
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
