// `seqsam reproduce synthetic`, end to end on a small synthetic set: every row of the paper's tables in
// table.md and results.json with numbers in range, the published numbers cited where the paper gives them,
// finished rows skipped on a rerun, a lost row evaluated again alone, other settings refused.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { reproduceRuns } from '../dist/lib/reproduce/rows.js';
import { resultsTable } from '../dist/lib/reproduce/results-table.js';
import { publishedNumbers } from '../dist/lib/reproduce/paper-numbers.js';
import { runCli } from './helpers.mjs';

const small = ['--data', 'synthetic:count=40,size=32', '--epochs', '1'];

const seqsam = runCli;

const rows = reproduceRuns().flatMap((run) => run.rows.map((row) => ({ ...row, run: run.id })));

let out;
let first;
before(async () => {
  out = mkdtempSync(join(tmpdir(), 'seqsam-reproduce-'));
  first = await seqsam(['reproduce', 'synthetic', ...small, '--out', out]);
  assert.equal(first.code, 0, first.stderr);
});
after(() => rmSync(out, { recursive: true, force: true }));

test('table.md and results.json hold every row of both tables, numbers in range', () => {
  const table = readFileSync(join(out, 'table.md'), 'utf8');
  assert.equal(first.stdout, table);
  for (const heading of ['Table 1A', 'Table 1B']) assert.match(table, new RegExp(`## ${heading}`));
  for (const row of rows) assert.ok(table.includes(`| ${row.title} |`), `row ${row.title} in table.md`);
  // The file-order split of 40: ⌊(1 − 0.9)·40⌋ = 3 test images.
  const { rows: results, settings } = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
  assert.equal(settings.protocol, 'reference');
  assert.deepEqual(results.map((r) => r.id), rows.map((r) => r.id));
  for (const r of results) {
    assert.equal(r.count, 3, `${r.id}: test images`);
    const expectedMasks = r.training.objective === 'sam-mcl' ? 3 : r.training.objective === 'sam-det' ? 1 : rows.find((x) => x.id === r.id).numMasks;
    assert.equal(r.masks, expectedMasks, `${r.id}: masks`);
    for (const metric of ['dice', 'diceMax']) assert.ok(r.mean[metric] >= 0 && r.mean[metric] <= 1, `${r.id} ${metric} ${r.mean[metric]}`);
    assert.ok(r.mean.ged >= 0 && r.mean.ged <= 2, `${r.id} GED ${r.mean.ged}`);
    assert.ok(r.trainSeconds > 0, `${r.id}: training time`);
  }
  // Each run trained from the same start, with the protocol and its own ablation recorded.
  const training = Object.fromEntries(results.map((r) => [r.id, r.training]));
  assert.equal(training['ablation-first-k'].pooling, 'first-k');
  assert.equal(training['ablation-random'].pooling, 'random');
  assert.equal(training['ablation-stop-gradient'].feedback, 'stop-gradient');
  assert.equal(training['ablation-fixed-matching'].matching, 'fixed');
  assert.equal(training.seqsam.numMasks, 4);
  assert.ok(existsSync(join(out, 'report.html')));
});

test('a rerun skips every finished row; a lost row is evaluated again, without training', async () => {
  const last = join(out, 'runs', 'sam-det', 'last.safetensors');
  const before = statSync(last).mtimeMs;
  const again = await seqsam(['reproduce', 'synthetic', ...small, '--out', out]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, new RegExp(`0 row\\(s\\) evaluated, ${rows.length} finished before and skipped`));
  const kept = JSON.parse(readFileSync(join(out, 'runs', 'sam-det', 'row-sam-det.json'), 'utf8'));
  rmSync(join(out, 'runs', 'sam-det', 'row-sam-det.json'));
  const lost = await seqsam(['reproduce', 'synthetic', ...small, '--out', out]);
  assert.equal(lost.code, 0, lost.stderr);
  assert.match(lost.stderr, new RegExp(`1 row\\(s\\) evaluated, ${rows.length - 1} finished before and skipped`));
  assert.match(lost.stderr, /sam-det: trained before/);
  assert.equal(statSync(last).mtimeMs, before, 'the finished run was not trained again');
  const redone = JSON.parse(readFileSync(join(out, 'runs', 'sam-det', 'row-sam-det.json'), 'utf8'));
  assert.deepEqual(redone.mean, kept.mean, 'the same final model gives the same numbers');
});

test('other settings in the same folder are refused, naming the setting; real data needs --data and weights', async () => {
  const other = await seqsam(['reproduce', 'synthetic', '--data', 'synthetic:count=40,size=32', '--epochs', '2', '--out', out]);
  assert.equal(other.code, 2);
  assert.match(other.stderr, /ERR_ARGUMENT.*epochs 1, not 2/);
  const noData = await seqsam(['reproduce', 'lidc', '--out', join(out, 'lidc')]);
  assert.equal(noData.code, 2);
  assert.match(noData.stderr, /--data is required/);
  const noWeights = await seqsam(['reproduce', 'lidc', '--data', 'lidc:x.pickle', '--out', join(out, 'lidc')]);
  assert.equal(noWeights.code, 2);
  assert.match(noWeights.stderr, /--checkpoint is required/);
  const wrongKind = await seqsam(['reproduce', 'lidc', '--data', 'synthetic', '--random-weights', '--out', join(out, 'lidc')]);
  assert.equal(wrongKind.code, 2);
  assert.match(wrongKind.stderr, /--data synthetic: reproduce lidc reads lidc:<path>/);
});

test("LIDC's table puts the paper's numbers beside ours and cites their table; the rest say not available here", () => {
  const mean = { dice: 0.8, diceMax: 0.9, ged: 0.25 };
  const results = rows.map((r) => ({ id: r.id, title: r.title, table: r.table, run: r.run, training: {}, masks: r.numMasks, count: 10, mean, std: mean, dropped: {}, trainSeconds: 1 }));
  const settings = { dataset: 'lidc', data: 'lidc:x', epochs: 1, batchSize: 2, lr: 1e-4, weightDecay: 0.01, schedule: 'linear', protocol: 'reference', seed: 0, weights: 'medsam_vit_b.pth', architecture: 'vit_b' };
  const table = resultsTable(settings, results, 'file order');
  const line = (title) => table.split('\n').find((l) => l.startsWith(`| ${title} |`));
  assert.equal(line('SeqSAM (M=4)'), '| SeqSAM (M=4) | 4 | 80.0 | 83.8 | 90.0 | 90.0 | 0.250 | 0.227 | 10 | Table 1A |');
  assert.equal(line('SAM-MCL (3 heads)'), '| SAM-MCL (3 heads) | 3 | 80.0 | 82.4 | 90.0 | not available here | 0.250 | 0.245 | 10 | Table 1A |');
  assert.match(line('SeqSAM, evaluated at M=10'), /\| 83\.5 \|.*\| 89\.4 \|.*\| ≈0\.234 \|/);
  assert.match(line('first-K pooling'), /\| 78\.7 \|.*Table 1B \|$/);
  assert.match(line('SAM (one mask)'), /not available here \|$/);
  assert.deepEqual(Object.keys(publishedNumbers.qubiq), [], 'no QUBIQ number is in the paper summary the project holds');
});
