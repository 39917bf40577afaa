/**
 * lock: read and change models.lock.json (docs/lock-file.md).
 *
 *   npm run -s lock -- add --model demo-classifier --artifact out/model [--uri ...] [--run-id ...]
 *   npm run -s lock -- pin --model demo-classifier --env prod --version 3f9c0a1b2c4d
 *   npm run -s lock -- verify [--all] [--env prod]
 *   npm run -s lock -- diff git:origin/main models.lock.json
 *   npm run -s lock -- show
 *   npm run -s lock -- check-provenance --base origin/main [--head <ref>] [--origins environments/artifact-origins.json]
 *   npm run -s lock -- trust-key --name "alice's laptop" [--key <pem>] [--policy manifests/base/signing-policy.json]
 */
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { environmentsBesideLock } from '../gitops/index.ts';
import {
  ARTIFACT_ORIGINS_FILE,
  addCandidate,
  checkProvenanceAt,
  diffLocks,
  entryFromArtifact,
  formatDiffTable,
  formatProvenanceReport,
  formatVerifyReport,
  initLock,
  type Lock,
  loadArtifactOrigins,
  pinVersion,
  previousPin,
  readLock,
  readLockAt,
  showPins,
  updateLock,
  verifyLock,
} from '../lock/index.ts';
import { ensureLocalKey, SIGNING_POLICY_PATH, trustPublicKey } from '../model/signing/index.ts';
import { defaultSigningKeyPath } from '../model/signing/sign.ts';
import {
  didYouMean,
  isMain,
  type ParsedCommand,
  parseCommand,
  runMain,
  type ScriptDeps,
  scriptDeps,
  usageOf,
} from '../platform/cli.ts';
import { ProjectError } from '../platform/errors.ts';
import { mlflowConfigFromEnv } from '../platform/mlflow/index.ts';
import { objectStoreFromEnv } from '../platform/object-store/index.ts';

const FLAGS = {
  lock: {
    type: 'string',
    default: 'models.lock.json',
    value: '<path>',
    help: 'the lock file (every command)',
  },
  json: { type: 'boolean', default: false, help: 'print machine-readable JSON (every command)' },
  model: { type: 'string', value: '<name>', help: 'add, pin, verify: the model' },
  artifact: { type: 'string', value: '<dir>', help: 'add: the artifact folder' },
  uri: {
    type: 'string',
    value: '<artifact uri>',
    help: 'add: where it will be fetched from (default: the folder, relative to the lock)',
  },
  'run-id': { type: 'string', value: '<id>', help: 'add: its MLflow run' },
  'mlflow-version': { type: 'string', value: '<n>', help: 'add: its MLflow registered model version' },
  'tracking-uri': {
    type: 'string',
    value: '<url>',
    help: 'add: the MLflow server (default: MLFLOW_TRACKING_URI)',
  },
  'git-commit': {
    type: 'string',
    value: '<sha>',
    help: 'add, pin: the git commit it was trained from / pinned at',
  },
  env: {
    type: 'string',
    multiple: true,
    help: 'pin, verify: the environment (a folder of environments/ beside the lock)',
  },
  version: { type: 'string', value: '<id>', help: 'pin: the version to pin' },
  rollback: { type: 'boolean', default: false, help: 'pin: the version pinned before instead' },
  by: { type: 'string', value: '<who>', help: 'pin: who pins it (default: $GITHUB_ACTOR)' },
  all: { type: 'boolean', default: false, help: 'verify: every version, not only the pinned ones' },
  base: { type: 'string', value: '<ref>', help: "check-provenance: the pull request's base" },
  head: {
    type: 'string',
    value: '<ref>',
    help: 'check-provenance: its head (default: the lock in the working tree)',
  },
  origins: {
    type: 'string',
    default: ARTIFACT_ORIGINS_FILE,
    value: '<file>',
    help: 'check-provenance: the artifact origins allowed',
  },
  'show-tracking-values': {
    type: 'boolean',
    default: false,
    help: "check-provenance: print the tracking server's own values (metrics, commit, dataset,\nartifact root); off because CI's log of a fork's pull request is public",
  },
  'require-signatures': {
    type: 'boolean',
    default: false,
    help: 'check-provenance: refuse an added version without a signature',
  },
  name: { type: 'string', help: 'trust-key: who holds the key, shown when a version is signed with it' },
  key: {
    type: 'string',
    value: '<pem>',
    help: 'trust-key: the private key (default: ~/.config/gitops-ml/signing-key.pem, made when missing)',
  },
  policy: {
    type: 'string',
    default: SIGNING_POLICY_PATH,
    value: '<file>',
    help: 'trust-key: the signing policy',
  },
} as const;

