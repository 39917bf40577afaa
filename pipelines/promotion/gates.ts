/**
 * Evaluate the gates of an environment against one candidate version. Every
 * gate is evaluated (none short-circuits), so a refusal lists all that
 * failed; the result is a table a reviewer reads in the job log.
 */

import { type Lock, type LockedModel, type VerifyOptions, verifyLock } from '../../lock/index.ts';
import {
  compareWithChampion,
  formatP,
  formatPoints,
  GOLDEN_FILE,
  type GoldenEvaluation,
  type PairedComparison,
  parseGoldenText,
  verdictSentence,
} from '../../model/golden/index.ts';
import { readVerifiedFiles } from '../../platform/artifact-store/index.ts';
import { ProjectError } from '../../platform/errors.ts';
import { GATES_FILE, type Gates, type MetricDropGate, type PairedGate } from './config.ts';
import type { ImageAttestationChecker } from './image-attestation.ts';
import { notRevertedGate } from './not-reverted.ts';
import { type ShadowReader, shadowRows } from './shadow-evidence.ts';
import type { SignatureChecker } from './signature.ts';

/** One row of the gate table. */
export interface GateResult {
  /** The gate and what it is about, e.g. `minMetric accuracy`. */
  gate: string;
  expected: string;
  actual: string;
  pass: boolean;
  /** pairedNonInferiority: the comparison it decided on. */
  paired?: PairedComparison;
}

/** What a digest check found for one version: ok, or one line per problem. */
export interface DigestCheck {
  ok: boolean;
  files: number;
  problems: string[];
}

/** Checks the artifact files of one version against the lock (side effect passed in). */
export type DigestVerifier = (lock: Lock, model: string, version: string) => Promise<DigestCheck>;

/**
 * golden.json of one version, verified against the lock entry's digest;
 * undefined when its artifact has none (side effect passed in).
 */
export type GoldenReader = (
  lock: Lock,
  model: string,
  version: string,
) => Promise<GoldenEvaluation | undefined>;

export interface EvaluateInput {
  lock: Lock;
  model: string;
  version: string;
  gates: Gates;
  /** Needed when `gates.verifyDigests` is true. */
  verifyDigests?: DigestVerifier;
  /** The serving image the move pins (the imageAttested gate's subject). */
  image?: string;
  /** Needed when `gates.imageAttested` is true. */
  checkImage?: ImageAttestationChecker;
  /** Needed when `gates.signed` is true. */
  checkSignature?: SignatureChecker;
  /** Skip the digest gate (a re-check after a rebase: the entry is immutable, its files were checked). */
  skipDigests?: boolean;
  /** Needed when `gates.pairedNonInferiority` is set. */
  readGolden?: GoldenReader;
  /** Why a reverted version is promoted anyway (`--allow-reverted`): the notReverted gate passes, saying so. */
  allowReverted?: string;
  /** The environment promoted to (the shadow gate's default environment). */
  env?: string;
  /** Needed when `gates.shadow` is set: the evidence of shadow traffic (./shadow-evidence.ts). */
  readShadow?: ShadowReader;
}

const fmt = (n: number | undefined): string =>
  n === undefined ? 'missing' : Number.isInteger(n) ? String(n) : String(Number(n.toFixed(6)));

/**
 * A {@link DigestVerifier} over lock verifyLock: every file of the one
 * version, fetched from its artifactUri (local path relative to the lock's
 * folder, `mlflow-artifacts:/`, http(s)), streamed through sha256.
 */
export function lockDigestVerifier(options: Omit<VerifyOptions, 'all' | 'envs' | 'models'>): DigestVerifier {
  return async (lock, model, version) => {
    const entry = lock.models[model]?.versions[version];
    if (!entry) {
      return { ok: false, files: 0, problems: [`model "${model}" has no version ${version}`] };
    }
    const one: Lock = {
      lockfileVersion: 2,
      models: { [model]: { pins: {}, versions: { [version]: entry }, promotions: [] } },
    };
    const report = await verifyLock(one, { ...options, all: true });
    return {
      ok: report.ok,
      files: report.versions[0]?.files ?? 0,
      problems: report.problems.map((p) => p.message),
    };
  };
}

/**
 * A {@link GoldenReader} over platform/artifact-store: golden.json fetched from
 * the entry's artifactUri and sha256-checked against `digests["golden.json"]`
 * (which provenance.yml checked against the MLflow run). No TensorFlow.
 */
export function lockGoldenReader(
  options: Omit<VerifyOptions, 'all' | 'envs' | 'models' | 'lockDir'> & { lockDir: string },
): GoldenReader {
  return async (lock, model, version) => {
    const entry = lock.models[model]?.versions[version];
    const digest = entry?.digests[GOLDEN_FILE];
    if (!entry || !digest) return undefined;
    const files = await readVerifiedFiles(
      entry.artifactUri,
      { [GOLDEN_FILE]: digest },
      {
        baseDir: options.lockDir,
        about: `model ${model} version ${version}: `,
        mlflow: options.mlflow,
        fetch: options.fetch,
        timeoutMs: 60_000,
      },
    );
    const text = Buffer.from(files.get(GOLDEN_FILE) as Uint8Array).toString('utf8');
    return parseGoldenText(text, `${model} version ${version} ${GOLDEN_FILE}`);
  };
}

