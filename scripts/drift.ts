/**
 * `npm run drift -- --artifact <dir> --inputs <folder> [--out <dir>] [--threshold 0.1]
 * [--ks-p-value 0.05] [--min-samples 100]`: score a folder of recent input images
 * against the model artifact's reference statistics and write report.json +
 * report.html (docs/drift.md). Exit 0: no drift (or too few images to score);
 * 1: drift past a threshold, or an error; 2: bad usage.
 */
import { DEFAULT_DRIFT_THRESHOLDS, type DriftThresholds } from '../model/drift/index.ts';
import { offlineDrift, writeDriftReport } from '../monitoring/drift/index.ts';
import { isMain, parseCommand, runMain, usageError, usageOf } from '../platform/index.ts';

/** What the command accepts; its help is generated from this (platform/cli.ts helpText). */
const COMMAND = {
  run: 'npm run drift --',
  summary: `Score a folder of recent input images against the model artifact's reference
statistics, print one row per feature and one for the predictions, and write
report.json and report.html (docs/drift.md).`,
  required: ['artifact', 'inputs'],
  options: {
    artifact: {
      type: 'string',
      value: '<dir>',
      help: 'model artifact folder (with digests.json and reference-stats.json)',
    },
    inputs: { type: 'string', value: '<folder>', help: 'folder of recent input images (*.png, *.jpg)' },
    out: {
      type: 'string',
      value: '<dir>',
      default: 'drift-report',
      help: 'where report.json and report.html go',
    },
    threshold: {
      type: 'string',
      value: '<psi>',
      help: `PSI at or over which a feature or the class mix has drifted (default: ${DEFAULT_DRIFT_THRESHOLDS.psi})`,
    },
    'ks-p-value': {
      type: 'string',
      value: '<p>',
      help: `KS (and chi-square) p-value under which it has drifted (default: ${DEFAULT_DRIFT_THRESHOLDS.ksPValue})`,
    },
    'min-samples': {
      type: 'string',
      value: '<n>',
      help: `fewer images than this are not scored (default: ${DEFAULT_DRIFT_THRESHOLDS.minSamples})`,
    },
  },
  exit: { 0: 'no drift (or too few images to score)', 1: 'drift past a threshold, or an error' },
} as const;

function number(raw: string | undefined, flag: string, ok: (n: number) => boolean): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!/^[0-9.]+$/.test(raw) || !ok(n)) throw usageError(`--${flag} ${raw} is not valid`, usageOf(COMMAND));
  return n;
}

/** Run the drift job; returns the exit code. */
export async function main(argv: string[], log: (line: string) => void = console.log): Promise<number> {
  const cli = parseCommand(argv, COMMAND, log);
  if (!cli) return 0;
  // parseCommand refused a run without --artifact or --inputs.
  const values = { ...cli.values, artifact: cli.values.artifact!, inputs: cli.values.inputs! };
  const thresholds: Partial<DriftThresholds> = {};
  const psi = number(values.threshold, 'threshold', (n) => n > 0);
  const ks = number(values['ks-p-value'], 'ks-p-value', (n) => n > 0 && n < 1);
  const min = number(values['min-samples'], 'min-samples', (n) => Number.isInteger(n) && n >= 1);
  if (psi !== undefined) thresholds.psi = psi;
  if (ks !== undefined) {
    thresholds.ksPValue = ks;
    thresholds.chiSquarePValue = ks;
  }
  if (min !== undefined) thresholds.minSamples = min;
  const report = await offlineDrift({ artifactDir: values.artifact, inputsDir: values.inputs, thresholds });
  const paths = await writeDriftReport(values.out!, report);
  for (const f of report.features) {
    log(
      `${f.feature.padEnd(16)} psi ${f.psi ?? '-'}  ks ${f.ks ?? '-'} (p ${f.ksPValue ?? '-'})${f.drifted ? '  DRIFT' : ''}`,
    );
  }
  const p = report.predictions;
  log(
    `${'predictions'.padEnd(16)} psi ${p.psi ?? '-'}  chi2 ${p.chiSquare ?? '-'} (p ${p.chiSquarePValue ?? '-'})  mean confidence ${p.meanConfidence ?? '-'}${p.drifted ? '  DRIFT' : ''}`,
  );
  log(`report: ${paths.json}, ${paths.html}`);
  if (!report.scored) {
    log(`not scored: ${report.samples} images, fewer than ${report.thresholds.minSamples}; no drift verdict`);
    return 0;
  }
  if (report.drifted.length) {
    log(`drift: ${report.drifted.join(', ')}`);
    return 1;
  }
  log('no drift');
  return 0;
}

if (isMain(import.meta.url)) {
  void runMain(() => main(process.argv.slice(2)));
}