/** The command: its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npm run lock --',
  summary: 'Read and change the lock file, models.lock.json (docs/lock-file.md).',
  args: '<command>',
  commands: {
    init: 'create an empty lock file',
    'add --model <name> --artifact <dir>':
      'add the artifact folder as a version (id: v + 12 hex of its root digest)',
    'pin --model <name> --env <env> (--version <id> | --rollback)':
      "pin a version to an environment (the lock's pin only; npm run promote moves the pin file too)",
    'verify [--all] [--env <env>]... [--model <name>]':
      "check the sha256 of every pinned (or every) version's files",
    'diff <a> <b>':
      'compare two locks: file paths, or git:<ref> (the lock and its models.lock.d/ at that commit)',
    show: 'which version each environment runs',
    'check-provenance --base <ref>': `a pull request's lock against its base (from the merge base of <ref> and the head):
no version edited, removed or re-pinned; each added version matches its MLflow run
(metrics, digests, commit, dataset) at an allowed origin; at most 5 added versions;
each added version's signature verifies against the signing policy of the base
(manifests/base/signing-policy.json at the merge base)`,
    'trust-key --name <name>': `trust a local signing key (docs/signing.md): make it when missing and add
its public key to the signing policy; commit that change through a reviewed pull request`,
  },
  options: FLAGS,
  positionals: [0, 3],
  choices: { env: environmentsBesideLock() },
  exit: { 1: 'failed (verify: a changed file, named; check-provenance: the field named)' },
} as const;
const USAGE = usageOf(COMMAND);

type FlagName = keyof typeof FLAGS;
const COMMON: FlagName[] = ['lock', 'json'];
const ALLOWED: Record<string, FlagName[]> = {
  init: [],
  add: ['model', 'artifact', 'uri', 'run-id', 'mlflow-version', 'tracking-uri', 'git-commit'],
  pin: ['model', 'env', 'version', 'rollback', 'by', 'git-commit'],
  verify: ['all', 'env', 'model'],
  diff: [],
  show: [],
  'check-provenance': ['base', 'head', 'origins', 'show-tracking-values', 'require-signatures'],
  'trust-key': ['name', 'key', 'policy'],
};
const POSITIONALS: Record<string, number> = {
  init: 0,
  add: 0,
  pin: 0,
  verify: 0,
  diff: 2,
  show: 0,
  'check-provenance': 0,
  'trust-key': 0,
};

/** Side effects of the script, replaceable in tests. */
export type LockScriptDeps = ScriptDeps;

const usage = (message: string) => new ProjectError('USAGE', `${message}\n\n${USAGE}`);

/** Read a lock named on the command line: a path, or `git:<ref>` for the lock (index and version files) at that commit. */
async function readLockArg(arg: string, lockPath: string, cwd: string): Promise<Lock> {
  if (!arg.startsWith('git:')) return readLock(resolve(cwd, arg));
  return readLockAt(lockPath, arg.slice('git:'.length));
}

function artifactUriFor(artifactDir: string, lockDir: string): string {
  const rel = relative(lockDir, artifactDir);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return artifactDir;
  return rel.split(sep).join('/');
}

/** What each command runs with: the flags, its arguments, the lock's path and folder, and how to print. */
interface LockRun {
  f: ParsedCommand<typeof FLAGS>['values'];
  args: string[];
  d: LockScriptDeps;
  lockPath: string;
  lockDir: string;
  /** Print `human`, or `json` as JSON under --json. */
  print: (human: string, json: unknown) => void;
}

