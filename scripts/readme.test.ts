/**
 * The README's promise: every command it shows is run by a test or by the
 * demo. This test does NOT run them (the demo, training, a cluster: the
 * tests named below do); it checks the map from each command to what runs
 * it. It reads every command in README.md (lines of ```bash blocks, and
 * inline `code` that starts with npm, bash, kubectl, curl or docker) and
 * checks, for each: COVERAGE names the files that run it (a test, the demo,
 * .ci/run), each exists and still contains its marker (the flag or call that
 * runs the command), every `npm run <script>` is a script of package.json,
 * and every repository path in it exists. It also checks that every
 * relative link of the README points at a file that exists.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from '@jest/globals';

const ROOT = resolve(import.meta.dirname, '..');
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const scripts = (
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
).scripts;

interface Coverage {
  /** The README command starts with this. */
  prefix: string;
  /** Files that run it (a test, the demo, or .ci/run), each with a string it must contain. */
  by: [file: string, marker: string][];
}

/** What runs each README command. Longest prefix wins. */
const COVERAGE: Coverage[] = [
  { prefix: 'npm ci && npm run demo', by: [['scripts/demo.e2e.test.ts', "from './demo.ts'"]] },
  { prefix: 'bash scripts/setup.sh && npm test', by: [['.ci/run', 'bash scripts/setup.sh && npm test']] },
  { prefix: 'npm run demo -- --no-wait', by: [['scripts/demo.e2e.test.ts', "'--no-wait'"]] },
  { prefix: 'npm run demo', by: [['scripts/demo.e2e.test.ts', "from './demo.ts'"]] },
  {
    prefix: 'npm run init',
    by: [
      [
        'tools/init/init.e2e.test.ts',
        "'--repo', 'acme/image-classifier', '--registry', 'ghcr.io/acme', '--commit'",
      ],
    ],
  },
  {
    prefix: 'npm run train -- --config training/configs/demo.json --out artifacts/demo --on kubernetes',
    by: [['pipelines/training/kubernetes/submit.e2e.test.ts', "'--lock', lockPath"]],
  },
  { prefix: 'npm run train -- --config', by: [['scripts/train.test.ts', "'--lock'"]] },
  { prefix: 'npm run train', by: [['scripts/train.test.ts', "from './train.ts'"]] },
  { prefix: 'npm test', by: [['.ci/run', 'npm test']] },
  { prefix: 'npm ci', by: [['scripts/setup.sh', 'npm ci']] },
  { prefix: 'npm run ci:train', by: [['scripts/train-ci.e2e.test.ts', "from './train-ci.ts'"]] },
  {
    prefix: 'npm run ci:publish-candidate -- --from',
    by: [['scripts/publish-candidate.e2e.test.ts', "main(['--from', from]"]],
  },
  { prefix: 'npm run retrain', by: [['scripts/retrain.e2e.test.ts', "from './retrain.ts'"]] },
  { prefix: 'npm run upload-runs', by: [['training/tracking/tracking.e2e.test.ts', "'--tracking-uri'"]] },
  { prefix: 'npm run data -- pack', by: [['scripts/data.test.ts', "'pack'"]] },
  {
    prefix: 'npm run data -- from-feedback',
    by: [['pipelines/flywheel/from-feedback.e2e.test.ts', "'from-feedback'"]],
  },
  { prefix: 'npm run lock -- show', by: [['scripts/lock.test.ts', "run('show')"]] },
  { prefix: 'npm run lock -- trust-key', by: [['model/signing/local-key.test.ts', "run('trust-key'"]] },
  { prefix: 'npm run lock -- verify', by: [['scripts/lock.test.ts', "run('verify')"]] },
  {
    prefix: 'npm run lock -- check-provenance',
    by: [['scripts/lock-provenance.e2e.test.ts', "'check-provenance'"]],
  },
  { prefix: 'npm run promote -- --env', by: [['scripts/promote.e2e.test.ts', "'--env'"]] },
  { prefix: 'npm run rollback -- --env', by: [['scripts/promote.test.ts', 'rollbackMain']] },
  {
    prefix: 'npm run verify-rollout -- --env',
    by: [['scripts/argocd.e2e.test.ts', "from './verify-rollout.ts'"]],
  },
  {
    prefix: 'npm run verify-rollout -- --env dev --soak 10m --revert-on-failure',
    by: [['scripts/argocd.e2e.test.ts', "'--revert-on-failure'"]],
  },
  { prefix: 'npm run revert -- --env', by: [['scripts/revert.e2e.test.ts', "'--reason-file'"]] },
  { prefix: 'npm run sync -- --env prod', by: [['scripts/argocd.e2e.test.ts', "from './sync.ts'"]] },
  { prefix: 'npm run render', by: [['scripts/render.e2e.test.ts', "'--env'"]] },
  { prefix: 'npm run cluster -- up', by: [['scripts/cluster.e2e.test.ts', "['up', '--dir'"]] },
  { prefix: 'npm run cluster -- status', by: [['scripts/cluster.e2e.test.ts', "['status', '--dir'"]] },
  { prefix: 'npm run cluster -- down', by: [['scripts/cluster.e2e.test.ts', "['down', '--dir'"]] },
  { prefix: 'npm run cluster -- argocd', by: [['scripts/argocd.e2e.test.ts', "['argocd', '--dir'"]] },
  { prefix: 'npm run cluster -- image', by: [['scripts/argocd.e2e.test.ts', "cluster(['image']"]] },
  {
    prefix: 'npm run cluster -- serve --env dev',
    by: [['scripts/argocd.e2e.test.ts', "'serve', '--env', 'dev', '--port'"]],
  },
  {
    prefix: 'git add -A && git commit',
    by: [['scripts/argocd.e2e.test.ts', "git('add', '-A')"]],
  },
  { prefix: 'bash scripts/setup.sh', by: [['.ci/run', 'bash scripts/setup.sh']] },
  {
    prefix: 'SERVING_LOCK_FILE=models.lock.json SERVING_ENVIRONMENT=dev npm run serve',
    by: [
      ['pipelines/demo/steps.ts', 'SERVING_LOCK_FILE'],
      ['scripts/demo.e2e.test.ts', "from './demo.ts'"],
    ],
  },
  { prefix: 'npm run serve', by: [['pipelines/demo/steps.ts', 'scripts/serve.ts']] },
  { prefix: 'npm run drift -- --artifact', by: [['scripts/drift.test.ts', "'--artifact'"]] },
  {
    prefix: 'npm run score -- --env prod --input s3://',
    by: [['pipelines/scoring/object-store.e2e.test.ts', '/scored/run-1/']],
  },
  { prefix: 'npm run score', by: [['pipelines/scoring/score.test.ts', 'scoreMain(']] },
  { prefix: 'npm run monitoring:generate', by: [['monitoring/generate.test.ts', "'--check'"]] },
  { prefix: 'curl -s -F image=@', by: [['pipelines/demo/steps.ts', "'-F'"]] },
  {
    prefix: "curl -s -H 'content-type: application/json' -d '{\"request_id\"",
    by: [['serving/feedback-api.test.ts', '/feedback`']],
  },
  {
    prefix: 'kubectl apply -k manifests/ci-access',
    by: [['gitops/rbac.e2e.test.ts', 'createNamespacedServiceAccountToken']],
  },
  {
    prefix: 'kubectl apply -k manifests/argocd',
    by: [
      ['gitops/render.e2e.test.ts', "'manifests/argocd'"],
      ['scripts/argocd.e2e.test.ts', "['argocd', '--dir'"],
    ],
  },
  { prefix: 'bash scripts/setup.d/20-kube-tools.sh', by: [['scripts/setup.sh', 'scripts/setup.d/*.sh']] },
  { prefix: 'bash scripts/setup.d/70-tfjs-native.sh', by: [['scripts/setup.sh', 'scripts/setup.d/*.sh']] },
  { prefix: 'bash bench/peer/setup.sh', by: [['bench/peer/index.ts', 'setup.sh']] },
  { prefix: 'npm run bench:training', by: [['bench/training/main.ts', 'samples']] },
  { prefix: 'npm run bench:serving', by: [['bench/serving/index.ts', 'autocannon']] },
  { prefix: 'npm run bench:peer', by: [['bench/peer/index.ts', 'autocannon']] },
];

