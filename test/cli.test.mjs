// The command line as a user runs it: spawned processes, exit codes, files written, clear errors.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import sharp from 'sharp';

import { checkpoint, disposeAll } from '../dist/lib/index.js';
import { mulberry32, tempDir, runCli } from './helpers.mjs';

const seqsam = runCli;

// A single-channel PNG's pixels.
async function greyPixels(path) {
  const { channels } = await sharp(path).metadata();
  const { data, info } = await sharp(path).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels };
}

// One quick demo run shared by the tests that need trained checkpoints.
let demo;
before(async () => {
  demo = mkdtempSync(join(tmpdir(), 'seqsam-cli-'));
  const r = await seqsam(['demo', '--quick', '--out', demo]);
  assert.equal(r.code, 0, r.stderr);
});
after(() => rmSync(demo, { recursive: true, force: true }));

test('--help lists every command; unknown commands and flags fail with a message', async () => {
  const help = await seqsam(['--help']);
  assert.equal(help.code, 0);
  for (const command of ['demo', 'train', 'eval', 'predict', 'embed', 'convert', 'info', 'bench']) assert.match(help.stdout, new RegExp(`seqsam ${command}`));
  const unknown = await seqsam(['frobnicate']);
  assert.notEqual(unknown.code, 0);
  assert.match(unknown.stderr, /Unknown argument: frobnicate/);
  const badFlag = await seqsam(['train', '--data', 'synthetic', '--epochz', '3']);
  assert.notEqual(badFlag.code, 0);
  assert.match(badFlag.stderr, /epochz/);
  const missing = await seqsam(['train']);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /Missing required argument: data/);
});

test('demo writes a report whose table, pictures and metrics agree', async () => {
  const metrics = JSON.parse(readFileSync(join(demo, 'metrics.json'), 'utf8'));
  assert.deepEqual(metrics.results.map((r) => [r.objective, r.masks]), [['seqsam', 4], ['seqsam', 8], ['sam-mcl', 3], ['sam-det', 1]]);
  for (const r of metrics.results) {
    for (const key of ['ged', 'dice', 'diceMax', 'collectiveInsight']) assert.ok(Number.isFinite(r.mean[key]), `${r.name} ${key}`);
    assert.ok(r.mean.ged >= 0 && r.mean.ged <= 2 && r.mean.dice >= 0 && r.mean.dice <= 1);
  }
  // A single mask has no diversity; the other models' masks are scored as they are.
  assert.equal(metrics.results[3].mean.sampleDiversity, 0);
  const html = readFileSync(join(demo, 'report.html'), 'utf8');
  for (const r of metrics.results) assert.ok(html.includes(r.mean.ged.toFixed(3)), `report lacks ${r.name}'s GED`);
  const curves = await sharp(join(demo, 'curves.png')).metadata();
  assert.equal(curves.format, 'png');
  assert.ok(curves.width > 600 && curves.height > 200);
  const montages = readdirSync(join(demo, 'montages'));
  assert.equal(montages.length, 2);
  for (const file of montages) {
    assert.ok(html.includes(`montages/${file}`));
    const m = await sharp(join(demo, 'montages', file)).metadata();
    // image | 4 raters | 4 masks (the widest model) | disagreement: 10 tiles wide; a row per model
    assert.ok(m.width > 10 * 100 && m.height > 3 * 100, `${file}: ${m.width}×${m.height}`);
  }
  for (const objective of ['seqsam', 'sam-mcl', 'sam-det']) assert.ok(existsSync(join(demo, 'checkpoints', objective, 'last.safetensors')));
});

// A 48×40 grey picture with a bright blob.
async function writeImage(path) {
  const random = mulberry32(3);
  const [width, height] = [48, 40];
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = Math.hypot(x - 24, y - 20) < 9 ? 200 + random() * 40 : 40 + random() * 40;
  await sharp(data, { raw: { width, height, channels: 1 } }).png().toFile(path);
}