/** Run `lock <command> ...`; returns the exit code. Exported for tests. */
export async function main(argv: string[], deps: Partial<LockScriptDeps> = {}): Promise<number> {
  const d = scriptDeps(deps);
  const cli = parseCommand(argv, COMMAND, (t) => d.print(`${t}\n`), d.cwd);
  if (!cli) return 0;
  const { values: f, positionals } = cli;
  const [command, ...args] = positionals;
  if (!command) throw usage('a command is required');
  const allowed = ALLOWED[command];
  const run = COMMANDS[command];
  if (!allowed || !run)
    throw usage(`unknown command "${command}"${didYouMean(command, Object.keys(COMMANDS))}`);
  for (const name of Object.keys(f) as FlagName[]) {
    const given = f[name] !== undefined && (FLAGS[name] as { default?: unknown }).default !== f[name];
    if (given && !COMMON.includes(name) && !allowed.includes(name))
      throw usage(`--${name} does not apply to "${command}"`);
  }
  if (args.length !== POSITIONALS[command]) {
    throw usage(`"${command}" takes ${POSITIONALS[command]} arguments, got ${args.length}`);
  }
  const lockPath = resolve(d.cwd, f.lock);
  // The environments are the folders of environments/ beside the lock.
  const print = (human: string, json: unknown) =>
    d.print(f.json ? `${JSON.stringify(json, null, 2)}\n` : human);
  return run({ f, args, d, lockPath, lockDir: dirname(lockPath), print });
}

async function init({ lockPath, print }: LockRun): Promise<number> {
  await initLock(lockPath);
  print(`created ${lockPath}\n`, { lock: lockPath });
  return 0;
}

async function add({ f, d, lockPath, lockDir, print }: LockRun): Promise<number> {
  if (!f.model) throw usage('add: --model is required');
  if (!f.artifact) throw usage('add: --artifact is required');
  const artifactDir = resolve(d.cwd, f.artifact);
  const mlflow = mlflowConfigFromEnv(d.env, f['tracking-uri']);
  const entry = await entryFromArtifact(artifactDir, {
    uri: f.uri ?? artifactUriFor(artifactDir, lockDir),
    runId: f['run-id'] ?? null,
    modelVersion: f['mlflow-version'] ?? null,
    trackingUri: f['run-id'] && mlflow ? mlflow.trackingUri : null,
    gitCommit: f['git-commit'],
  });
  let version = '';
  const model = f.model;
  await updateLock(lockPath, (lock) => {
    const r = addCandidate(lock, { model, entry });
    version = r.version;
    return r.lock;
  });
  print(
    `added ${model} version ${version} (root ${entry.rootDigest.slice(0, 12)}, artifact ${entry.artifactUri})\n`,
    {
      model,
      version,
      rootDigest: entry.rootDigest,
      artifactUri: entry.artifactUri,
    },
  );
  return 0;
}

async function pin({ f, d, lockPath, print }: LockRun): Promise<number> {
  const env = f.env ?? [];
  if (!f.model) throw usage('pin: --model is required');
  if (env.length !== 1) throw usage('pin: give exactly one --env');
  if (!f.version === !f.rollback) throw usage('pin: give --version <id> or --rollback');
  const model = f.model;
  const envName = env[0] as string;
  let from: string | undefined;
  let to = f.version ?? '';
  const { changed } = await updateLock(lockPath, (lock) => {
    from = lock.models[model]?.pins[envName];
    if (f.rollback) to = rollbackTarget(lock, model, envName);
    return pinVersion(lock, {
      model,
      env: envName,
      version: to,
      at: d.now().toISOString(),
      by: f.by ?? d.env.GITHUB_ACTOR,
      commit: f['git-commit'],
    });
  });
  print(
    changed
      ? `pinned ${model} ${envName} to version ${to} (was ${from ?? 'unpinned'})\n`
      : `${model} ${envName} is already pinned to version ${to}; nothing changed\n`,
    { model, env: envName, from: from ?? null, to, changed },
  );
  return 0;
}