const pct = (x: number) => `${Number((x * 100).toFixed(2))}`;

/** One pairedNonInferiority row; never throws for what it finds (a fetch error is a failing row). */
async function pairedGate(
  lock: Lock,
  model: string,
  version: string,
  g: PairedGate,
  read: GoldenReader,
): Promise<GateResult> {
  const gate = `pairedNonInferiority vs ${g.vs}`;
  const expected = `golden-set accuracy >= ${g.vs}'s - ${pct(g.margin)} pt (one-sided ${pct(1 - g.alpha)}% bound)`;
  const pinned = lock.models[model]?.pins[g.vs];
  if (pinned === undefined) {
    return { gate, expected, actual: `no champion: ${g.vs} has no pin yet, nothing to compare`, pass: true };
  }
  if (pinned === version) {
    return {
      gate,
      expected,
      actual: `${version} is the version ${g.vs} runs (the champion itself)`,
      pass: true,
    };
  }
  const fail = (actual: string): GateResult => ({ gate, expected, actual, pass: false });
  let cand: GoldenEvaluation | undefined;
  let own: GoldenEvaluation | undefined;
  try {
    cand = await read(lock, model, version);
    if (!cand) {
      return fail(
        `${version} was not scored on a golden set (no ${GOLDEN_FILE} in its artifact): add a golden section to its training config and train it again (npm run ci:train on its pull request)`,
      );
    }
    if (cand.champion?.version !== pinned) own = await read(lock, model, pinned);
  } catch (e) {
    return fail(`cannot read ${GOLDEN_FILE}: ${(e as Error).message.split('\n')[0]}`);
  }
  const compared = compareWithChampion(cand, pinned, g, own);
  if (!compared.ok) {
    return fail(
      `${compared.problem}: train the candidate again so that its run scores ${g.vs}'s ${pinned} on the golden set (npm run ci:train on its pull request, or npm run train -- --lock models.lock.json)`,
    );
  }
  const r = compared.result;
  return {
    gate,
    expected,
    actual: `${verdictSentence(r, `${g.vs} ${pinned}`)}; Δ ${formatPoints(r.delta)} on ${cand.name} (n=${r.n}, ${r.b} fixed / ${r.c} broken, McNemar p=${formatP(r.mcnemar.pValue)})`,
    pass: r.notWorse,
    paired: r,
  };
}

/** Evaluate every gate of `gates` for `model` version `version`; never throws for a failing gate. */
export async function evaluateGates(input: EvaluateInput): Promise<GateResult[]> {
  const { lock, model, version, gates } = input;
  const m = lock.models[model];
  const entry = m?.versions[version];
  if (!m || !entry) {
    throw new ProjectError('NOT_FOUND', `model "${model}" has no version "${version}" in the lock`, {
      subject: `${model}@${version}`,
    });
  }
  const results = metricRows(gates, entry.metrics);
  for (const drop of gates.maxMetricDrop ?? []) results.push(metricDropRow(drop, m, entry.metrics));
  for (const g of gates.pairedNonInferiority ?? []) {
    if (!input.readGolden)
      throw new Error('evaluateGates: pairedNonInferiority gate without a golden reader');
    results.push(await pairedGate(lock, model, version, g, input.readGolden));
  }
  if (gates.verifyDigests) results.push(await digestRow(input));
  if (gates.signed) results.push(await signatureRow(input));
  if (gates.imageAttested) results.push(await imageRow(input));
  if (gates.shadow) {
    if (!input.env) throw new Error('evaluateGates: shadow gate without the environment promoted to');
    results.push(...(await shadowRows(gates.shadow, { env: input.env, model, version }, input.readShadow)));
  }
  // notReverted (./not-reverted.ts): kept apart from the gates above.
  if (gates.notReverted) results.push(notRevertedGate(lock, model, version, input.allowReverted));
  return results;
}

/** A metric of the candidate when it is a finite number, else undefined. */
const finiteMetric = (metrics: Record<string, number>, k: string): number | undefined => {
  const v = metrics[k];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
};

