// The HTML report: what was run, the metrics table (best value of each column in bold), the training
// curves and the montages. Self-contained apart from the PNGs beside it.
import type { MetricName, MetricSummary } from '../metrics.js';

export interface ReportRow {
  name: string;
  masks: number;
  mean: MetricSummary;
  std: MetricSummary;
  /** Images each metric left out (undefined value there), when known. */
  dropped?: MetricSummary;
  trainSeconds?: number;
}

export interface ReportInput {
  title: string;
  intro: string;
  settings: Record<string, string | number>;
  rows: readonly ReportRow[];
  curves?: string;
  montages: ReadonlyArray<{ id: string; file: string }>;
  legend?: string;
}

// Columns of the table: metric, heading, whether lower is better.
export const reportColumns: ReadonlyArray<readonly [MetricName, string, boolean]> = [
  ['ged', 'GED ↓', true],
  ['dice', 'Dice ↑', false],
  ['diceMax', 'Dmax ↑', false],
  ['collectiveInsight', 'Collective insight ↑', false],
  ['hmIou', 'HM-IoU ↑', false],
  ['sampleDiversity', 'Sample diversity', false],
];

const escapeHtml = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

function table(rows: readonly ReportRow[]): string {
  const best = new Map<MetricName, number>();
  for (const [key, , lower] of reportColumns) {
    if (key === 'sampleDiversity') continue; // neither direction is "better"
    const values = rows.map((r) => r.mean[key]).filter((v) => Number.isFinite(v));
    if (values.length) best.set(key, lower ? Math.min(...values) : Math.max(...values));
  }
  const head = `<tr><th>model</th><th>masks</th>${reportColumns.map(([, h]) => `<th>${h}</th>`).join('')}<th>training</th></tr>`;
  const body = rows
    .map((r) => {
      const cells = reportColumns.map(([key]) => {
        const v = r.mean[key];
        const text = Number.isFinite(v) ? `${v.toFixed(3)} <small>± ${r.std[key].toFixed(3)}</small>` : '–';
        return best.get(key) === v ? `<td><b>${text}</b></td>` : `<td>${text}</td>`;
      });
      const time = r.trainSeconds === undefined ? '–' : `${r.trainSeconds.toFixed(0)} s`;
      return `<tr><td>${escapeHtml(r.name)}</td><td>${r.masks}</td>${cells.join('')}<td>${time}</td></tr>`;
    })
    .join('\n');
  return `<table>\n${head}\n${body}\n</table>\n${tableNotes(rows)}`;
}

// Below the table: what collective insight is, and the images a mean left out, per model and metric.
function tableNotes(rows: readonly ReportRow[]): string {
  const notes = ['Collective insight is 3abc/(a+b+c) of sensitivity a, Dmax b and diversity agreement c, as the reference computes it.'];
  for (const r of rows) {
    const left = reportColumns.filter(([key]) => (r.dropped?.[key] ?? 0) > 0).map(([key, heading]) => `${heading.replace(/ [↑↓]$/, '')} ${r.dropped![key]}`);
    if (left.length) notes.push(`${r.name} (${r.masks} masks): images without a value, left out of the mean: ${left.join(', ')}.`);
  }
  return notes.map((n) => `<p><small>${escapeHtml(n)}</small></p>`).join('\n');
}

export function reportHtml(input: ReportInput): string {
  const settings = Object.entries(input.settings)
    .map(([k, v]) => `<code>${escapeHtml(k)}</code> ${escapeHtml(String(v))}`)
    .join(' · ');
  const montages = input.montages.map((m) => `<figure><img src="${escapeHtml(m.file)}" alt="${escapeHtml(m.id)}"><figcaption>${escapeHtml(m.id)}</figcaption></figure>`).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(input.title)}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; color: #222; padding: 0 1em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.35em 0.8em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
small { color: #777; }
figure { margin: 1.5em 0; }
figcaption { color: #555; font-size: 0.9em; }
img { max-width: 100%; }
</style>
</head>
<body>
<h1>${escapeHtml(input.title)}</h1>
<p>${escapeHtml(input.intro)}</p>
<p><small>${settings}</small></p>
<h2>Test-set metrics (mean ± std over images)</h2>
${table(input.rows)}
${input.curves ? `<h2>Training</h2>\n<img src="${escapeHtml(input.curves)}" alt="training curves">` : ''}
<h2>Examples</h2>
${input.legend ? `<p>${escapeHtml(input.legend)}</p>` : ''}
${montages}
</body>
</html>
`;
}