/** The version `pin --rollback` goes back to: the environment's previous pin; NOT_FOUND without one. */
function rollbackTarget(lock: Lock, model: string, envName: string): string {
  const prev = previousPin(lock, model, envName);
  if (!prev) {
    throw new ProjectError('NOT_FOUND', `model "${model}" has no earlier ${envName} pin to roll back to`, {
      subject: `${model}/${envName}`,
      hint: 'pin a version with --version instead',
    });
  }
  return prev;
}

async function verify({ f, d, lockPath, lockDir, print }: LockRun): Promise<number> {
  const lock = await readLock(lockPath);
  const mlflow = mlflowConfigFromEnv(d.env);
  const objectStore = objectStoreFromEnv(d.env);
  try {
    const report = await verifyLock(lock, {
      lockDir,
      all: f.all,
      envs: f.env,
      models: f.model ? [f.model] : undefined,
      ...(mlflow ? { mlflow } : {}),
      ...(objectStore ? { objectStore } : {}),
      fetch: d.fetch,
    });
    print(formatVerifyReport(report), report);
    return report.ok ? 0 : 1;
  } finally {
    objectStore?.close();
  }
}

async function diff({ args, d, lockPath, print }: LockRun): Promise<number> {
  const [a, b] = args as [string, string];
  const rows = diffLocks(await readLockArg(a, lockPath, d.cwd), await readLockArg(b, lockPath, d.cwd));
  print(formatDiffTable(rows), rows);
  return 0;
}

async function show({ lockPath, print }: LockRun): Promise<number> {
  const lock = await readLock(lockPath);
  print(showPins(lock), lock);
  return 0;
}

/** check-provenance: the lock at the merge base of --base and the head against the head's lock (lock/provenance-git.ts). */
async function provenance({ f, d, lockPath, print }: LockRun): Promise<number> {
  if (!f.base) throw usage('check-provenance: --base <ref> is required');
  const mlflow = mlflowConfigFromEnv(d.env);
  const objectStore = objectStoreFromEnv(d.env);
  try {
    const report = await checkProvenanceAt({
      lockPath,
      base: f.base,
      ...(f.head ? { head: f.head } : {}),
      origins: await loadArtifactOrigins(resolve(d.cwd, f.origins)),
      ...(mlflow ? { mlflow } : {}),
      ...(objectStore ? { objectStore } : {}),
      ...(d.fetch ? { fetch: d.fetch } : {}),
      revealTrackingValues: f['show-tracking-values'] === true,
      requireSignatures: f['require-signatures'] === true,
    });
    print(formatProvenanceReport(report), report);
    return report.ok ? 0 : 1;
  } finally {
    objectStore?.close();
  }
}

async function trustKey({ f, d, print }: LockRun): Promise<number> {
  if (!f.name)
    throw usage('trust-key: --name is required (who holds the key, shown when a version is signed with it)');
  const key = await ensureLocalKey(f.key ? resolve(d.cwd, f.key) : defaultSigningKeyPath(d.env));
  const policyPath = resolve(d.cwd, f.policy);
  const changed = await trustPublicKey(policyPath, f.name, key.publicKey);
  const lines = [
    key.made
      ? `made the signing key ${key.path} (ECDSA P-256, mode 0600; keep it private)`
      : `using the signing key ${key.path}`,
    changed ? `trusted it in ${policyPath} as "${f.name}"` : `${policyPath} trusts it already`,
    f.key
      ? `sign with it: export MODEL_SIGNING_KEY=${key.path}`
      : 'npm run train signs with it from now on (MODEL_SIGNING_KEY names another key)',
  ];
  print(`${lines.join('\n')}\n`, { key: key.path, made: key.made, policy: policyPath, changed });
  return 0;
}

const COMMANDS: Record<string, (run: LockRun) => Promise<number>> = {
  init,
  add,
  pin,
  verify,
  diff,
  show,
  'check-provenance': provenance,
  'trust-key': trustKey,
};

if (isMain(import.meta.url)) await runMain(() => main(process.argv.slice(2)));
