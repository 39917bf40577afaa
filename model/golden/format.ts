/**
 * golden.json, the file of a model artifact that holds its predictions on the
 * golden evaluation set (docs/artifact.md, docs/promotion.md): the golden
 * set's name and digest, the true class of every example, this model's
 * predicted class per example, and the predictions of the champion (the
 * version pinned in prod when it was trained), scored in the same run on the
 * same examples. It is one of the artifact's files, so its sha256 is in the
 * lock entry's `digests` and provenance.yml checks it against the MLflow run:
 * the promotion gate reads it through platform/artifact-store, verified, and needs
 * no TensorFlow.
 */
import { ProjectError } from '../../platform/errors.ts';
import { parseNamedJson } from '../../platform/json.ts';
import { compileValidator } from '../../platform/schema.ts';

/** The artifact file name. */
export const GOLDEN_FILE = 'golden.json';

/** Another model's predictions on the same golden set, scored in the same run. */
export interface ChampionPredictions {
  /** Its model version id (`v` + 12 hex). */
  version: string;
  /** Its artifact's root digest (hex). */
  rootDigest: string;
  predicted: number[];
}

/** golden.json */
export interface GoldenEvaluation {
  goldenVersion: 1;
  /** The golden set's name (training config `golden.name`). */
  name: string;
  /** `sha256:<hex>`: the dataset digest of the golden set. */
  digest: string;
  /** `sha256:<hex>` over the example ids in order: both sides were scored in the same order. */
  orderDigest: string;
  /** The golden set's class names; `truth` and `predicted` index into them. */
  labels: string[];
  truth: number[];
  /** This model's predicted class per example; −1 for a class the golden set does not have. */
  predicted: number[];
  /** The environment whose pin was the champion (default prod). */
  championEnv?: string;
  /** The champion's predictions; absent when nothing was pinned or it could not be scored. */
  champion?: ChampionPredictions;
  /** Why the champion was not scored (nothing pinned, artifact not fetchable...). */
  championNote?: string;
}

const classIndex = { type: 'integer', minimum: -1 };
const sha256Prefixed = { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' };

export const goldenEvaluationSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  additionalProperties: false,
  required: ['goldenVersion', 'name', 'digest', 'orderDigest', 'labels', 'truth', 'predicted'],
  properties: {
    goldenVersion: { const: 1 },
    name: { type: 'string', minLength: 1 },
    digest: sha256Prefixed,
    orderDigest: sha256Prefixed,
    labels: { type: 'array', minItems: 2, items: { type: 'string', minLength: 1 } },
    truth: { type: 'array', minItems: 1, items: { type: 'integer', minimum: 0 } },
    predicted: { type: 'array', items: classIndex },
    championEnv: { type: 'string' },
    champion: {
      type: 'object',
      additionalProperties: false,
      required: ['version', 'rootDigest', 'predicted'],
      properties: {
        version: { type: 'string', pattern: '^v[0-9a-f]{12}$' },
        rootDigest: { type: 'string', pattern: '^[0-9a-f]{64}$' },
        predicted: { type: 'array', items: classIndex },
      },
    },
    championNote: { type: 'string' },
  },
} as const;

const validate = compileValidator<GoldenEvaluation>(goldenEvaluationSchema);

/**
 * Validate a parsed golden.json; `what` names it in errors. Also checks what
 * the schema cannot: every list has one entry per example, classes in range.
 */
export function parseGoldenEvaluation(value: unknown, what: string): GoldenEvaluation {
  const g = validate(value, what);
  const n = g.truth.length;
  const bad: string[] = [];
  if (g.predicted.length !== n) bad.push(`predicted has ${g.predicted.length} entries, truth ${n}`);
  if (g.champion && g.champion.predicted.length !== n) {
    bad.push(`champion.predicted has ${g.champion.predicted.length} entries, truth ${n}`);
  }
  if (g.truth.some((t) => t >= g.labels.length))
    bad.push(`truth has a class index >= ${g.labels.length} labels`);
  if (bad.length) {
    throw new ProjectError('INVALID', `${what} is inconsistent: ${bad.join('; ')}`, {
      subject: what,
      hint: 'golden.json is written by training: train the model again',
    });
  }
  return g;
}

/** The champion's predictions paired with a candidate's, and where they came from. */
export type ChampionPairing =
  | { ok: true; predicted: number[]; source: string }
  | { ok: false; problem: string };

/**
 * The predictions of `pinned` (the champion's version id) on the golden set
 * the candidate was scored on: those scored in the candidate's own run, or
 * else the champion's own golden.json (`pinnedOwn`) when it was scored on the
 * same golden digest in the same order. Otherwise why they cannot be paired:
 * the sentence a promotion gate and the PR comment show.
 */
export function pairWithChampion(
  candidate: GoldenEvaluation,
  pinned: string,
  pinnedOwn?: GoldenEvaluation,
): ChampionPairing {
  if (candidate.champion?.version === pinned) {
    return { ok: true, predicted: candidate.champion.predicted, source: "scored in the candidate's run" };
  }
  if (pinnedOwn && pinnedOwn.digest === candidate.digest && pinnedOwn.orderDigest === candidate.orderDigest) {
    return { ok: true, predicted: pinnedOwn.predicted, source: `${pinned}'s own golden.json` };
  }
  const scored = candidate.champion
    ? `its run scored ${candidate.champion.version}, not ${pinned}`
    : `its run scored no champion${candidate.championNote ? ` (${candidate.championNote})` : ''}`;
  const own = pinnedOwn
    ? `${pinned} was scored on golden set ${pinnedOwn.name} ${pinnedOwn.digest.slice(0, 19)}…, the candidate on ${candidate.name} ${candidate.digest.slice(0, 19)}…: different golden sets`
    : `${pinned} has no predictions on golden set ${candidate.name} ${candidate.digest.slice(0, 19)}… (no golden.json in its artifact)`;
  return { ok: false, problem: `${own}; ${scored}` };
}

/** golden.json from its text (a file, or bytes fetched and sha256-checked): not JSON is INVALID, as a schema failure. */
export function parseGoldenText(text: string, what: string): GoldenEvaluation {
  return parseGoldenEvaluation(parseNamedJson(text, what), what);
}
