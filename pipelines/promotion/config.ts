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
  /**
   * The version was never reverted: no environment's post-promotion
   * verification took it out again (a promotion record with `reverted`,
   * docs/rollout.md "Automatic revert").
   */
  notReverted?: boolean;
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
              notReverted: { type: 'boolean' },
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
