/**
 * The markdown a training run reports in its PR comment and job summary:
 * the candidate's metrics beside the version pinned in prod, with deltas,
 * per-class precision/recall/F1 changes, and links to the plots. Pure: the
 * caller fetches both artifacts' metrics.json (docs/artifact.md) first.
 */

import type { LockedVersion } from '../../lock/index.ts';
import { formatP, formatPoints, verdictSentence } from '../../model/golden/index.ts';
import type { PairedSection } from './paired.ts';

/** The part of an artifact's metrics.json the report reads (docs/artifact.md). */
export interface MetricsJson {
  labels: string[];
  per_class: Record<string, { precision: number; recall: number; f1: number; support: number }>;
}

/** One side of the comparison: a lock version and, when it could be read, its metrics.json. */
export interface ReportSide {
  version: string;
  entry: LockedVersion;
  metricsJson?: MetricsJson;
  /** Why metrics.json could not be read (said in the report instead of failing). */
  unavailable?: string;
}

export interface ReportLink {
  label: string;
  url: string;
}

export interface ComparisonInput {
  model: string;
  candidate: ReportSide;
  /** The version pinned in `prodEnv`, or undefined when nothing is in prod yet. */
  prod?: ReportSide;
  /** Environment compared against (default "prod"). */
  prodEnv?: string;
  /** Title line (default: "Training: <model> candidate v<N>"). */
  title?: string;
  /** The MLflow run, when tracked on a server. */
  runLink?: ReportLink;
  /** The plots (confusion matrix, learning curves): links, since a comment cannot embed local files. */
  plots?: ReportLink[];
  /** Said when the plots have no link (tracked locally). */
  plotsNote?: string;
  /** Lines appended at the end (workflow run, commit, gate verdict). */
  footer?: string[];
  /** Champion vs challenger on the golden set (./paired.ts); first in the report when given. */
  paired?: PairedSection;
}

const FIRST = ['accuracy', 'macro_f1', 'loss', 'samples'];

function metricOrder(names: Iterable<string>): string[] {
  const all = [...new Set(names)];
  return [...FIRST.filter((m) => all.includes(m)), ...all.filter((m) => !FIRST.includes(m)).sort()];
}

const isCount = (name: string, v: number) => name === 'samples' || (Number.isInteger(v) && Math.abs(v) > 1);

/** A metric value: counts as integers, rates with 4 decimals. */
export function formatValue(name: string, v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  return isCount(name, v) ? String(v) : v.toFixed(4);
}

/** A delta with its sign: `+0.012`, `-0.004`, `±0.000`; counts as integers (`+20`). */
export function formatDelta(name: string, a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b)) return '–';
  const d = a - b;
  const text =
    isCount(name, a) && isCount(name, b) ? String(Math.abs(Math.round(d))) : Math.abs(d).toFixed(3);
  if (Number(text) === 0) return `±${text}`;
  return `${d > 0 ? '+' : '-'}${text}`;
}

const esc = (s: string) => s.replace(/\|/g, '\\|');

const pct = (x: number) => `${Number((x * 100).toFixed(2))}`;