test('predict writes M masks, an overlay, a disagreement map and JSON that match each other', async (t) => {
  const dir = tempDir(t);
  const image = join(dir, 'blob.png');
  await writeImage(image);
  const expected = { seqsam: 5, 'sam-mcl': 3, 'sam-det': 1 };
  for (const [objective, count] of Object.entries(expected)) {
    const out = join(dir, objective);
    const r = await seqsam(['predict', image, '--box', '10', '8', '38', '32', '--num-masks', '5', '--out', out, '--checkpoint', join(demo, 'checkpoints', objective, 'last.safetensors')]);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(readFileSync(join(out, 'blob', 'prediction.json'), 'utf8'));
    assert.equal(summary.model, objective);
    assert.equal(summary.masks.length, count, objective);
    for (const mask of summary.masks) {
      const png = await greyPixels(join(out, 'blob', mask.file));
      assert.deepEqual([png.width, png.height, png.channels], [48, 40, 1]);
      const area = png.data.reduce((a, v) => a + (v === 255 ? 1 : 0), 0);
      assert.equal(png.data.filter((v) => v !== 0 && v !== 255).length, 0, 'masks are binary');
      assert.equal(mask.area, area, `${objective} ${mask.file}: JSON area vs PNG`);
      assert.ok(Number.isFinite(mask.iou));
    }
    for (const file of ['overlay.png', 'uncertainty.png', 'mean.png']) {
      const m = await sharp(join(out, 'blob', file)).metadata();
      assert.deepEqual([m.width, m.height], [48, 40], file);
    }
    if (count === 1) assert.equal(summary.meanVariance, 0, 'one mask cannot disagree with itself');
  }
});

test('predict rejects bad prompts and missing files with messages naming them', async (t) => {
  const dir = tempDir(t);
  const image = join(dir, 'blob.png');
  await writeImage(image);
  // Exit 2: the command line is wrong (see lib/cli/exit-codes.ts); --random-weights: no checkpoint needed here.
  const short = await seqsam(['predict', image, '--box', '1', '2', '3']);
  assert.equal(short.code, 2);
  assert.match(short.stderr, /--box takes four numbers/);
  const outside = await seqsam(['predict', image, '--box', '0', '0', '100', '30', '--random-weights']);
  assert.equal(outside.code, 2);
  assert.match(outside.stderr, /ERR_ARGUMENT.*outside the 48×40 image/);
  const missing = await seqsam(['predict', join(dir, 'nope.png'), '--box', '0', '0', '10', '10', '--random-weights']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nope\.png/);
  const noPrompt = await seqsam(['predict', image]);
  assert.equal(noPrompt.code, 2);
  assert.match(noPrompt.stderr, /give a prompt/);
  const badData = await seqsam(['eval', '--data', 'mnist:foo', '--random-weights']);
  assert.equal(badData.code, 2);
  assert.match(badData.stderr, /unknown dataset kind "mnist"/);
  const preset = await seqsam(['predict', image, '--box', '0', '0', '10', '10', '--preset', 'vit_b', '--checkpoint', join(demo, 'checkpoints', 'seqsam', 'last.safetensors')]);
  assert.equal(preset.code, 1);
  assert.match(preset.stderr, /ERR_CHECKPOINT/);
});