/** The metricsPresent row and one minMetric row per metric (sorted by name). */
function metricRows(gates: Gates, metrics: Record<string, number>): GateResult[] {
  const results: GateResult[] = [];
  if (gates.metricsPresent) {
    const missing = gates.metricsPresent.filter((k) => finiteMetric(metrics, k) === undefined);
    results.push({
      gate: 'metricsPresent',
      expected: gates.metricsPresent.join(', ') || '(none)',
      actual: missing.length ? `missing: ${missing.join(', ')}` : 'all present',
      pass: missing.length === 0,
    });
  }
  for (const [metric, min] of Object.entries(gates.minMetric ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    const actual = finiteMetric(metrics, metric);
    results.push({
      gate: `minMetric ${metric}`,
      expected: `>= ${fmt(min)}`,
      actual: fmt(actual),
      pass: actual !== undefined && actual >= min,
    });
  }
  return results;
}

/** One maxMetricDrop row: the candidate's metric against the version `drop.vs` pins, less the margin. */
function metricDropRow(drop: MetricDropGate, m: LockedModel, metrics: Record<string, number>): GateResult {
  const gate = `maxMetricDrop ${drop.metric} vs ${drop.vs}`;
  const pinned = m.pins[drop.vs];
  const actual = finiteMetric(metrics, drop.metric);
  if (pinned === undefined) {
    return {
      gate,
      expected: `>= ${drop.vs} - ${fmt(drop.margin)}`,
      actual: `${fmt(actual)} (${drop.vs} has no pin yet: nothing to compare)`,
      pass: actual !== undefined,
    };
  }
  const ref = m.versions[pinned]?.metrics[drop.metric];
  if (ref === undefined || !Number.isFinite(ref)) {
    return {
      gate,
      expected: `>= ${drop.vs} (version ${pinned}) - ${fmt(drop.margin)}`,
      actual: `${fmt(actual)} (version ${pinned} pinned in ${drop.vs} has no ${drop.metric})`,
      pass: false,
    };
  }
  const floor = ref - drop.margin;
  // Compare with a little tolerance so that 0.95 - 0.01 accepts 0.94 despite float rounding.
  return {
    gate,
    expected: `>= ${fmt(floor)} (${drop.vs} version ${pinned}: ${fmt(ref)} - ${fmt(drop.margin)})`,
    actual: fmt(actual),
    pass: actual !== undefined && actual >= floor - 1e-12,
  };
}

/** The verifyDigests row: every artifact file fetched and hashed, or "checked before the rebase" on a re-check. */
async function digestRow(input: EvaluateInput): Promise<GateResult> {
  const gate = 'verifyDigests';
  const expected = 'every file has its locked sha256';
  if (input.skipDigests) return { gate, expected, actual: 'checked before the rebase', pass: true };
  if (!input.verifyDigests) throw new Error('evaluateGates: verifyDigests gate without a verifier');
  const check = await input.verifyDigests(input.lock, input.model, input.version);
  return {
    gate,
    expected,
    actual: check.ok ? `${check.files} files ok` : check.problems.join('; '),
    pass: check.ok,
  };
}

/** The signed row: the version's signature verified against the signing policy, or the reason it is refused. */
async function signatureRow(input: EvaluateInput): Promise<GateResult> {
  if (!input.checkSignature) throw new Error('evaluateGates: signed gate without a signature checker');
  const check = await input.checkSignature(input.lock, input.model, input.version);
  return {
    gate: 'signed',
    expected: 'a signer the signing policy trusts',
    actual: check.detail,
    pass: check.ok,
  };
}

/** The imageAttested row: the pinned image's attestation verified against the signing policy, or why not. */
async function imageRow(input: EvaluateInput): Promise<GateResult> {
  if (!input.checkImage) throw new Error('evaluateGates: imageAttested gate without an attestation checker');
  const check = await input.checkImage(input.image);
  return {
    gate: 'imageAttested',
    expected: 'an attestation the signing policy trusts',
    actual: check.detail,
    pass: check.ok,
  };
}

/** The gate table: gate, expected, actual, PASS/FAIL, columns padded, trailing newline. */
export function formatGateTable(results: GateResult[]): string {
  const header = ['gate', 'expected', 'actual', 'result'];
  const rows = results.map((r) => [r.gate, r.expected, r.actual, r.pass ? 'pass' : 'FAIL']);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (c: string[]) =>
    c
      .map((v, i) => v.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  return `${[line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')}\n`;
}

/** Throw GATE_FAILED naming every failing gate, when any failed. */
export function assertGatesPassed(
  results: GateResult[],
  target: { model: string; version: string; env: string; gatesPath?: string },
): void {
  const { model, version, env } = target;
  const failed = results.filter((r) => !r.pass);
  if (failed.length === 0) return;
  throw new ProjectError(
    'GATE_FAILED',
    `promotion of ${model} version ${version} to ${env} refused: ${failed.length} of ${results.length} gate(s) failed:\n${failed
      .map((r) => `  - ${r.gate}: expected ${r.expected}, got ${r.actual}`)
      .join('\n')}`,
    {
      subject: `${model}@${version}`,
      details: failed,
      hint: `nothing was changed; fix the candidate (train a better one) or the gates in ${target.gatesPath ?? GATES_FILE} through a reviewed pull request`,
    },
  );
}
