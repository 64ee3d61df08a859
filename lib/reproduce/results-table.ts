// table.md: our numbers beside the published ones, row by row, with the paper's table named for each
// published cell and "not available here" where the project's copy of the paper gives none.
import type { MetricSummary } from '../metrics.js';
import type { TrainingOptions } from '../model/seqsam.js';
import { publishedFor, type PublishedNumber } from './paper-numbers.js';
import type { ReproduceSettings } from './settings.js';

/** One finished row, as runs/<run>/row-<id>.json holds it. */
export interface RowResult {
  id: string;
  title: string;
  table: 'main' | 'ablation';
  run: string;
  training: TrainingOptions;
  masks: number;
  count: number;
  mean: MetricSummary;
  std: MetricSummary;
  dropped: MetricSummary;
  /** Seconds its run trained (null where not known: trained by an earlier call that recorded no time). */
  trainSeconds: number | null;
}

const notAvailable = 'not available here';

const percent = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : (100 * v).toFixed(1));
const plain = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(3));
const published = (n: PublishedNumber | undefined, digits: number) => (n ? `${n.note?.startsWith('about') ? '≈' : ''}${n.value.toFixed(digits)}` : notAvailable);

function section(title: string, settings: ReproduceSettings, rows: readonly RowResult[]): string {
  const lines = [
    `## ${title}`,
    '',
    '| row | masks | Dice % (ours) | Dice % (paper) | Dmax % (ours) | 2nd Dice % (paper) | GED (ours) | GED (paper) | test images | paper source |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  const notes = new Set<string>();
  for (const r of rows) {
    const p = publishedFor(settings.dataset, r.id);
    const sources = [...new Set([p.dice, p.diceSecond, p.ged].filter((n): n is PublishedNumber => !!n).map((n) => n.source))];
    for (const n of [p.dice, p.diceSecond, p.ged]) if (n?.note) notes.add(n.note);
    if (p.remark) notes.add(`${r.title}: ${p.remark}`);
    const source = sources.length ? sources.join(', ') : notAvailable;
    lines.push(`| ${r.title} | ${r.masks} | ${percent(r.mean.dice)} | ${published(p.dice, 1)} | ${percent(r.mean.diceMax)} | ${published(p.diceSecond, 1)} | ${plain(r.mean.ged)} | ${published(p.ged, 3)} | ${r.count} | ${source} |`);
  }
  if (notes.size) lines.push('', ...[...notes].map((n) => `- ${n}`));
  return `${lines.join('\n')}\n`;
}

/** The Markdown of the whole reproduction: settings, Table 1A's rows, Table 1B's rows, notes. */
export function resultsTable(settings: ReproduceSettings, rows: readonly RowResult[], dataDescription: string): string {
  const main = rows.filter((r) => r.table === 'main');
  const ablation = rows.filter((r) => r.table === 'ablation');
  const parts = [
    `# SeqSAM reproduction: ${settings.dataset}`,
    '',
    `Data \`${settings.data}\` (${dataDescription}); weights ${settings.weights} (${settings.architecture}); protocol ${settings.protocol}; ` +
      `${settings.epochs} epoch(s), batch ${settings.batchSize}, AdamW lr ${settings.lr} (${settings.schedule} decay), weight decay ${settings.weightDecay}, seed ${settings.seed}. ` +
      'The final model of each run is evaluated. Published numbers: SeqSAM (arXiv 2503.09797), the table named in the last column.',
    '',
    section('Table 1A: SeqSAM and the SAM baselines', settings, main),
    section(`Table 1B: ablations (each trained and evaluated at M = ${ablation[0]?.masks ?? 10})`, settings, ablation),
    'Dice: majority vote of the masks against each rater, averaged over raters; Dmax: each mask\'s best Dice against a rater; GED with d = 1 − IoU (lower is better). ' +
      'Means leave out images where a metric is undefined (results.json: `dropped`).',
  ];
  if (settings.dataset === 'synthetic') parts.push('', 'The synthetic set is not the paper\'s data: its rows check that the pipeline runs, and the published numbers do not apply to it.');
  return `${parts.join('\n')}\n`;
}