/** The golden-set section: paired accuracies, discordant pairs, test, bound, margin, verdict, per class. */
export function pairedMarkdown(p: PairedSection, candidate: string): string[] {
  const lines = ['#### Champion vs challenger on the golden set', ''];
  if (p.kind === 'unavailable') {
    lines.push(`Not compared: ${p.reason}.`, '');
    return lines;
  }
  const r = p.result;
  const level = `${pct(1 - r.alpha)}%`;
  const right = (acc: number) => `${Math.round(acc * r.n)}/${r.n}`;
  lines.push(
    `Golden set **${esc(p.golden.name)}** (\`${p.golden.digest}\`, n = ${p.golden.n}), scored in this run by the candidate and by **${p.champion}**, the version pinned in ${p.vs}: the same examples for both.`,
    '',
    '| model | accuracy on the golden set | right |',
    '| --- | ---: | ---: |',
    `| ${p.vs} (${p.champion}) | ${r.championAccuracy.toFixed(4)} | ${right(r.championAccuracy)} |`,
    `| candidate (${candidate}) | ${r.candidateAccuracy.toFixed(4)} | ${right(r.candidateAccuracy)} |`,
    '',
    `Discordant pairs: **${r.b}** fixed by the candidate (${p.vs} wrong, candidate right), **${r.c}** broken (${p.vs} right, candidate wrong). McNemar's exact test (two-sided): p = ${formatP(r.mcnemar.pValue)} (mid-p ${formatP(r.mcnemar.midP)}).`,
    `Δ accuracy ${formatPoints(r.delta)}; one-sided ${level} lower bound ${formatPoints(r.lowerBound)} (exact, conditional on the discordant pairs); margin ${pct(r.margin)} pt, from ${p.source}.`,
    '',
    `**Verdict: ${verdictSentence(r, p.vs)}.**${r.notWorse ? '' : ' The promotion gate pairedNonInferiority refuses it.'}`,
    '',
    `| class | n | ${p.vs} | candidate | Δ | fixed | broken |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const k of r.perClass) {
    lines.push(
      `| ${esc(k.label)} | ${k.n} | ${k.champion.toFixed(3)} | ${k.candidate.toFixed(3)} | ${formatPoints(k.delta)} | ${k.b} | ${k.c} |`,
    );
  }
  lines.push('');
  return lines;
}

/** The comparison report (GitHub-flavoured markdown, deterministic for the same input). */
export function comparisonMarkdown(input: ComparisonInput): string {
  const env = input.prodEnv ?? 'prod';
  const c = input.candidate;
  const p = input.prod;
  const lines: string[] = [];
  lines.push(`### ${input.title ?? `Training: \`${input.model}\` candidate ${c.version}`}`);
  lines.push('');
  lines.push(
    p
      ? `Candidate **${c.version}** of \`${input.model}\` beside **${p.version}**, the version pinned in ${env}.`
      : `Candidate **${c.version}** of \`${input.model}\`; no version of \`${input.model}\` is pinned in ${env} yet (none yet).`,
  );
  lines.push('');
  if (input.paired) {
    lines.push(...pairedMarkdown(input.paired, c.version));
    lines.push("#### Metrics on each model's own test split", '');
  }
  lines.push(...metricsTable(c, p, env));
  lines.push('');
  lines.push('<details><summary>Per-class precision / recall / F1</summary>');
  lines.push('');
  lines.push(...perClassSection(c, p, env));
  lines.push('');
  lines.push('</details>');
  lines.push('');
  if (input.plots?.length) {
    lines.push(`Plots: ${input.plots.map((l) => `[${l.label}](${l.url})`).join(' · ')}`);
  } else if (input.plotsNote) {
    lines.push(`Plots: ${input.plotsNote}`);
  }
  if (input.runLink) lines.push(`Tracking: [${input.runLink.label}](${input.runLink.url})`);
  lines.push(
    `Artifact: root digest \`${c.entry.rootDigest.slice(0, 12)}\`, data \`${c.entry.datasetDigest.slice(0, 19)}\`${c.entry.gitCommit ? `, commit ${c.entry.gitCommit.slice(0, 7)}` : ''}`,
  );
  for (const f of input.footer ?? []) lines.push(f);
  return `${lines.join('\n')}\n`;
}

/** The lock metrics of both sides, with deltas (accuracy, macro-F1, loss, samples first). */
function metricsTable(c: ReportSide, p: ReportSide | undefined, env: string): string[] {
  const lines = [`| metric | candidate (${c.version}) | ${p ? `${env} (${p.version})` : env} | delta |`];
  lines.push('| --- | ---: | ---: | ---: |');
  for (const m of metricOrder([...Object.keys(c.entry.metrics), ...Object.keys(p?.entry.metrics ?? {})])) {
    const a = c.entry.metrics[m];
    const b = p?.entry.metrics[m];
    lines.push(
      `| ${esc(m)} | ${formatValue(m, a)} | ${p ? formatValue(m, b) : 'none yet'} | ${p ? formatDelta(m, a, b) : '–'} |`,
    );
  }
  return lines;
}

/**
 * Per-class precision, recall and F1 of the candidate from its metrics.json,
 * with deltas when prod's could be fetched (said when it could not), and the
 * classes prod has that the candidate lacks.
 */
function perClassSection(c: ReportSide, p: ReportSide | undefined, env: string): string[] {
  if (!c.metricsJson) {
    return [
      `Per-class metrics of the candidate are not available: ${c.unavailable ?? 'metrics.json not read'}.`,
    ];
  }
  const lines: string[] = [];
  if (p && !p.metricsJson) {
    lines.push(
      `> Per-class metrics of ${env} (version ${p.version}) could not be fetched (${p.unavailable ?? 'unknown reason'}); the candidate's alone are shown.`,
    );
    lines.push('');
  }
  const withProd = Boolean(p?.metricsJson);
  lines.push(
    withProd
      ? '| class | precision | Δ | recall | Δ | F1 | Δ | support |'
      : '| class | precision | recall | F1 | support |',
  );
  lines.push(
    withProd
      ? '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |'
      : '| --- | ---: | ---: | ---: | ---: |',
  );
  for (const label of c.metricsJson.labels) {
    const k = c.metricsJson.per_class[label];
    if (!k) continue;
    if (withProd) {
      const q = p?.metricsJson?.per_class[label];
      lines.push(
        `| ${esc(label)} | ${k.precision.toFixed(3)} | ${formatDelta('precision', k.precision, q?.precision)} | ${k.recall.toFixed(3)} | ${formatDelta('recall', k.recall, q?.recall)} | ${k.f1.toFixed(3)} | ${formatDelta('f1', k.f1, q?.f1)} | ${k.support} |`,
      );
    } else {
      lines.push(
        `| ${esc(label)} | ${k.precision.toFixed(3)} | ${k.recall.toFixed(3)} | ${k.f1.toFixed(3)} | ${k.support} |`,
      );
    }
  }
  const gone = p?.metricsJson?.labels.filter((l) => !c.metricsJson?.labels.includes(l)) ?? [];
  if (gone.length) lines.push('', `Classes in ${env} but not in the candidate: ${gone.join(', ')}.`);
  return lines;
}