/** Every command the README shows. */
function readmeCommands(text: string): string[] {
  const commands: string[] = [];
  // Fenced blocks at any indent: the numbered steps of the README hold some.
  const blocks = text.matchAll(/^[ \t]*```bash\n([\s\S]*?)^[ \t]*```/gm);
  for (const [, body] of blocks) {
    for (const raw of body?.split('\n') ?? []) {
      const line = raw.replace(/\s+#.*$/, '').trim();
      if (line && !line.startsWith('#')) commands.push(line);
    }
  }
  const outside = text.replace(/^[ \t]*```[\s\S]*?^[ \t]*```/gm, '');
  for (const [, code] of outside.matchAll(/`([^`\n]+)`/g)) {
    if (code && /^(npm |bash |kubectl |curl |docker )/.test(code)) commands.push(code.trim());
  }
  return [...new Set(commands)];
}

function coverageOf(command: string): Coverage | undefined {
  return COVERAGE.filter((c) => command.startsWith(c.prefix)).sort(
    (a, b) => b.prefix.length - a.prefix.length,
  )[0];
}

const commands = readmeCommands(readme);

describe('README.md', () => {
  it('opens with the two commands: the main job, then set-up and the tests', () => {
    expect(commands.slice(0, 2)).toEqual(['npm ci && npm run demo', 'bash scripts/setup.sh && npm test']);
    expect(readFileSync(join(ROOT, '.ci/run'), 'utf8')).toMatch(/^bash scripts\/setup\.sh && npm test$/m);
  });

  it('shows commands (the extraction itself works)', () => {
    expect(commands.length).toBeGreaterThan(15);
    expect(commands).toContain('npm run lock -- show');
  });

  it.each(commands)(
    '`%s`: mapped to files that still contain its call; its npm script and paths exist',
    (command) => {
      const c = coverageOf(command);
      if (!c)
        throw new Error(`no test runs the README command \`${command}\`: add one and list it in COVERAGE`);
      const problems: string[] = [];
      for (const [file, marker] of c.by) {
        const path = join(ROOT, file);
        if (!existsSync(path)) problems.push(`${file} (mapped to run it) does not exist`);
        else if (!readFileSync(path, 'utf8').includes(marker))
          problems.push(`${file} no longer contains ${marker}: does it still run the command?`);
      }
      for (const [, name] of command.matchAll(/npm run (\S+)/g)) {
        if (!(name! in scripts)) problems.push(`npm run ${name}: no such script in package.json`);
      }
      for (const [, path] of command.matchAll(/(?:^|\s)((?:training|scripts|bench|manifests)\/[\w./-]+)/g)) {
        if (!existsSync(join(ROOT, path as string))) problems.push(`${path}: no such file or folder`);
      }
      expect(problems).toEqual([]);
    },
  );

  it('links only to files that exist', () => {
    const links = [...readme.matchAll(/\]\(((?!https?:|#)[^)#\s]+)(#[^)]*)?\)/g)].map((m) => m[1] as string);
    expect(links.length).toBeGreaterThan(5);
    const missing = links.filter((l) => !existsSync(join(dirname(join(ROOT, 'README.md')), l)));
    expect(missing).toEqual([]);
  });
});
