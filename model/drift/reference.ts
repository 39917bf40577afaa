/**
 * reference-stats.json, the drift reference that ships with every model
 * artifact (docs/artifact.md), validated once where it is read. Written by
 * model/reference-stats.ts; this is the reader's schema, kept in lib so
 * that serving and the drift job need nothing from training/.
 */
import { ProjectError } from '../../platform/errors.ts';
import { compileValidator } from '../../platform/schema.ts';

/** A histogram with fixed edges: bin i is [edges[i], edges[i+1]). */
export interface ReferenceHistogram {
  edges: number[];
  counts: number[];
  mean: number;
}

/** The parsed reference-stats.json (version 1). */
export interface DriftReference {
  version: 1;
  inputs: { split: string; samples: number; features: Record<string, ReferenceHistogram> };
  predictions: {
    split: string;
    samples: number;
    labels: string[];
    classCounts: number[];
    classDistribution: number[];
    confidence: ReferenceHistogram;
    meanConfidence: number;
  };
}

const histogram = {
  type: 'object',
  required: ['edges', 'counts', 'mean'],
  properties: {
    edges: { type: 'array', minItems: 2, items: { type: 'number' } },
    counts: { type: 'array', minItems: 1, items: { type: 'number', minimum: 0 } },
    mean: { type: 'number' },
  },
} as const;

/** JSON Schema (2020-12) of reference-stats.json version 1. */
export const referenceStatsSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  title: 'ReferenceStats',
  type: 'object',
  required: ['version', 'inputs', 'predictions'],
  properties: {
    version: { const: 1 },
    inputs: {
      type: 'object',
      required: ['samples', 'features'],
      properties: {
        split: { type: 'string' },
        samples: { type: 'integer', minimum: 1 },
        features: { type: 'object', minProperties: 1, additionalProperties: histogram },
      },
    },
    predictions: {
      type: 'object',
      required: ['samples', 'labels', 'classCounts', 'classDistribution', 'confidence', 'meanConfidence'],
      properties: {
        split: { type: 'string' },
        samples: { type: 'integer', minimum: 0 },
        labels: { type: 'array', minItems: 1, items: { type: 'string' } },
        classCounts: { type: 'array', items: { type: 'number', minimum: 0 } },
        classDistribution: { type: 'array', items: { type: 'number', minimum: 0, maximum: 1 } },
        confidence: histogram,
        meanConfidence: { type: 'number' },
      },
    },
  },
} as const;

const validate = compileValidator<DriftReference>(referenceStatsSchema);

/**
 * Validate a parsed reference-stats.json. Beyond the schema: every
 * histogram has one more edge than counts, ascending edges, and the class
 * lists agree with `labels` (and with `expectLabels`, the model's labels.json,
 * when given).
 * @throws ProjectError INVALID naming `what` and every offending field.
 */
export function parseDriftReference(
  value: unknown,
  what = 'reference-stats.json',
  expectLabels?: readonly string[],
): DriftReference {
  const ref = validate(value, what);
  const bad: string[] = [];
  const checkHistogram = (h: ReferenceHistogram, path: string) => {
    if (h.edges.length !== h.counts.length + 1) {
      bad.push(`${path}: ${h.edges.length} edges for ${h.counts.length} counts (need counts + 1)`);
    }
    for (let i = 1; i < h.edges.length; i++) {
      if (!(h.edges[i]! > h.edges[i - 1]!)) {
        bad.push(`${path}/edges: not ascending at index ${i}`);
        break;
      }
    }
  };
  for (const [name, h] of Object.entries(ref.inputs.features)) checkHistogram(h, `/inputs/features/${name}`);
  checkHistogram(ref.predictions.confidence, '/predictions/confidence');
  const k = ref.predictions.labels.length;
  if (ref.predictions.classCounts.length !== k) {
    bad.push(`/predictions/classCounts: ${ref.predictions.classCounts.length} entries for ${k} labels`);
  }
  if (ref.predictions.classDistribution.length !== k) {
    bad.push(
      `/predictions/classDistribution: ${ref.predictions.classDistribution.length} entries for ${k} labels`,
    );
  }
  if (expectLabels && JSON.stringify([...expectLabels]) !== JSON.stringify(ref.predictions.labels)) {
    bad.push(
      `/predictions/labels: ${JSON.stringify(ref.predictions.labels)} is not the model's labels ${JSON.stringify(expectLabels)}`,
    );
  }
  if (bad.length) {
    throw new ProjectError('INVALID', `${what} is invalid:\n${bad.map((b) => `  - ${b}`).join('\n')}`, {
      subject: what,
      details: bad,
      hint: 're-export the artifact with training (model/reference-stats.ts writes this file)',
    });
  }
  return ref;
}

/**
 * Read reference-stats.json from raw bytes (as an artifact file map holds
 * them): not JSON is INVALID, like a schema failure.
 */
export function parseDriftReferenceBytes(
  bytes: Uint8Array,
  what = 'reference-stats.json',
  expectLabels?: readonly string[],
): DriftReference {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new ProjectError('INVALID', `${what} is not valid JSON: ${(e as Error).message}`, {
      subject: what,
      cause: e,
      hint: 're-export the artifact with training (model/reference-stats.ts writes this file)',
    });
  }
  return parseDriftReference(value, what, expectLabels);
}
