/**
 * The two plots people look at in PRs and MLflow, drawn with @napi-rs/canvas
 * (Skia; text needs a system font such as DejaVu Sans, installed by
 * scripts/setup.d/10-apt.sh) and encoded as PNG.
 *
 * @see https://github.com/Brooooooklyn/canvas
 */
import { createCanvas, type SKRSContext2D } from '@napi-rs/canvas';
import type { ClassificationMetrics } from './evaluate.ts';
import type { EpochMetrics } from './loop.ts';

export const CONFUSION_MATRIX_SIZE = { width: 720, height: 720 } as const;
export const LEARNING_CURVES_SIZE = { width: 1000, height: 440 } as const;

const FONT = 'DejaVu Sans, sans-serif';

function text(
  ctx: SKRSContext2D,
  s: string,
  x: number,
  y: number,
  o: { size?: number; align?: CanvasTextAlign; color?: string; bold?: boolean } = {},
): void {
  ctx.font = `${o.bold ? 'bold ' : ''}${o.size ?? 13}px ${FONT}`;
  ctx.textAlign = o.align ?? 'left';
  ctx.textBaseline = 'middle';
  ctx.fillStyle = o.color ?? '#222';
  ctx.fillText(s, x, y);
}

const clip = (s: string, max: number): string => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

/**
 * Confusion matrix as a heat map: rows are true classes, columns predicted
 * ones; each cell shows the count, shaded by the share of its row.
 */
export function renderConfusionMatrix(m: ClassificationMetrics, title: string): Buffer {
  const { width, height } = CONFUSION_MATRIX_SIZE;
  const canvas = createCanvas(width, height);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, height);
  const k = m.labels.length;
  const left = 130;
  // Column labels wider than their column (10 CIFAR-10 class names) are drawn at 45 degrees, with room above.
  const provisional = Math.min(width - left - 30, height - 110 - 60) / k;
  const labelSize = Math.max(9, Math.min(13, provisional / 4));
  ctx.font = `${labelSize}px ${FONT}`;
  const slanted = m.labels.some((l) => ctx.measureText(clip(l, 14)).width > provisional - 4);
  const top = slanted ? 150 : 110;
  const side = Math.min(width - left - 30, height - top - 60);
  const cell = side / k;
  text(ctx, clip(title, 60), width / 2, 24, { size: 18, align: 'center', bold: true });
  text(
    ctx,
    `accuracy ${(m.accuracy * 100).toFixed(1)}%   macro-F1 ${m.macro_f1.toFixed(3)}   n = ${m.samples} (${m.split})`,
    width / 2,
    50,
    { align: 'center' },
  );
  text(ctx, 'predicted →', left + side / 2, slanted ? 76 : top - 30, { align: 'center', color: '#555' });
  ctx.save();
  ctx.translate(20, top + side / 2);
  ctx.rotate(-Math.PI / 2);
  text(ctx, 'true →', 0, 0, { align: 'center', color: '#555' });
  ctx.restore();
  m.confusion_matrix.forEach((row, t) => {
    const total = row.reduce((s, v) => s + v, 0);
    text(ctx, clip(m.labels[t]!, 14), left - 8, top + (t + 0.5) * cell, { align: 'right', size: labelSize });
    row.forEach((count, p) => {
      const share = total === 0 ? 0 : count / total;
      const x = left + p * cell;
      const y = top + t * cell;
      // White to dark blue by share of the row.
      const r = Math.round(255 - share * (255 - 31));
      const g = Math.round(255 - share * (255 - 78));
      const b = Math.round(255 - share * (255 - 140));
      ctx.fillStyle = `rgb(${r},${g},${b})`;
      ctx.fillRect(x, y, cell, cell);
      ctx.strokeStyle = '#ccc';
      ctx.strokeRect(x, y, cell, cell);
      text(ctx, String(count), x + cell / 2, y + cell / 2, {
        align: 'center',
        size: Math.max(9, Math.min(16, cell / 3)),
        color: share > 0.5 ? '#fff' : '#222',
      });
    });
  });
  m.labels.forEach((label, p) => {
    if (!slanted) {
      text(ctx, clip(label, 10), left + (p + 0.5) * cell, top - 10, { align: 'center', size: labelSize });
      return;
    }
    ctx.save();
    ctx.translate(left + (p + 0.5) * cell, top - 8);
    ctx.rotate(-Math.PI / 4);
    text(ctx, clip(label, 14), 0, 0, { align: 'left', size: labelSize });
    ctx.restore();
  });
  return canvas.toBuffer('image/png');
}

interface Series {
  name: string;
  values: number[];
  color: string;
  dashed?: boolean;
}

