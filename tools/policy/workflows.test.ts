import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { parse } from 'yaml';
import { LOCK_FILE_NAME } from '../../lock/index.ts';
import { PIN_FILE } from '../../model/pin.ts';
import { HANDOFF_DIR } from '../../pipelines/training/index.ts';
import { REPO_ROOT } from '../../testing/gitops/repo.ts';
import { checkWorkflowsDir, workflowProblems } from './workflows.ts';

const DIR = join(REPO_ROOT, '.github', 'workflows');
const SHA = 'actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8 # v5.0.0';
/** A GitHub Actions expression `${{ e }}`, as the YAML spells it. */
const expr = (e: string) => `\${{ ${e} }}`;
const load = async (f: string) => parse(await readFile(join(DIR, f), 'utf8'));
const workflowFiles = async () => (await readdir(DIR)).filter((f) => /\.ya?ml$/.test(f)).sort();
/** A GitHub Actions expression `${{ e }}` as the YAML holds it. */
const gha = (e: string) => ['$', '{{ ', e, ' }}'].join('');

describe('the repository workflows', () => {
  test('all six exist and follow the policy', async () => {
    const { files, problems } = await checkWorkflowsDir(DIR);
    expect(files).toEqual(
      expect.arrayContaining([
        'ci.yml',
        'drift.yml',
        'image.yml',
        'promote.yml',
        'provenance.yml',
        'train.yml',
        'verify.yml',
      ]),
    );
    expect(problems).toEqual([]);
  });

  test('train.yml: pull_request_target only; the train job runs the authorized commit behind the gate and reads, the publish job runs the base branch and writes', async () => {
    const wf = await load('train.yml');
    expect(Object.keys(wf.on)).toEqual(['pull_request_target']);
    expect(wf.on.pull_request_target.types).toEqual(['opened', 'synchronize', 'reopened', 'labeled']);
    expect(wf.on.pull_request_target.paths).toEqual(
      expect.arrayContaining(['training/**', 'data/**', 'training/configs/**']),
    );
    expect(Object.keys(wf.jobs)).toEqual(['authorize', 'train', 'publish']);
    const gate = wf.jobs.authorize;
    expect(gate['runs-on']).toBe('ubuntu-latest');
    expect(gate.permissions).toEqual({ contents: 'read', 'pull-requests': 'read' });
    expect(gate.steps.map((s: { with?: { ref?: string } }) => s.with?.ref).filter(Boolean)).toEqual([]);
    expect(gate.steps.at(-1)).toMatchObject({ id: 'decide', run: 'npm run -s ci:authorize-training' });

    const train = wf.jobs.train;
    expect(train['runs-on']).toEqual(['self-hosted', 'gpu']);
    expect(train.needs).toBe('authorize');
    expect(train.if).toBe("needs.authorize.outputs.authorized == 'true'");
    // issue 23.3: the pull request's code reads, and no GitHub token reaches its steps (a branch of
    // this repository and a fork alike); the MLflow token records the run.
    expect(train.permissions).toEqual({ contents: 'read' });
    expect(train.steps[0].with).toEqual({
      ref: expr('needs.authorize.outputs.sha'),
      'persist-credentials': false,
    });
    expect(JSON.stringify(train)).not.toContain('github.token');
    const runs: string[] = train.steps.map((s: { run?: string }) => s.run ?? '');
    const step = train.steps[runs.indexOf('npm run ci:train')];
    expect(Object.keys(step.env).sort()).toEqual([
      'MLFLOW_TRACKING_TOKEN',
      'MLFLOW_TRACKING_URI',
      'TRAINING_BACKEND',
    ]);
    // issue 23.13: the GPU backend is set up first and trained with
    expect(runs.indexOf('bash scripts/setup.d/71-tfjs-native-gpu.sh')).toBe(
      runs.indexOf('npm run ci:train') - 1,
    );
    expect(step.env.TRAINING_BACKEND).toBe('tensorflow-gpu');
    // What it made leaves as an artifact: the handoff folder ci:train writes.
    const upload = train.steps.at(-1);
    expect(upload.uses).toMatch(/^actions\/upload-artifact@[0-9a-f]{40}$/);
    expect(upload.with).toEqual({
      name: 'pr-candidate',
      path: `${HANDOFF_DIR}/`,
      'if-no-files-found': 'error',
      'retention-days': 7,
    });

    const publish = wf.jobs.publish;
    expect(publish.needs).toBe('train');
    expect(publish['runs-on']).toBe('ubuntu-latest');
    // id-token: the checked entry is signed keyless here (docs/signing.md), never in the job that runs the PR.
    expect(publish.permissions).toEqual({ contents: 'write', 'pull-requests': 'write', 'id-token': 'write' });
    // The base branch's code only: the default checkout of pull_request_target, no ref.
    expect(publish.steps[0].with).toEqual({ 'fetch-depth': 0, 'persist-credentials': false });
    const download = publish.steps.find((s: { uses?: string }) =>
      s.uses?.startsWith('actions/download-artifact@'),
    );
    expect(download.with).toEqual({ name: 'pr-candidate', path: `${expr('runner.temp')}/pr-candidate` });
    expect(publish.steps.at(-1)).toEqual({
      run: 'npm run -s ci:publish-candidate -- --from "$RUNNER_TEMP/pr-candidate"',
      env: {
        GITHUB_TOKEN: expr('github.token'),
        MODEL_SIGNING: 'keyless',
        MLFLOW_TRACKING_URI: expr('vars.MLFLOW_TRACKING_URI'),
        MLFLOW_TRACKING_TOKEN: expr('secrets.MLFLOW_TRACKING_TOKEN'),
      },
    });
    expect(wf.jobs.train.permissions['id-token']).toBeUndefined();
  });

  test('provenance.yml: pull_request_target (the base branch copy), the PR read as data only, check-provenance from the merge base', async () => {
    const wf = await load('provenance.yml');
    expect(Object.keys(wf.on)).toEqual(['pull_request_target']);
    const job = wf.jobs.provenance;
    expect(job['runs-on']).toBe('ubuntu-latest');
    expect(job.permissions).toEqual({ contents: 'read' });
    expect(job.steps[0].with).toEqual({ 'fetch-depth': 0, 'persist-credentials': false });
    const runs = job.steps.map((s: { run?: string }) => s.run).filter(Boolean);
    // The PR's commits are fetched before npm ci, the token in that step's environment only.
    expect(runs[0]).toContain(
      `git fetch --no-tags origin "+refs/pull/\${PR_NUMBER}/head:refs/remotes/origin/pr-head"`,
    );
    expect(job.steps.find((s: { run?: string }) => s.run === runs[0]).env).toMatchObject({
      GITHUB_TOKEN: expr('github.token'),
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: `http.${expr('github.server_url')}/.extraheader`,
    });
    expect(runs.slice(1)).toEqual([
      'npm ci --no-audit --no-fund',
      'npm run -s lock -- check-provenance --base "$BASE_SHA" --head "$HEAD_SHA" --require-signatures',
    ]);
  });

  test('scorecard.yml: OpenSSF Scorecard weekly and on main, read-only but for code scanning and its OIDC identity', async () => {
    const wf = await load('scorecard.yml');
    expect(wf.permissions).toEqual({});
    expect(Object.keys(wf.jobs)).toEqual(['analysis']);
    const job = wf.jobs.analysis;
    expect(job.permissions).toEqual({ contents: 'read', 'security-events': 'write', 'id-token': 'write' });
    expect(job.steps.map((st: { uses: string }) => st.uses.split('@')[0])).toEqual([
      'actions/checkout',
      'ossf/scorecard-action',
      'github/codeql-action/upload-sarif',
    ]);
  });

  test('every checkout leaves no token in .git/config (persist-credentials: false): package scripts and PR files cannot read one', async () => {
    const persisted = (wf: {
      jobs: Record<string, { steps?: { uses?: string; with?: Record<string, unknown> }[] }>;
    }) =>
      Object.entries(wf.jobs).flatMap(([id, job]) =>
        (job.steps ?? [])
          .filter((s) => s.uses?.startsWith('actions/checkout@') && s.with?.['persist-credentials'] !== false)
          .map(() => id),
      );
    // The check can fail: a checkout with the default.
    expect(persisted({ jobs: { j: { steps: [{ uses: 'actions/checkout@x' }] } } })).toEqual(['j']);
    for (const f of await workflowFiles())
      expect({ f, persisted: persisted(await load(f)) }).toEqual({ f, persisted: [] });
  });

  test('CODEOWNERS covers the lock (index and version files), environments/, the workflows, package.json, scripts, pipelines and the server', async () => {
    const owners = (await readFile(join(REPO_ROOT, '.github', 'CODEOWNERS'), 'utf8'))
      .split('\n')
      .filter((l) => l.trim() && !l.startsWith('#'))
      .map((l) => l.split(/\s+/));
    const ownerOf = (pattern: string) => owners.find(([p]) => p === pattern)?.slice(1);
    // One team (the template's placeholder, or the fork's after npm run init) owns them all.
    const team = ownerOf('/.github/')?.[0] ?? '';
    expect(team).toMatch(/^@[\w-]+\/[\w.-]+$/);
    for (const pattern of [
      '/models.lock.json',
      '/models.lock.d/',
      '/environments/',
      '/.github/',
      // issue 23 (low): what runs with credentials or decides a promotion
      '/package.json',
      '/package-lock.json',
      '/scripts/',
      '/pipelines/',
      '/serving/',
    ]) {
      expect([pattern, ownerOf(pattern)]).toEqual([pattern, [team]]);
    }
    // Every path CODEOWNERS names exists (a moved file loses its owners silently); the
    // version files' folder comes with the first candidate.
    for (const [pattern] of owners.filter(([p]) => p !== '/models.lock.d/')) {
      expect([pattern, existsSync(join(REPO_ROOT, pattern as string))]).toEqual([pattern, true]);
    }
  });

  test('no workflow passes secrets: inherit', async () => {
    for (const f of [
      'ci.yml',
      'drift.yml',
      'image.yml',
      'promote.yml',
      'provenance.yml',
      'train.yml',
      'verify.yml',
    ]) {
      expect([f, await readFile(join(DIR, f), 'utf8')]).toEqual([f, expect.not.stringContaining('inherit')]);
    }
  });

  test('promote.yml: dev, then staging and prod behind their environments, one concurrency group each, never cancelled', async () => {
    const wf = await load('promote.yml');
    expect(wf.on.push.branches).toEqual(['main']);
    for (const env of ['dev', 'staging', 'prod']) {
      const job = wf.jobs[`promote-${env}`];
      expect(job.environment).toBe(env);
      expect(job.concurrency).toEqual({ group: `promote-${env}`, 'cancel-in-progress': false });
      expect(job.steps.at(-1).run).toBe(
        env === 'dev'
          ? 'npm run promote -- --env dev --image "$SERVER_IMAGE" --commit --push'
          : `npm run promote -- --env ${env} --commit --push`,
      );
      expect(wf.jobs[`verify-${env}`]).toMatchObject({
        uses: './.github/workflows/verify.yml',
        with: { env },
      });
    }
    // dev runs the serving image built from this main, by digest; staging and prod carry it on.
    expect(wf.jobs['promote-dev'].needs).toBe('image');
    expect(wf.jobs['promote-dev'].steps.at(-1).env.SERVER_IMAGE).toBe(gha('needs.image.outputs.server'));
    expect(wf.jobs['promote-staging'].needs).toBe('verify-dev');
    expect(wf.jobs['promote-prod'].needs).toBe('verify-staging');
  });

  test("issue 23.3: every push to main (promote, rollback, revert, pin-images) uses the promotion App's token, from an environment limited to main; a promotion's own commits do not start promote.yml", async () => {
    type Step = {
      id?: string;
      run?: string;
      uses?: string;
      with?: Record<string, unknown>;
      env?: Record<string, string>;
    };
    const pushing: [string, string, unknown][] = [];
    for (const f of ['promote.yml', 'verify.yml']) {
      const wf = await load(f);
      for (const [id, job] of Object.entries<{ permissions: unknown; environment?: unknown; steps?: Step[] }>(
        wf.jobs,
      )) {
        const steps = job.steps ?? [];
        const pushes = steps.filter((st) => /--push\b/.test(st.run ?? ''));
        if (pushes.length === 0) continue;
        pushing.push([f, id, job.environment]);
        expect([f, id, job.permissions]).toEqual([f, id, { contents: 'read' }]);
        const app = steps.find((st) => st.uses?.startsWith('actions/create-github-app-token@')) as Step;
        expect(app).toMatchObject({
          id: 'app',
          with: {
            'client-id': gha('vars.PROMOTION_APP_CLIENT_ID'),
            'private-key': gha('secrets.PROMOTION_APP_PRIVATE_KEY'),
            'permission-contents': 'write',
          },
        });
        // Minted after npm ci, passed to the pushing steps only; the checkout keeps no credentials.
        expect(steps.indexOf(app)).toBeGreaterThan(
          steps.findIndex((st) => st.run === 'npm ci --no-audit --no-fund'),
        );
        expect(steps[0]?.with).toMatchObject({ ref: 'main', 'persist-credentials': false });
        for (const st of pushes)
          expect([st.run, st.env?.GITHUB_TOKEN]).toEqual([st.run, gha('steps.app.outputs.token')]);
        expect(steps.filter((st) => st.env?.GITHUB_TOKEN).length).toBe(pushes.length);
      }
    }
    expect(pushing).toEqual([
      ['promote.yml', 'promote-dev', 'dev'],
      ['promote.yml', 'promote-staging', 'staging'],
      ['promote.yml', 'promote-prod', 'prod'],
      ['promote.yml', 'rollback', gha('inputs.env')],
      ['verify.yml', 'revert', 'revert'],
    ]);
    // The App's token starts workflows: a push of only what a promotion commits (the lock's index, a
    // pin file, the images pin-images sets) does not start promote.yml again.
    const promote = await load('promote.yml');
    expect(promote.on.push['paths-ignore']).toEqual([
      LOCK_FILE_NAME,
      `environments/*/${PIN_FILE}`,
      'manifests/training-job/kustomization.yaml',
      'manifests/alert-relay/kustomization.yaml',
    ]);
  });

  test('image.yml: both images pushed with an SBOM and max provenance, attested; write scopes only in that job', async () => {
    const wf = await load('image.yml');
    expect(Object.keys(wf.on).sort()).toEqual(['push', 'workflow_call', 'workflow_dispatch']);
    expect(wf.on.push.tags).toEqual(['v*']);
    expect(wf.permissions).toEqual({});
    const build = wf.jobs.build;
    expect(build.permissions).toEqual({
      contents: 'read',
      packages: 'write',
      'id-token': 'write',
      attestations: 'write',
    });
    const pushes = build.steps.filter((s: { uses?: string }) =>
      s.uses?.startsWith('docker/build-push-action@'),
    );
    expect(
      pushes.map((s: { with: { file: string; target: string } }) => [s.with.file, s.with.target]),
    ).toEqual([
      ['serving/Dockerfile', 'runtime'],
      ['serving/Dockerfile', 'trainer'],
      ['serving/Dockerfile', 'relay'],
    ]);
    for (const s of pushes) expect(s.with).toMatchObject({ push: true, sbom: true, provenance: 'mode=max' });
    // buildx by version (a low finding of the review: "latest" was whatever shipped that day).
    const buildx = build.steps.find((s: { uses?: string }) =>
      s.uses?.startsWith('docker/setup-buildx-action@'),
    );
    expect(buildx.with?.version).toMatch(/^v\d+\.\d+\.\d+$/);
    const attests = build.steps.filter((s: { uses?: string }) =>
      s.uses?.startsWith('actions/attest-build-provenance@'),
    );
    expect(attests.map((s: { with: { 'subject-digest': string } }) => s.with['subject-digest'])).toEqual([
      gha('steps.server.outputs.digest'),
      gha('steps.trainer.outputs.digest'),
      gha('steps.relay.outputs.digest'),
    ]);
    expect(build.outputs.server).toBe(
      `${gha('steps.names.outputs.server')}@${gha('steps.server.outputs.digest')}`,
    );
    // No other job of any workflow may write packages, mint OIDC tokens or attest (promote.yml's caller job grants them to image.yml only),
    // but train.yml's publish job, which signs the checked lock entry keyless (docs/signing.md) and runs only the base branch's code.
    for (const f of ['ci.yml', 'drift.yml', 'promote.yml', 'provenance.yml', 'train.yml', 'verify.yml']) {
      const other = await load(f);
      for (const [id, job] of Object.entries<{ permissions?: Record<string, string>; uses?: string }>(
        other.jobs,
      )) {
        const writes = ['packages', 'id-token', 'attestations'].filter(
          (k) => job.permissions?.[k] === 'write',
        );
        const signsLock = f === 'train.yml' && id === 'publish';
        const left =
          job.uses === './.github/workflows/image.yml'
            ? []
            : writes.filter((w) => !(signsLock && w === 'id-token'));
        expect({ f, id, writes: left }).toEqual({
          f,
          id,
          writes: [],
        });
      }
    }
  });

  test('verify.yml: the checks and the soak read only; a failure the model caused is reverted by the one job that may push, and the chain stops', async () => {
    const wf = await load('verify.yml');
    const { verify, revert } = wf.jobs;
    const verifyRevert = wf.jobs['verify-revert'];
    expect(Object.keys(wf.jobs)).toEqual(['verify', 'revert', 'verify-revert']);
    // Only the GitHub-hosted revert job pushes (with the promotion App's token); the cluster runner never holds a token that can push.
    for (const [id, job] of Object.entries<{ permissions: Record<string, string>; 'runs-on': unknown }>(
      wf.jobs,
    )) {
      expect([id, job.permissions]).toEqual([id, { contents: 'read' }]);
      expect([id, job['runs-on']]).toEqual([
        id,
        id === 'revert' ? 'ubuntu-latest' : ['self-hosted', 'cluster'],
      ]);
    }
    const step = verify.steps.at(-1);
    expect(step.id).toBe('verify');
    expect(step.env).toMatchObject({
      SOAK: gha("vars.PROMETHEUS_URL != '' && inputs.soak || '0'"),
      PROMETHEUS_URL: gha('vars.PROMETHEUS_URL'),
      PROMETHEUS_TOKEN: gha('secrets.PROMETHEUS_TOKEN'),
    });
    expect(verify.outputs).toEqual({
      revert: gha('steps.verify.outputs.revert'),
      version: gha('steps.verify.outputs.version'),
      reason: gha('steps.verify.outputs.reason'),
    });
    expect(wf.on.workflow_call.inputs.soak.default).toBe('10m');
    expect(revert.needs).toBe('verify');
    expect(revert.if).toBe("failure() && inputs.revert && needs.verify.outputs.revert == 'true'");
    expect(revert.concurrency).toEqual({
      group: `promote-${gha('inputs.env')}`,
      'cancel-in-progress': false,
    });
    expect(revert.steps.at(-1).run).toBe(
      'npm run revert -- --env "$VERIFY_ENV" --version "$FAILED_VERSION" --reason "$REASON" --commit --push',
    );
    // The reason reaches the shell as a variable, never spliced into the script text.
    expect(revert.steps.at(-1).env).toMatchObject({
      FAILED_VERSION: gha('needs.verify.outputs.version'),
      REASON: gha('needs.verify.outputs.reason'),
    });
    expect(verifyRevert.needs).toBe('revert');
    expect(verifyRevert.steps.at(-1).run).toBe('npm run verify-rollout -- --env "$VERIFY_ENV"');

    const promote = await load('promote.yml');
    for (const env of ['dev', 'staging', 'prod']) {
      expect(promote.jobs[`verify-${env}`].secrets).toEqual({
        MLFLOW_TRACKING_TOKEN: gha('secrets.MLFLOW_TRACKING_TOKEN'),
        PROMETHEUS_TOKEN: gha('secrets.PROMETHEUS_TOKEN'),
      });
      // The revert pushes with the promotion App's token: no caller grants write any more.
      expect(promote.jobs[`verify-${env}`].permissions).toEqual({ contents: 'read' });
    }
    // The next environment runs only after a verify that succeeded: a revert fails the called workflow.
    expect(promote.jobs['promote-staging'].if).toBeUndefined();
    expect(promote.jobs['promote-prod'].if).toBeUndefined();
    // A rollback is verified, never soaked or reverted (that would pin the version rolled away from).
    expect(promote.jobs['verify-rollback'].with).toMatchObject({ soak: '0', revert: false });
  });

  test('verify.yml and drift.yml call their scripts on their events', async () => {
    const verify = await load('verify.yml');
    expect(Object.keys(verify.on).sort()).toEqual(['workflow_call', 'workflow_dispatch']);
    expect(verify.jobs.verify.steps.at(-1).run).toBe(
      'npm run verify-rollout -- --env "$VERIFY_ENV" --soak "$SOAK"',
    );
    const drift = await load('drift.yml');
    expect(Object.keys(drift.on).sort()).toEqual(['schedule', 'workflow_dispatch']);
    // The alert relay's token has Actions: write only: it starts drift.yml by workflow_dispatch,
    // giving the alerts as `reason` (a repository_dispatch would need Contents: write).
    expect(Object.keys(drift.on.workflow_dispatch.inputs)).toEqual(['reason']);
    expect(drift.on.workflow_dispatch.inputs.reason).toMatchObject({ required: false, type: 'string' });
    // The schedule retrains only when Prometheus says a drift alert fires; a dispatch or a person at once.
    const runs = drift.jobs.retrain.steps.filter((s: { run?: string }) =>
      s.run?.startsWith('npm run retrain'),
    );
    // With RETRAIN_FROM_FEEDBACK=true, both first build the next dataset from the labelled captures in the store.
    const fromFeedback = gha("vars.RETRAIN_FROM_FEEDBACK == 'true' && '--data-from-feedback' || ''");
    expect(runs.map((s: { if: string; run: string }) => [s.if, s.run])).toEqual([
      ["github.event_name == 'schedule'", `npm run retrain -- --if-drift ${fromFeedback}`],
      ["github.event_name != 'schedule'", `npm run retrain -- ${fromFeedback}`],
    ]);
    expect(runs[0].env.PROMETHEUS_URL).toBe(gha('vars.PROMETHEUS_URL'));
    for (const step of runs) {
      expect(step.env).toMatchObject({
        OBJECT_STORE_ENDPOINT: gha('vars.OBJECT_STORE_ENDPOINT'),
        OBJECT_STORE_BUCKET: gha('vars.OBJECT_STORE_BUCKET'),
        AWS_ACCESS_KEY_ID: gha('secrets.AWS_ACCESS_KEY_ID'),
        AWS_SECRET_ACCESS_KEY: gha('secrets.AWS_SECRET_ACCESS_KEY'),
      });
    }
  });
});

