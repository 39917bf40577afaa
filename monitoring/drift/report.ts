/**
 * The drift report people read: report.json (stable key order, for diffs
 * and machines) and report.html (self-contained: inline CSS and SVG bar
 * charts of reference vs live shares per feature and per class, no scripts,
 * no external requests).
 */
import { join } from 'node:path';
import { shares } from '../../model/drift/index.ts';
import { stableStringify, writeFileAtomic } from '../../platform/index.ts';
import type { OfflineDriftReport } from './offline.ts';

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const fmt = (x: number | null, digits = 4) => (x === null ? '–' : x.toFixed(digits));

/** Paired bars: reference (grey) and live (blue) shares per bin. */
export function barsSvg(
  labels: readonly string[],
  reference: readonly number[],
  live: readonly number[],
): string {
  const ref = shares(reference);
  const cur = shares(live);
  const max = Math.max(1e-9, ...ref, ...cur);
  const w = 640;
  const h = 160;
  const slot = w / labels.length;
  const bar = Math.max(1, slot / 2 - 1);
  const rects: string[] = [];
  labels.forEach((label, i) => {
    const x = i * slot;
    const rh = (ref[i]! / max) * (h - 20);
    const lh = (cur[i]! / max) * (h - 20);
    rects.push(
      `<rect x="${x.toFixed(1)}" y="${(h - 20 - rh).toFixed(1)}" width="${bar.toFixed(1)}" height="${rh.toFixed(1)}" fill="#9aa0a6"><title>${esc(label)} reference ${(ref[i]! * 100).toFixed(1)}%</title></rect>`,
      `<rect x="${(x + bar).toFixed(1)}" y="${(h - 20 - lh).toFixed(1)}" width="${bar.toFixed(1)}" height="${lh.toFixed(1)}" fill="#1a73e8"><title>${esc(label)} live ${(cur[i]! * 100).toFixed(1)}%</title></rect>`,
    );
    if (labels.length <= 8 || i % Math.ceil(labels.length / 8) === 0) {
      rects.push(`<text x="${x.toFixed(1)}" y="${h - 5}" font-size="10">${esc(label)}</text>`);
    }
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img">${rects.join('')}</svg>`;
}

/** The HTML page of a report. */
export function renderHtml(r: OfflineDriftReport): string {
  const verdict = !r.scored
    ? `not scored: ${r.samples} images, fewer than the minimum of ${r.thresholds.minSamples}`
    : r.drifted.length
      ? `DRIFT in ${r.drifted.join(', ')}`
      : 'no drift';
  const rows = r.features
    .map(
      (f) =>
        `<tr class="${f.drifted ? 'drift' : ''}"><td>${esc(f.feature)}</td><td>${f.samples}</td><td>${fmt(f.psi)}</td><td>${fmt(f.ks)}</td><td>${fmt(f.ksPValue)}</td><td>${fmt(f.mean)}</td><td>${fmt(f.referenceMean)}</td><td>${f.drifted ? 'yes' : 'no'}</td></tr>`,
    )
    .join('\n');
  const charts = r.features
    .map((f) => {
      const labels = f.counts.map((_, i) => `${f.edges[i]}`);
      return `<h3>${esc(f.feature)}</h3>${barsSvg(labels, f.referenceCounts, f.counts)}`;
    })
    .join('\n');
  const p = r.predictions;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Drift report</title>
<style>body{font-family:sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child{text-align:left}tr.drift{background:#fde7e9}.verdict{font-size:1.3em;font-weight:bold}</style>
</head><body>
<h1>Drift report</h1>
<p class="verdict">${esc(verdict)}</p>
<p>Artifact <code>${esc(r.artifact)}</code> (sha256 <code>${esc(r.sha256)}</code>), inputs <code>${esc(r.inputs)}</code>: ${r.files} images.
Thresholds: PSI ≥ ${r.thresholds.psi}, KS p-value &lt; ${r.thresholds.ksPValue}, chi-square p-value &lt; ${r.thresholds.chiSquarePValue}, at least ${r.thresholds.minSamples} images.${r.nonFinite ? ` ${r.nonFinite} images had non-finite values (skipped).` : ''}</p>
<h2>Input features</h2>
<table><tr><th>feature</th><th>images</th><th>PSI</th><th>KS D</th><th>KS p</th><th>mean</th><th>reference mean</th><th>drift</th></tr>
${rows}
</table>
<p>Grey: training reference; blue: these inputs (share per bin).</p>
${charts}
<h2>Predictions</h2>
<table><tr><th>predicted-class PSI</th><th>chi-square</th><th>p-value</th><th>mean confidence</th><th>reference</th><th>drift</th></tr>
<tr class="${p.drifted ? 'drift' : ''}"><td>${fmt(p.psi)}</td><td>${fmt(p.chiSquare)}</td><td>${fmt(p.chiSquarePValue)}</td><td>${fmt(p.meanConfidence)}</td><td>${fmt(p.referenceMeanConfidence)}</td><td>${p.drifted ? 'yes' : 'no'}</td></tr></table>
${barsSvg(p.labels, p.referenceDistribution, p.classCounts)}
</body></html>
`;
}

/** Write report.json and report.html into `outDir` (each atomically); returns their paths. */
export async function writeDriftReport(
  outDir: string,
  r: OfflineDriftReport,
): Promise<{ json: string; html: string }> {
  const json = join(outDir, 'report.json');
  const html = join(outDir, 'report.html');
  await writeFileAtomic(json, stableStringify(r));
  await writeFileAtomic(html, renderHtml(r));
  return { json, html };
}
