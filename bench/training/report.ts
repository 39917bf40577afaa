/**
 * What the training benchmark (bench/training/main.ts) reports: per side,
 * samples/s and time to the target accuracy, summed up from its epochs; and
 * the markdown of bench/results/training.md.
 */
import type { Workload } from './workloads.ts';

export interface EpochRecord {
  epoch: number;
  trainSeconds: number;
  elapsedSeconds: number;
  valAccuracy: number;
}

export interface SideResult {
  side: string;
  detail: string;
  /** Training samples per second over the epochs after the first (the first includes set-up). */
  samplesPerSecond: number;
  epochs: EpochRecord[];
  /** Seconds until validation accuracy first reached the target, or null. */
  timeToTarget: number | null;
  epochsToTarget: number | null;
  stoppedBy: 'target' | 'epochs' | 'budget';
}

/** One side's result from its epochs: samples/s over the epochs after the first, and when it reached the target. */
export function summarize(
  side: string,
  detail: string,
  epochs: EpochRecord[],
  samples: number[],
  target: number,
  stoppedBy: SideResult['stoppedBy'],
): SideResult {
  const steady = epochs.length > 1 ? epochs.slice(1) : epochs;
  const steadySamples = epochs.length > 1 ? samples.slice(1) : samples;
  const seconds = steady.reduce((a, e) => a + e.trainSeconds, 0);
  const reached = epochs.find((e) => e.valAccuracy >= target);
  return {
    side,
    detail,
    samplesPerSecond: seconds > 0 ? steadySamples.reduce((a, b) => a + b, 0) / seconds : 0,
    epochs,
    timeToTarget: reached ? reached.elapsedSeconds : null,
    epochsToTarget: reached ? reached.epoch : null,
    stoppedBy: reached ? 'target' : stoppedBy,
  };
}

const ratio = (a: number | null, b: number | null) => (a && b ? `${(a / b).toPrecision(3)}x` : '-');

/** The report as markdown: one table per workload, the ratios, and how to read them. */
export function markdown(r: {
  meta: Record<string, unknown>;
  workloads: { workload: Workload; sides: SideResult[] }[];
}): string {
  const out = [
    '# Training benchmark: pure JS, native CPU, Python (TensorFlow/Keras)',
    '',
    `${r.meta.date} · ${r.meta.cpus} · ${r.meta.memoryGiB} GiB · Node ${r.meta.node} · same architecture, initial weights, data and batch order on every side; Adam; validation after every epoch`,
    '',
  ];
  for (const { workload: w, sides } of r.workloads) {
    const js = sides.find((s) => s.side === 'pure JS');
    const nat = sides.find((s) => s.side === 'native CPU');
    const py = sides.find((s) => s.side === 'Python peer');
    out.push(
      `## ${w.name}: ${w.description}`,
      '',
      `batch ${w.config.training.batchSize}, learning rate ${w.config.training.learningRate}, target: validation accuracy >= ${w.target}`,
      '',
      '| side | what | train samples/s | epochs to target | time to target (s) | samples/s vs pure JS | samples/s vs Python | Python time to target / this |',
      '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const s of sides) {
      out.push(
        `| ${s.side} | ${s.detail} | ${s.samplesPerSecond < 10 ? s.samplesPerSecond.toPrecision(2) : s.samplesPerSecond.toFixed(1)} | ${s.epochsToTarget ?? `not reached (${s.stoppedBy}, ${s.epochs.length} epochs)`} | ${s.timeToTarget?.toFixed(1) ?? '-'} | ${ratio(s.samplesPerSecond, js?.samplesPerSecond ?? null)} | ${ratio(s.samplesPerSecond, py?.samplesPerSecond ?? null)} | ${ratio(py?.timeToTarget ?? null, s.timeToTarget)} |`,
      );
    }
    out.push(
      '',
      `Targets: native >= 20x pure JS (here ${ratio(nat?.samplesPerSecond ?? null, js?.samplesPerSecond ?? null)}), native >= 0.5x the Python peer (here ${ratio(nat?.samplesPerSecond ?? null, py?.samplesPerSecond ?? null)} in samples/s, ${ratio(py?.timeToTarget ?? null, nat?.timeToTarget ?? null)} in time to target).`,
      '',
    );
  }
  out.push(
    "samples/s counts the epochs after the first (the first includes kernel set-up and, for Keras, tracing). Time to target is training plus evaluation wall time from the first batch. Pure JS stops after its time budget. All sides share the machine's cores; run on a quiet machine and compare rows of one run.",
    '',
  );
  return out.join('\n');
}
