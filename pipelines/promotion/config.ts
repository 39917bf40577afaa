/**
 * The promotion gates config (environments/promotion-gates.json): per
 * environment, where its candidate comes from and the gates it must pass.
 * Versioned (`gatesVersion: 1`), validated once at the edge by ajv with
 * every offending field named. Format: docs/promotion.md.
 */

import { ENV_NAME_PATTERN } from '../../lock/index.ts';
import { readJsonFile } from '../../platform/fs.ts';
import { compileValidator } from '../../platform/schema.ts';

/** The default path of the config, relative to the repository root. */
export const GATES_FILE = 'environments/promotion-gates.json';

/** `metric` of the candidate may be at most `margin` below the same metric of the version pinned in `vs`. */
export interface MetricDropGate {
  metric: string;
  vs: string;
  margin: number;
}

/**
 * Champion vs challenger on the same data: on the golden set, the candidate's
 * accuracy minus that of the version pinned in `vs` must have a one-sided
 * (1 − alpha) lower bound above −margin (model/golden/stats.ts: exact,
 * conditional on the discordant pairs). Read from the golden.json files of
 * the artifacts; passes with "no champion" when `vs` has no pin yet.
 */
export interface PairedGate {
  vs: string;
  /** The accuracy drop tolerated, as a share (0.01 = 1 percentage point). */
  margin: number;
  /** One-sided level: the bound is the (1 − alpha) lower confidence bound. */
  alpha: number;
}

/** The gates of one environment; every gate present is evaluated. */
export interface Gates {
  /** Metrics the candidate's lock entry must have (finite numbers). */
  metricsPresent?: string[];
  /** metric → lowest value accepted (inclusive). */
  minMetric?: Record<string, number>;
  /** No more than `margin` worse than the version another environment runs. */
  maxMetricDrop?: MetricDropGate[];
  /** Significantly not worse than the version another environment runs, on the same golden set. */
  pairedNonInferiority?: PairedGate[];
  /** Every artifact file fetched from the entry's artifactUri has its locked sha256. */
  verifyDigests?: boolean;
  /** The serving image pinned with it is attested by a signer the signing policy trusts to sign images (./image-attestation.ts). */
  imageAttested?: boolean;
  /** The version is signed by a signer manifests/base/signing-policy.json trusts (./signature.ts, docs/signing.md). */
  signed?: boolean;
  /**
   * The version was never reverted: no environment's post-promotion
   * verification took it out again (a promotion record with `reverted`,
   * docs/rollout.md "Automatic revert").
   */
  notReverted?: boolean;
  /** Evidence from shadow traffic (./shadow-evidence.ts): the candidate, shadowing a champion, agreed and was right often enough. */
  shadow?: ShadowGate;
}

/**
 * The shadow gate: in environment `in` (default: the one promoted to) the
 * champion mirrored its traffic to the candidate (serving/shadow.ts), and
 * over the last `window` Prometheus counted at least `minImages` images both
 * answered, of which a share `minAgreement` or more got the same top-1 class;
 * with `minLabels`, at least that many labels of mirrored answers scored the
 * candidate, `minLiveAccuracy` or more of them right.
 */
export interface ShadowGate {
  in?: string;
  /** A Prometheus range, e.g. "7d". */
  window: string;
  minImages: number;
  minAgreement: number;
  minLabels?: number;
  minLiveAccuracy?: number;
}

/** One environment's promotion rule. */
export interface EnvironmentRule {
  /**
   * Which version a promotion to this environment takes when none is named:
   * `"newest"` (the highest version id in the lock: a fresh candidate) or the
   * name of the environment it is promoted from (its pin).
   */
  source: string;
  gates: Gates;
}

export interface GatesConfig {
  gatesVersion: 1;
  environments: Record<string, EnvironmentRule>;
}

const metricName = { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_.-]{0,62}$' };

/** JSON Schema (2020-12) of the gates config. */
export const gatesConfigSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  additionalProperties: false,
  required: ['gatesVersion', 'environments'],
  properties: {
    $comment: { type: 'string' },
    gatesVersion: { const: 1 },
    environments: {
      type: 'object',
      minProperties: 1,
      propertyNames: { pattern: ENV_NAME_PATTERN },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['source', 'gates'],
        properties: {
          source: {
            anyOf: [{ const: 'newest' }, { type: 'string', pattern: ENV_NAME_PATTERN }],
          },
          gates: {
            type: 'object',
            additionalProperties: false,
            properties: {
              metricsPresent: { type: 'array', items: metricName, uniqueItems: true },
              minMetric: {
                type: 'object',
                propertyNames: metricName,
                additionalProperties: { type: 'number' },
              },
              maxMetricDrop: {
                type: 'array',
                items: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['metric', 'vs', 'margin'],
                  properties: {
                    metric: metricName,
                    vs: { type: 'string', pattern: ENV_NAME_PATTERN },
                    margin: { type: 'number', minimum: 0 },
                  },
                },
              },
              pairedNonInferiority: {
                type: 'array',
                items: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['vs', 'margin', 'alpha'],
                  properties: {
                    vs: { type: 'string', pattern: ENV_NAME_PATTERN },
                    margin: { type: 'number', minimum: 0, maximum: 1 },
                    alpha: { type: 'number', exclusiveMinimum: 0, maximum: 0.5 },
                  },
                },
              },
              verifyDigests: { type: 'boolean' },
              signed: { type: 'boolean' },
              imageAttested: { type: 'boolean' },
              notReverted: { type: 'boolean' },
              shadow: {
                type: 'object',
                additionalProperties: false,
                required: ['window', 'minImages', 'minAgreement'],
                properties: {
                  in: { type: 'string', pattern: ENV_NAME_PATTERN },
                  window: { type: 'string', pattern: '^[1-9][0-9]*(s|m|h|d|w)$' },
                  minImages: { type: 'integer', minimum: 1 },
                  minAgreement: { type: 'number', minimum: 0, maximum: 1 },
                  minLabels: { type: 'integer', minimum: 1 },
                  minLiveAccuracy: { type: 'number', minimum: 0, maximum: 1 },
                },
                dependentRequired: { minLiveAccuracy: ['minLabels'], minLabels: ['minLiveAccuracy'] },
              },
            },
          },
        },
      },
    },
  },
} as const;

const validate = compileValidator<GatesConfig>(gatesConfigSchema);

/** Validate a parsed gates config; `what` (the file path) names it in errors. */
export function parseGatesConfig(value: unknown, what: string): GatesConfig {
  return validate(value, what);
}

/** Read and validate the gates config file; errors name the file and every offending field. */
export async function loadGatesConfig(path: string): Promise<GatesConfig> {
  return parseGatesConfig(await readJsonFile(path), path);
}
