/**
 * Drift settings of the server, parsed once from `SERVING_DRIFT_*`
 * variables (docs/serving.md, docs/drift.md). Defaults follow Evidently:
 * PSI 0.1, KS and chi-square p-value 0.05; a 500-image window scored from
 * 100 images on.
 */
import { DEFAULT_DRIFT_THRESHOLDS, type DriftThresholds } from '../../model/drift/index.ts';
import { compileValidator, ProjectError, setVariables } from '../../platform/index.ts';

export interface DriftConfig {
  /** SERVING_DRIFT_ENABLED (default true): false turns the monitor off (serving_drift_enabled 0). */
  enabled: boolean;
  /** SERVING_DRIFT_WINDOW_SIZE: images in the sliding window (default 500). */
  windowSize: number;
  /** SERVING_DRIFT_MIN_SAMPLES, _PSI_THRESHOLD, _KS_P_VALUE, _CHI_SQUARE_P_VALUE. */
  thresholds: DriftThresholds;
}

export interface DriftEnv {
  SERVING_DRIFT_ENABLED?: string;
  SERVING_DRIFT_WINDOW_SIZE?: string;
  SERVING_DRIFT_MIN_SAMPLES?: string;
  SERVING_DRIFT_PSI_THRESHOLD?: string;
  SERVING_DRIFT_KS_P_VALUE?: string;
  SERVING_DRIFT_CHI_SQUARE_P_VALUE?: string;
}

const int = { type: 'string', pattern: '^[0-9]+$' };
const decimal = { type: 'string', pattern: '^[0-9]+(\\.[0-9]+)?$' };

const validateEnv = compileValidator<DriftEnv>({
  type: 'object',
  properties: {
    SERVING_DRIFT_ENABLED: { enum: ['true', 'false', '1', '0'] },
    SERVING_DRIFT_WINDOW_SIZE: int,
    SERVING_DRIFT_MIN_SAMPLES: int,
    SERVING_DRIFT_PSI_THRESHOLD: decimal,
    SERVING_DRIFT_KS_P_VALUE: decimal,
    SERVING_DRIFT_CHI_SQUARE_P_VALUE: decimal,
  },
});

export const DEFAULT_DRIFT_WINDOW_SIZE = 500;

/**
 * Parse the `SERVING_DRIFT_*` variables of `rawEnv` (other variables are
 * ignored). Throws ProjectError INVALID naming every bad variable.
 */
export function driftConfigFromEnv(rawEnv: Record<string, string | undefined>): DriftConfig {
  const env = validateEnv(
    setVariables(rawEnv, (k) => k.startsWith('SERVING_DRIFT_')),
    'serving drift environment',
  );
  const num = (v: string | undefined, d: number) => (v === undefined ? d : Number(v));
  const config: DriftConfig = {
    enabled: env.SERVING_DRIFT_ENABLED === undefined || ['true', '1'].includes(env.SERVING_DRIFT_ENABLED),
    windowSize: num(env.SERVING_DRIFT_WINDOW_SIZE, DEFAULT_DRIFT_WINDOW_SIZE),
    thresholds: {
      minSamples: num(env.SERVING_DRIFT_MIN_SAMPLES, DEFAULT_DRIFT_THRESHOLDS.minSamples),
      psi: num(env.SERVING_DRIFT_PSI_THRESHOLD, DEFAULT_DRIFT_THRESHOLDS.psi),
      ksPValue: num(env.SERVING_DRIFT_KS_P_VALUE, DEFAULT_DRIFT_THRESHOLDS.ksPValue),
      chiSquarePValue: num(env.SERVING_DRIFT_CHI_SQUARE_P_VALUE, DEFAULT_DRIFT_THRESHOLDS.chiSquarePValue),
    },
  };
  const bad: string[] = [];
  if (!(config.windowSize >= 1 && config.windowSize <= 1_000_000)) {
    bad.push(`  - /SERVING_DRIFT_WINDOW_SIZE: ${config.windowSize} is out of range 1..1000000`);
  }
  if (!(config.thresholds.minSamples >= 1 && config.thresholds.minSamples <= config.windowSize)) {
    bad.push(
      `  - /SERVING_DRIFT_MIN_SAMPLES: ${config.thresholds.minSamples} must be from 1 to the window size (${config.windowSize})`,
    );
  }
  for (const [key, v] of [
    ['SERVING_DRIFT_KS_P_VALUE', config.thresholds.ksPValue],
    ['SERVING_DRIFT_CHI_SQUARE_P_VALUE', config.thresholds.chiSquarePValue],
  ] as const) {
    if (!(v > 0 && v < 1)) bad.push(`  - /${key}: ${v} must be a p-value between 0 and 1`);
  }
  if (!(config.thresholds.psi > 0)) bad.push(`  - /SERVING_DRIFT_PSI_THRESHOLD: must be over 0`);
  if (bad.length) {
    throw new ProjectError('INVALID', `serving drift environment is invalid:\n${bad.join('\n')}`, {
      subject: 'SERVING_DRIFT_*',
      hint: 'see docs/drift.md for the variables and their defaults',
    });
  }
  return config;
}