test('train, Ctrl-C, resume and eval: the interrupted run ends where an uninterrupted one does', async (t) => {
  const dir = tempDir(t);
  const data = 'synthetic:count=24,size=32,seed=4';
  // 6 patients: 4 to train (8 steps an epoch), 1 to validate, 1 to test.
  const common = ['--data', data, '--fractions', '0.6', '0.2', '0.2', '--config', 'tiny', '--epochs', '3', '--batch-size', '2', '--lr', '0.001', '--num-masks', '3', '--seed', '2', '--no-progress'];
  const full = await seqsam(['train', ...common, '--out', join(dir, 'full')]);
  assert.equal(full.code, 0, full.stderr);

  // Interrupt after the first validation line, then resume.
  let sent = false;
  const stopped = await seqsam(['train', ...common, '--out', join(dir, 'cut')], {
    onStderr: (text, child) => {
      if (!sent && /validation/.test(text)) {
        sent = true;
        child.kill('SIGINT');
      }
    },
  });
  assert.ok(sent, 'training printed no validation line');
  assert.notEqual(stopped.code, 0);
  assert.match(stopped.stderr, /stopping training/);
  assert.ok(existsSync(join(dir, 'cut', 'last.safetensors')));
  const resumed = await seqsam(['train', ...common, '--out', join(dir, 'cut'), '--resume']);
  assert.equal(resumed.code, 0, resumed.stderr);

  const a = await checkpoint.readSafetensors(join(dir, 'full', 'last.safetensors'));
  const b = await checkpoint.readSafetensors(join(dir, 'cut', 'last.safetensors'));
  try {
    assert.deepEqual(Object.keys(b.tensors).sort(), Object.keys(a.tensors).sort());
    assert.ok(Object.keys(a.tensors).some((n) => n.startsWith('cell.')));
    for (const name of Object.keys(a.tensors)) assert.deepEqual(await b.tensors[name].toTypedArray(), await a.tensors[name].toTypedArray(), name);
  } finally {
    disposeAll(a.tensors);
    disposeAll(b.tensors);
  }

  const json = join(dir, 'eval.json');
  const ev = await seqsam(['eval', '--data', data, '--fractions', '0.6', '0.2', '0.2', '--checkpoint', join(dir, 'full', 'best.safetensors'), '--num-masks', '2', '6', '--seed', '2', '--json-out', json]);
  assert.equal(ev.code, 0, ev.stderr);
  const results = JSON.parse(readFileSync(json, 'utf8')).results;
  assert.deepEqual(results.map((r) => r.numMasks), [2, 6]);
  assert.equal(results[0].count, results[0].ids.length);
  assert.match(ev.stdout, /ged/);
});

test('embed fills the cache once; convert keeps every tensor', async (t) => {
  const dir = tempDir(t);
  const args = ['embed', '--data', 'synthetic:count=3,size=32', '--config', 'tiny', '--cache-dir', join(dir, 'cache')];
  const first = await seqsam(args);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /3 embedded, 0 already cached/);
  const second = await seqsam(args);
  assert.match(second.stdout, /0 embedded, 3 already cached/);

  const source = join(demo, 'checkpoints', 'seqsam', 'last.safetensors');
  const output = join(dir, 'converted.safetensors');
  const r = await seqsam(['convert', source, output]);
  assert.equal(r.code, 0, r.stderr);
  const a = await checkpoint.readSafetensors(source);
  const b = await checkpoint.readSafetensors(output);
  try {
    const weights = Object.keys(a.tensors).filter((n) => !n.startsWith('optimizer.'));
    assert.deepEqual(Object.keys(b.tensors).filter((n) => !n.startsWith('optimizer.')).sort(), weights.sort());
    for (const name of weights.slice(0, 20)) assert.deepEqual(await b.tensors[name].toTypedArray(), await a.tensors[name].toTypedArray(), name);
  } finally {
    disposeAll(a.tensors);
    disposeAll(b.tensors);
  }
  const unnamed = await seqsam(['convert', source, join(dir, 'x.pth')]);
  assert.equal(unnamed.code, 2);
  assert.match(unnamed.stderr, /name it \*\.safetensors/);
});

test('bench stopped by SIGTERM (a time limit) still reports the entries it measured, as JSON marked partial', async () => {
  // Each entry goes to stderr as it is measured; the stop comes after the first, while the second runs.
  let stopped = false;
  const run = await seqsam(['bench', '--case', 'matching', '--repeats', '40', '--json'], {
    timeoutMs: 300_000,
    onStderr: (stderr, child) => {
      if (!stopped && /bench: {3}cost \+ matching/.test(stderr)) {
        stopped = true;
        child.kill('SIGTERM');
      }
    },
  });
  assert.ok(stopped, `no entry was reported on stderr:\n${run.stderr}`);
  assert.equal(run.code, 143, run.stderr);
  const report = JSON.parse(run.stdout);
  assert.equal(report.partial, true);
  assert.equal(report.stoppedBy, 'SIGTERM');
  assert.ok(report.entries.length >= 1, run.stdout);
  const [first] = report.entries;
  assert.match(run.stderr, new RegExp(`bench: {3}${first.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, ${first.threads} thr`));
  assert.equal(first.case, 'matching');
  assert.ok(first.value > 0 && first.settings?.K === 4, JSON.stringify(first));
});