function chart(
  ctx: SKRSContext2D,
  box: { x: number; y: number; w: number; h: number },
  title: string,
  series: Series[],
  fixed?: [number, number],
): void {
  const all = series.flatMap((s) => s.values).filter(Number.isFinite);
  let lo = fixed ? fixed[0] : Math.min(0, ...all);
  let hi = fixed ? fixed[1] : Math.max(...all, 1e-6);
  if (hi <= lo) [lo, hi] = [lo - 1, hi + 1];
  const n = Math.max(1, ...series.map((s) => s.values.length));
  const px = (i: number) => box.x + (n === 1 ? box.w / 2 : (i / (n - 1)) * box.w);
  const py = (v: number) => box.y + box.h - ((v - lo) / (hi - lo)) * box.h;
  text(ctx, title, box.x + box.w / 2, box.y - 28, { align: 'center', size: 15, bold: true });
  ctx.strokeStyle = '#ddd';
  ctx.lineWidth = 1;
  for (let t = 0; t <= 4; t++) {
    const v = lo + ((hi - lo) * t) / 4;
    ctx.beginPath();
    ctx.moveTo(box.x, py(v));
    ctx.lineTo(box.x + box.w, py(v));
    ctx.stroke();
    text(ctx, v.toFixed(hi - lo < 2 ? 2 : 1), box.x - 6, py(v), { align: 'right', size: 11, color: '#555' });
  }
  const ticks = Math.min(n, 10);
  for (let t = 0; t < ticks; t++) {
    const i = ticks === 1 ? 0 : Math.round((t * (n - 1)) / (ticks - 1));
    text(ctx, String(i + 1), px(i), box.y + box.h + 14, { align: 'center', size: 11, color: '#555' });
  }
  text(ctx, 'epoch', box.x + box.w / 2, box.y + box.h + 32, { align: 'center', size: 12, color: '#555' });
  ctx.strokeStyle = '#888';
  ctx.strokeRect(box.x, box.y, box.w, box.h);
  series.forEach((s, j) => {
    ctx.strokeStyle = s.color;
    ctx.fillStyle = s.color;
    ctx.lineWidth = 2;
    ctx.setLineDash(s.dashed ? [6, 4] : []);
    ctx.beginPath();
    s.values.forEach((v, i) => {
      if (i === 0) ctx.moveTo(px(i), py(v));
      else ctx.lineTo(px(i), py(v));
    });
    ctx.stroke();
    ctx.setLineDash([]);
    s.values.forEach((v, i) => {
      ctx.beginPath();
      ctx.arc(px(i), py(v), 2.5, 0, 2 * Math.PI);
      ctx.fill();
    });
    const lx = box.x + 10 + j * 130;
    ctx.fillRect(lx, box.y - 12, 18, 3);
    text(ctx, s.name, lx + 24, box.y - 10, { size: 12 });
  });
}

/**
 * Learning curves: loss and accuracy per epoch for training and validation,
 * with the best epoch (the one exported) marked.
 */
export function renderLearningCurves(history: EpochMetrics[], bestEpoch: number, title: string): Buffer {
  const { width, height } = LEARNING_CURVES_SIZE;
  const canvas = createCanvas(width, height);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, height);
  text(ctx, clip(title, 90), width / 2, 20, { size: 18, align: 'center', bold: true });
  const boxes = [
    { x: 70, y: 90, w: 380, h: 280 },
    { x: 570, y: 90, w: 380, h: 280 },
  ];
  chart(ctx, boxes[0]!, 'loss', [
    { name: 'train', values: history.map((h) => h.loss), color: '#1f77b4' },
    { name: 'validation', values: history.map((h) => h.val_loss), color: '#d62728', dashed: true },
  ]);
  chart(
    ctx,
    boxes[1]!,
    'accuracy',
    [
      { name: 'train', values: history.map((h) => h.accuracy), color: '#1f77b4' },
      { name: 'validation', values: history.map((h) => h.val_accuracy), color: '#d62728', dashed: true },
    ],
    [0, 1],
  );
  const n = Math.max(1, history.length);
  for (const box of boxes) {
    const x = box.x + (n === 1 ? box.w / 2 : ((bestEpoch - 1) / (n - 1)) * box.w);
    ctx.strokeStyle = '#2ca02c';
    ctx.setLineDash([2, 3]);
    ctx.beginPath();
    ctx.moveTo(x, box.y);
    ctx.lineTo(x, box.y + box.h);
    ctx.stroke();
    ctx.setLineDash([]);
  }
  text(
    ctx,
    `best epoch ${bestEpoch} of ${history.length} (green line): the exported weights`,
    width / 2,
    height - 14,
    {
      align: 'center',
      size: 12,
      color: '#2ca02c',
    },
  );
  return canvas.toBuffer('image/png');
}
