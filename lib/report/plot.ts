// Line charts drawn as SVG and rasterised by sharp: training curves as a picture, not a list of numbers.
import sharp from 'sharp';

import { cssColor, type Rgb } from './colors.js';

export interface Series {
  name: string;
  color: Rgb;
  points: ReadonlyArray<readonly [number, number]>;
}

export interface Chart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
}

const escapeXml = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

// Round tick values covering [lo, hi] (about `count` of them).
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((f) => f * magnitude).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function chartSvg(chart: Chart, x0: number, y0: number, width: number, height: number): string {
  const pad = { left: 56, right: 12, top: 28, bottom: 40 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const all = chart.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  let [xLo, xHi] = [Math.min(...xs, 0), Math.max(...xs, 1)];
  let [yLo, yHi] = [Math.min(...ys), Math.max(...ys)];
  if (!all.length) [yLo, yHi] = [0, 1];
  if (yHi === yLo) [yLo, yHi] = [yLo - 0.5, yHi + 0.5];
  const margin = (yHi - yLo) * 0.05;
  [yLo, yHi] = [yLo - margin, yHi + margin];
  if (xHi === xLo) xHi = xLo + 1;
  const sx = (x: number) => x0 + pad.left + ((x - xLo) / (xHi - xLo)) * plotW;
  const sy = (y: number) => y0 + pad.top + (1 - (y - yLo) / (yHi - yLo)) * plotH;

  const parts: string[] = [];
  parts.push(`<rect x="${x0 + pad.left}" y="${y0 + pad.top}" width="${plotW}" height="${plotH}" fill="#fff" stroke="#999"/>`);
  for (const t of ticks(yLo, yHi)) {
    parts.push(`<line x1="${x0 + pad.left}" x2="${x0 + pad.left + plotW}" y1="${sy(t)}" y2="${sy(t)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${x0 + pad.left - 6}" y="${sy(t) + 4}" text-anchor="end">${t}</text>`);
  }
  for (const t of ticks(xLo, xHi)) {
    parts.push(`<text x="${sx(t)}" y="${y0 + pad.top + plotH + 16}" text-anchor="middle">${t}</text>`);
  }
  parts.push(`<text x="${x0 + pad.left + plotW / 2}" y="${y0 + 18}" text-anchor="middle" font-weight="bold">${escapeXml(chart.title)}</text>`);
  parts.push(`<text x="${x0 + pad.left + plotW / 2}" y="${y0 + height - 6}" text-anchor="middle">${escapeXml(chart.xLabel)}</text>`);
  parts.push(`<text transform="translate(${x0 + 14} ${y0 + pad.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(chart.yLabel)}</text>`);
  // Legend in the top-right corner on a white card, so it stays readable over the curves.
  const legendWidth = 34 + 7 * Math.max(0, ...chart.series.map((s) => s.name.length));
  parts.push(
    `<rect x="${x0 + pad.left + plotW - legendWidth - 10}" y="${y0 + pad.top + 4}" width="${legendWidth + 6}" height="${chart.series.length * 16 + 8}" fill="#fff" fill-opacity="0.85" stroke="#ccc"/>`,
  );
  const curves: string[] = [];
  const firstLegend = parts.length - 1;
  chart.series.forEach((s, i) => {
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (pts.length) {
      const d = pts.map(([x, y], j) => `${j ? 'L' : 'M'}${sx(x).toFixed(1)} ${sy(y).toFixed(1)}`).join(' ');
      curves.push(`<path d="${d}" fill="none" stroke="${cssColor(s.color)}" stroke-width="2"/>`);
      if (pts.length === 1) curves.push(`<circle cx="${sx(pts[0]![0])}" cy="${sy(pts[0]![1])}" r="3" fill="${cssColor(s.color)}"/>`);
    }
    const ly = y0 + pad.top + 18 + i * 16;
    const lx = x0 + pad.left + plotW - legendWidth - 4;
    parts.push(`<line x1="${lx}" x2="${lx + 18}" y1="${ly - 4}" y2="${ly - 4}" stroke="${cssColor(s.color)}" stroke-width="3"/>`);
    parts.push(`<text x="${lx + 24}" y="${ly}">${escapeXml(s.name)}</text>`);
  });
  // Curves under the legend card.
  return [...parts.slice(0, firstLegend), ...curves, ...parts.slice(firstLegend)].join('');
}

// Charts side by side in one PNG.
export async function renderCharts(charts: readonly Chart[], options: { width?: number; height?: number } = {}): Promise<Buffer> {
  const w = options.width ?? 480;
  const h = options.height ?? 320;
  const body = charts.map((c, i) => chartSvg(c, i * w, 0, w, h)).join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w * charts.length}" height="${h}"><rect width="100%" height="100%" fill="#fafafa"/><g font-family="DejaVu Sans, sans-serif" font-size="12" fill="#222">${body}</g></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

// Exponential moving average (the usual smoothing of noisy loss curves), bias-corrected at the start.
export function smooth(values: readonly number[], beta = 0.9): number[] {
  let avg = 0;
  return values.map((v, i) => {
    avg = beta * avg + (1 - beta) * v;
    return avg / (1 - beta ** (i + 1));
  });
}