describe('workflowProblems', () => {
  const wf = (body: string) => `name: t\non:\n  pull_request:\npermissions: {}\njobs:\n${body}`;

  test('a job without permissions, an unpinned action and a missing version comment', () => {
    const text = wf(
      [
        '  a:',
        '    runs-on: ubuntu-latest',
        '    steps:',
        '      - uses: actions/checkout@v5',
        '      - uses: actions/setup-node@2028fbc5c25fe9cf00d9f06a71cc4710d4507903',
        '',
      ].join('\n'),
    );
    expect(workflowProblems('t.yml', text)).toEqual([
      't.yml: job a: no permissions',
      't.yml: job a: actions/checkout@v5 is not pinned to a full commit SHA',
      't.yml:9: actions/checkout@v5 has no "# vX" comment naming the release',
      't.yml:10: actions/setup-node@2028fbc5c25fe9cf00d9f06a71cc4710d4507903 has no "# vX" comment naming the release',
    ]);
  });

  test('regression (issue 11): a self-hosted job on pull_request is refused even behind the old label/fork if:', () => {
    const text = wf(
      [
        '  a:',
        "    if: github.event.pull_request.head.repo.full_name == github.repository || github.event.label.name == 'safe-to-train'",
        '    runs-on: [self-hosted, gpu]',
        '    permissions: {}',
        '    steps:',
        `      - uses: ${SHA}`,
        '',
      ].join('\n'),
    );
    expect(workflowProblems('t.yml', text)).toEqual([
      "t.yml: job a: runs on a self-hosted runner for pull_request: GitHub runs the pull request's copy of this file, which a fork can edit; run it from a pull_request_target workflow behind the gate (npm run -s ci:authorize-training)",
    ]);
  });

  const target = (jobs: string[]) =>
    ['on: pull_request_target', 'permissions: {}', 'jobs:', ...jobs, ''].join('\n');
  const gateJob = (extra: string[] = []) => [
    '  gate:',
    '    runs-on: ubuntu-latest',
    '    permissions: {}',
    '    outputs:',
    `      authorized: ${expr('steps.d.outputs.authorized')}`,
    '    steps:',
    `      - uses: ${SHA}`,
    ...extra,
    '      - id: d',
    '        run: npm run -s ci:authorize-training',
  ];

  test('pull_request_target: a self-hosted job behind the gate passes', () => {
    const text = target([
      ...gateJob(),
      '  train:',
      '    needs: gate',
      "    if: needs.gate.outputs.authorized == 'true'",
      '    runs-on: [self-hosted, gpu]',
      '    permissions: {}',
      '    steps:',
      `      - uses: ${SHA}`,
      '        with:',
      `          ref: ${expr('github.event.pull_request.head.sha')}`,
    ]);
    expect(workflowProblems('t.yml', text)).toEqual([]);
  });

  test('regression (issue 23.13): a gpu job that trains without the GPU set-up or TRAINING_BACKEND is refused', () => {
    const job = (steps: string[]) =>
      target([
        ...gateJob(),
        '  train:',
        '    needs: gate',
        "    if: needs.gate.outputs.authorized == 'true'",
        '    runs-on: [self-hosted, gpu]',
        '    permissions: {}',
        '    steps:',
        ...steps,
      ]);
    const train = [
      '      - run: npm run ci:train',
      '        env:',
      '          TRAINING_BACKEND: tensorflow-gpu',
    ];
    const setup = ['      - run: bash scripts/setup.d/71-tfjs-native-gpu.sh'];
    expect(workflowProblems('t.yml', job([...setup, ...train]))).toEqual([]);
    expect(workflowProblems('t.yml', job(['      - run: npm run ci:train']))).toEqual([
      't.yml: job train: trains on a gpu runner without running bash scripts/setup.d/71-tfjs-native-gpu.sh first',
      't.yml: job train: trains on a gpu runner without TRAINING_BACKEND: tensorflow-gpu (it would train on the CPU unseen)',
    ]);
    expect(workflowProblems('t.yml', job([...train, ...setup]))).toEqual([
      't.yml: job train: trains on a gpu runner without running bash scripts/setup.d/71-tfjs-native-gpu.sh first',
    ]);
  });

  test('regression (issue 23.8): a self-hosted job of a workflow run by hand needs the main-only condition', () => {
    const text = (cond: string) =>
      [
        'on:',
        '  workflow_dispatch:',
        '  workflow_call:',
        'permissions: {}',
        'jobs:',
        '  verify:',
        ...(cond ? [`    if: ${cond}`] : []),
        '    runs-on: [self-hosted, cluster]',
        '    permissions: {}',
        '    steps:',
        '      - run: npm run verify-rollout',
        '',
      ].join('\n');
    expect(workflowProblems('t.yml', text(''))).toEqual([
      "t.yml: job verify: runs on a self-hosted runner for workflow_dispatch, workflow_call from any branch; add if: github.ref == 'refs/heads/main'",
    ]);
    expect(workflowProblems('t.yml', text("github.ref == 'refs/heads/main'"))).toEqual([]);
  });

  test('pull_request_target: self-hosted or PR checkout without the gate, a gate that checks out the PR, secrets: inherit, write at the top', () => {
    const text = [
      'on: pull_request_target',
      'permissions:',
      '  contents: write',
      'jobs:',
      ...gateJob(['        with:', `          ref: ${expr('github.event.pull_request.head.sha')}`]),
      '  a:',
      '    runs-on: [self-hosted]',
      '    permissions: {}',
      '    steps:',
      '      - run: echo',
      '  b:',
      '    needs: gate',
      '    runs-on: ubuntu-latest',
      '    permissions: {}',
      '    steps:',
      `      - uses: ${SHA}`,
      '        with:',
      `          ref: ${expr('github.event.pull_request.head.sha')}`,
      '  c:',
      '    permissions: {}',
      '    uses: ./.github/workflows/verify.yml',
      '    secrets: inherit',
      '',
    ].join('\n');
    expect(workflowProblems('t.yml', text)).toEqual([
      't.yml: top-level permissions grant more than read',
      `t.yml: job gate: the gate checks out ${expr('github.event.pull_request.head.sha')}; it must run the base branch's code only`,
      "t.yml: job a: runs on a self-hosted runner for pull_request_target without the gate (needs a job running npm run -s ci:authorize-training, and if: needs.<gate>.outputs.authorized == 'true')",
      `t.yml: job b: checks out ${expr('github.event.pull_request.head.sha')} for pull_request_target without the gate (needs a job running npm run -s ci:authorize-training, and if: needs.<gate>.outputs.authorized == 'true')`,
      't.yml: job c: secrets: inherit passes every secret; name the ones the called workflow needs',
    ]);
  });

  test("regression (issue 23.3): a job that runs the pull request's code with write access is refused; read-only, or writing on the base branch, passes", () => {
    const fix =
      "a job that runs the pull request's code may only read: hand what it makes to a job that runs the base branch's code (an artifact), and write there";
    const head = expr('needs.gate.outputs.sha');
    const job = (perms: string[], checkout: string[]) =>
      target([
        ...gateJob(),
        '  train:',
        '    needs: gate',
        "    if: needs.gate.outputs.authorized == 'true'",
        '    runs-on: ubuntu-latest',
        '    permissions:',
        ...perms,
        '    steps:',
        `      - uses: ${SHA}`,
        '        with:',
        ...checkout,
      ]);
    // train.yml's train job before the fix: the authorized head, checked out with contents: write.
    expect(
      workflowProblems(
        't.yml',
        job(['      contents: write', '      pull-requests: write'], [`          ref: ${head}`]),
      ),
    ).toEqual([
      `t.yml: job train: checks out ${head} (the pull request's code) with contents: write, pull-requests: write; ${fix}`,
    ]);
    expect(workflowProblems('t.yml', job(['      contents: read'], [`          ref: ${head}`]))).toEqual([]);
    // The base branch, named or by default, may be written from.
    const baseSha = expr('github.event.pull_request.base.sha');
    expect(workflowProblems('t.yml', job(['      contents: write'], [`          ref: ${baseSha}`]))).toEqual(
      [],
    );
    expect(workflowProblems('t.yml', job(['      contents: write'], ['          fetch-depth: 0']))).toEqual(
      [],
    );
    // The fork's repository is the pull request's code too.
    const fork = expr('github.event.pull_request.head.repo.full_name');
    expect(
      workflowProblems('t.yml', job(['      contents: write'], [`          repository: ${fork}`])),
    ).toEqual([
      `t.yml: job train: checks out repository ${fork} (the pull request's code) with contents: write; ${fix}`,
    ]);
    // On pull_request every job runs the pull request's code (its merge commit).
    const onPr = (perms: string) =>
      wf(
        [
          '  test:',
          '    runs-on: ubuntu-latest',
          `    permissions: ${perms}`,
          '    steps:',
          '      - run: npm test',
          '',
        ].join('\n'),
      );
    expect(workflowProblems('t.yml', onPr('{ pull-requests: write }'))).toEqual([
      `t.yml: job test: runs the pull request's code (on pull_request) with pull-requests: write; ${fix}`,
    ]);
    expect(workflowProblems('t.yml', onPr('write-all'))).toEqual([
      `t.yml: job test: runs the pull request's code (on pull_request) with write-all; ${fix}`,
    ]);
    expect(workflowProblems('t.yml', onPr('{ contents: read }'))).toEqual([]);
  });

  test("regression (issue 23.3): a push to main with the job token, without the promotion App's token, or minting it outside an environment is refused", () => {
    const push = (o: { contents: string; environment?: string; app?: boolean; token?: string }) =>
      [
        'on: push',
        'permissions: {}',
        'jobs:',
        '  promote:',
        '    runs-on: ubuntu-latest',
        ...(o.environment ? [`    environment: ${o.environment}`] : []),
        '    permissions:',
        `      contents: ${o.contents}`,
        '    steps:',
        `      - uses: ${SHA}`,
        ...(o.app
          ? ['      - id: app', `        uses: actions/create-github-app-token@${'1'.repeat(40)} # v3.1.1`]
          : []),
        '      - run: npm run promote -- --env dev --commit --push',
        ...(o.token ? ['        env:', `          GITHUB_TOKEN: ${o.token}`] : []),
        '',
      ].join('\n');
    const without = `p.yml: job promote: \`npm run promote -- --env dev --commit --push\` pushes without the promotion App's token: set its env GITHUB_TOKEN to ${expr('steps.<id>.outputs.token')} of an earlier actions/create-github-app-token@ step`;
    // promote.yml before the fix: the job token, contents: write.
    expect(workflowProblems('p.yml', push({ contents: 'write', environment: 'dev' }))).toEqual([
      "p.yml: job promote: pushes with the job token (contents: write), which a main that requires reviews refuses; push with the promotion App's token and give the job contents: read",
      without,
    ]);
    const app = expr('steps.app.outputs.token');
    expect(
      workflowProblems('p.yml', push({ contents: 'read', environment: 'dev', app: true, token: app })),
    ).toEqual([]);
    // The job token in place of the App's, or no token at all.
    expect(
      workflowProblems(
        'p.yml',
        push({ contents: 'read', environment: 'dev', app: true, token: expr('github.token') }),
      ),
    ).toEqual([without]);
    expect(workflowProblems('p.yml', push({ contents: 'read', environment: 'dev', app: true }))).toEqual([
      without,
    ]);
    // The App's private key outside an environment: a repository secret any branch's workflow can read.
    expect(workflowProblems('p.yml', push({ contents: 'read', app: true, token: app }))).toEqual([
      'p.yml: job promote: mints a GitHub App token without an environment: its private key would be a repository secret, which a workflow on any branch can read; keep it in an environment limited to main',
    ]);
  });

  test('fields of the wrong shape are read as absent, never a TypeError', () => {
    const text = [
      'on: push',
      'permissions: 5',
      'jobs:',
      '  a: 5',
      '  b:',
      '    permissions: {}',
      '    steps: 5',
      '  c:',
      '    permissions: {}',
      '    runs-on: {labels: self-hosted}',
      '    steps: [null, {uses: 7}]',
      '',
    ].join('\n');
    expect(workflowProblems('w.yml', text)).toEqual([
      'w.yml: top-level permissions grant more than read',
      'w.yml: job a: no permissions',
    ]);
    expect(workflowProblems('w.yml', '- a list\n')).toEqual(['w.yml: not a workflow']);
  });
});
