import { resolve } from 'node:path';
import { isMain, ProjectError, parseCommand, runMain } from '../lib/index.ts';
import { type DemoResult, isRepoRoot, runDemo } from '../pipelines/demo/index.ts';
import { loadTrainingConfig } from '../training/index.ts';
import { main as promoteMain } from './promote.ts';

const ROOT = resolve(import.meta.dirname, '..');

const USAGE = `usage: npm run demo -- [--config training/configs/demo.json] [--work .demo] [--port 8080] [--no-wait] [--no-progress] [--gates <promotion-gates.json>]
  --config       training config (default training/configs/demo.json)
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

/** What the command accepts (lib/cli.ts parseCommand adds --help). */
const COMMAND = {
  usage: USAGE,
  options: {
    config: { type: 'string', default: 'training/configs/demo.json' },
    work: { type: 'string', default: '.demo' },
    port: { type: 'string', default: '8080' },
    'no-wait': { type: 'boolean', default: false },
    gates: { type: 'string' },
    'no-progress': { type: 'boolean', default: false },
  },
} as const;

export async function main(argv: string[], deps: MainDeps = {}): Promise<number> {
  const cli = parseCommand(argv, COMMAND, deps.print);
  if (!cli) return 0;
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
  const config = await loadTrainingConfig(values.config);
  const result = await runDemo({
    repoRoot,
    workDir: values.work,
    config,
    configPath: values.config,
    port,
    progress: !values['no-progress'],
    env: deps.env ?? process.env,
    print,
    promote: promoteMain,
    ...(values.gates ? { gatesPath: resolve(values.gates) } : {}),
    ...(values['no-wait'] ? {} : { waitForStop: deps.waitForStop ?? untilSignal }),
  });
  deps.onResult?.(result);
  return 0;
}

if (isMain(import.meta.url)) {
  await runMain(() => main(process.argv.slice(2)));
}
