// A montage: a grid of equal tiles (image, labels, hypotheses, maps) with column titles on top and row
// titles on the left, drawn with sharp. Tiles are scaled with nearest-neighbour so mask edges stay crisp.
import sharp, { type OverlayOptions } from 'sharp';

import { SeqsamError } from '../errors.js';
import type { RgbImage } from './raster.js';

export interface MontageRow {
  title: string;
  // null leaves a cell empty (e.g. a baseline with fewer masks than the others).
  tiles: ReadonlyArray<RgbImage | null>;
}

export interface MontageOptions {
  columns: readonly string[];
  // Side of a tile in pixels (default 128).
  tile?: number;
  gap?: number;
}

const escapeXml = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

export async function montage(rows: readonly MontageRow[], options: MontageOptions): Promise<Buffer> {
  const tile = options.tile ?? 128;
  const gap = options.gap ?? 4;
  const columns = options.columns.length;
  if (!rows.length || !columns) throw new SeqsamError('ERR_ARGUMENT', 'montage: needs at least one row and one column');
  for (const row of rows) {
    if (row.tiles.length > columns) throw new SeqsamError('ERR_SHAPE', `montage: row "${row.title}" has ${row.tiles.length} tiles for ${columns} columns`);
  }
  const left = 110;
  const top = 26;
  const width = left + columns * (tile + gap);
  const height = top + rows.length * (tile + gap);

  const layers: OverlayOptions[] = [];
  for (const [r, row] of rows.entries()) {
    for (const [c, image] of row.tiles.entries()) {
      if (!image) continue;
      const input = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
        .resize(tile, tile, { kernel: 'nearest', fit: 'contain', background: '#ffffff' })
        .png()
        .toBuffer();
      layers.push({ input, left: left + c * (tile + gap), top: top + r * (tile + gap) });
    }
  }
  const text = [
    ...options.columns.map((t, c) => `<text x="${left + c * (tile + gap) + tile / 2}" y="18" text-anchor="middle">${escapeXml(t)}</text>`),
    ...rows.map((row, r) => `<text x="${left - 8}" y="${top + r * (tile + gap) + tile / 2 + 5}" text-anchor="end">${escapeXml(row.title)}</text>`),
  ];
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><g font-family="DejaVu Sans, sans-serif" font-size="13" fill="#222">${text.join('')}</g></svg>`;
  layers.push({ input: Buffer.from(svg), left: 0, top: 0 });
  return sharp({ create: { width, height, channels: 3, background: '#ffffff' } })
    .composite(layers)
    .png()
    .toBuffer();
}
