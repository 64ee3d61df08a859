// What a new user meets on the command line: refusals instead of silent loss, errors that name the fault,
// progress in logs, help for every option, and exit codes that follow one policy.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import sharp from 'sharp';

import { SeqSam, checkpoint, disposeAll, tinyConfig } from '../dist/lib/index.js';
import { renderProgress } from '../dist/lib/train/progress-bar.js';
import { checkNothingDropped } from '../dist/lib/cli/convert-completeness.js';
import { tempDir, runCli } from './helpers.mjs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

const seqsam = runCli;

const data = 'synthetic:count=24,size=32,seed=4';
// 6 patients of 4 images: 4 train (8 steps of 2 an epoch), 1 validates, 1 tests.
const trainArgs = ['--data', data, '--fractions', '0.6', '0.2', '0.2', '--config', 'tiny', '--batch-size', '2', '--lr', '0.001', '--num-masks', '3'];

async function tinyImage(dir) {
  const file = join(dir, 'img.png');
  await sharp({ create: { width: 32, height: 32, channels: 3, background: '#406080' } }).png().toFile(file);
  return file;
}

test('--version, the exit-code policy in --help, and every option described', async () => {
  const version = await seqsam(['--version']);
  assert.equal(version.code, 0);
  assert.equal(version.stdout.trim(), pkg.version);
  const help = await seqsam(['--help']);
  assert.match(help.stdout, /Exit codes: 0 success, 1 the work failed, 2 a wrong command line/);
  for (const command of ['demo', 'train', 'eval', 'predict', 'embed', 'convert', 'info', 'bench']) {
    const r = await seqsam([command, '--help']);
    assert.equal(r.code, 0, r.stderr);
    // An option without a description shows its type tag right after its name.
    const bare = r.stdout.split('\n').filter((line) => /^\s+--[\w-]+\s+\[(string|number|boolean|array|choices)/.test(line));
    assert.deepEqual(bare, [], `${command} --help: options without a description`);
  }
  const convert = (await seqsam(['convert', '--help'])).stdout;
  for (const unused of ['--device', '--seed', '--threads', '--checkpoint', '--random-weights']) assert.ok(!convert.includes(unused), `convert lists ${unused}`);
  const embed = (await seqsam(['embed', '--help'])).stdout;
  for (const unused of ['--model', '--random-weights']) assert.ok(!embed.includes(unused), `embed lists ${unused}`);
});

test('usage and argument errors exit 2 and name the flag; work failures exit 1', async () => {
  const lr = await seqsam(['train', '--data', data, '--config', 'tiny', '--lr', 'abc']);
  assert.equal(lr.code, 2);
  assert.match(lr.stderr, /--lr: "abc" is not a number/);
  assert.doesNotMatch(lr.stderr, /eps/);
  const unknown = await seqsam(['train', '--data', 'synthetic', '--epochz', '3']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /Unknown argument: epochz/);
  const missing = await seqsam(['eval', '--random-weights', '--data', 'lidc:/nonexistent/file.pickle']);
  assert.equal(missing.code, 1, missing.stderr);
});

test('--help loads neither the native addon nor sharp', () => {
  const script = `
    const { main } = await import(${JSON.stringify(new URL('../dist/lib/cli/main.js', import.meta.url).href)});
    const fs = await import('node:fs');
    // yargs exits after printing help: look at what the process mapped on the way out.
    process.on('exit', () => {
      const maps = fs.readFileSync('/proc/self/maps', 'utf8');
      fs.writeSync(2, JSON.stringify({ addon: maps.includes('seqsam.node'), torch: /libtorch/.test(maps), sharp: /sharp|libvips/.test(maps) }) + String.fromCharCode(10));
    });
    await main(['--help']);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /seqsam train/);
  assert.deepEqual(JSON.parse(r.stderr.trim().split('\n').at(-1)), { addon: false, torch: false, sharp: false });
});

test('demo checks its split before training', async (t) => {
  const out = join(tempDir(t), 'demo');
  const started = performance.now();
  const r = await seqsam(['demo', '--count', '8', '--out', out]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /count 8 leaves the test split empty/);
  assert.ok(!existsSync(join(out, 'checkpoints')), 'nothing trained');
  assert.ok(performance.now() - started < 20_000);
});

test('convert keeps the cell of a SeqSAM checkpoint that does not say what it is, or refuses', async (t) => {
  const dir = tempDir(t);
  const model = await SeqSam.load({ config: tinyConfig, seed: 3 });
  const weights = model.stateDict('all');
  const input = join(dir, 'plain.safetensors');
  try {
    await checkpoint.writeSafetensors(input, weights, { format: 'pt' }); // as a Python export: no 'model' metadata
  } finally {
    disposeAll(weights);
    model.dispose();
  }
  const names = (await checkpoint.readSafetensorsHeader(input)).entries.map((e) => e.name);
  assert.ok(names.some((n) => n.startsWith('cell.')));
  const output = join(dir, 'out.safetensors');
  const r = await seqsam(['convert', input, output, '--config', 'tiny']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`all ${names.length} tensors`));
  const written = new Set((await checkpoint.readSafetensorsHeader(output)).entries.map((e) => e.name));
  for (const name of names) assert.ok(written.has(name), `${name} was dropped`);

  // The guard itself: an output lacking an input tensor is refused and removed.
  const partial = join(dir, 'partial.safetensors');
  const one = await SeqSam.load({ config: tinyConfig });
  const some = one.stateDict('sam');
  try {
    await checkpoint.writeSafetensors(partial, some, {});
  } finally {
    disposeAll(some);
    one.dispose();
  }
  await assert.rejects(checkNothingDropped(input, names, partial), (e) => e.code === 'ERR_CHECKPOINT' && /4 of its \d+ tensors would be lost/.test(e.message) && /--model seqsam/.test(e.message));
  assert.ok(!existsSync(partial));
});

test('train: a short run still evaluates and keeps best; an existing run is refused; step checkpoints are kept; progress lines in a log', async (t) => {
  const dir = tempDir(t);
  const out = join(dir, 'run');
  const first = await seqsam(['train', ...trainArgs, '--epochs', '1', '--eval-every', '1000', '--save-every', '2', '--keep', '2', '--split-by', 'image', '--progress-every', '3', '--out', out]);
  assert.equal(first.code, 0, first.stderr);
  assert.ok(existsSync(join(out, 'best.safetensors')), 'a run shorter than --eval-every writes best.safetensors');
  // 14 training images split by image: 7 steps, the last one evaluated.
  assert.match(first.stderr, /step 7: validation ged/);
  // Piped stderr: a plain line at the first step, every 3 steps, and the last.
  const lines = first.stderr.split('\n').filter((l) => l.startsWith('progress: '));
  assert.deepEqual(lines.map((l) => Number(/ (\d+)\/7 /.exec(l)[1])), [1, 4, 7], first.stderr);
  assert.deepEqual(readdirSync(out).filter((n) => n.startsWith('step-')).sort(), ['step-0000004.safetensors', 'step-0000006.safetensors']);
  const { metadata } = await checkpoint.readSafetensorsHeader(join(out, 'best.safetensors'));
  assert.deepEqual(JSON.parse(metadata.split), { seed: 0, fractions: [0.6, 0.2, 0.2], by: 'image' });

  const again = await seqsam(['train', ...trainArgs, '--epochs', '1', '--out', out, '--progress', 'off']);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /holds a run already.*--resume.*--overwrite/);
  const log = readFileSync(join(out, 'train.jsonl'), 'utf8');
  const replaced = await seqsam(['train', ...trainArgs, '--epochs', '1', '--out', out, '--overwrite', '--progress', 'off']);
  assert.equal(replaced.code, 0, replaced.stderr);
  assert.equal(readdirSync(out).filter((n) => n.startsWith('step-')).length, 0, 'the old step checkpoints went with --overwrite');
  assert.ok(readFileSync(join(out, 'train.jsonl'), 'utf8').split('\n').length <= log.split('\n').length + 2, 'the log started over');
});

test('eval: the split recorded by train, an empty split named, --json on stdout, --json-out to a file', async (t) => {
  const dir = tempDir(t);
  const out = join(dir, 'run');
  const trained = await seqsam(['train', ...trainArgs, '--epochs', '1', '--split-by', 'image', '--progress', 'off', '--out', out]);
  assert.equal(trained.code, 0, trained.stderr);
  const best = join(out, 'best.safetensors');
  const file = join(dir, 'eval.json');
  const ev = await seqsam(['eval', '--data', data, '--checkpoint', best, '--num-masks', '2', '--json', '--json-out', file]);
  assert.equal(ev.code, 0, ev.stderr);
  const printed = JSON.parse(ev.stdout);
  assert.deepEqual(printed.splitSettings, { seed: 0, fractions: [0.6, 0.2, 0.2], by: 'image' });
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), printed);
  assert.equal(printed.results[0].count, 5, 'the image-level test split of 24 images at 0.2');
  assert.match(ev.stderr, /ged/, 'the table goes to stderr when stdout carries JSON');

  const empty = await seqsam(['eval', '--data', data, '--checkpoint', best, '--fractions', '1', '0', '0']);
  assert.equal(empty.code, 1);
  assert.match(empty.stderr, /ERR_DATA.*the test split of synthetic:count=24,size=32,seed=4 is empty: 24 images split by image with fractions 1\/0\/0/);
});

test('predict and eval refuse random weights unless asked; a SAM-MCL model says it gives 3 masks; a preset that does not fit is named', async (t) => {
  const dir = tempDir(t);
  const image = await tinyImage(dir);
  const box = ['--box', '4', '4', '28', '28'];
  for (const args of [['predict', image, ...box, '--config', 'tiny'], ['eval', '--data', data, '--config', 'tiny']]) {
    const r = await seqsam(args);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /randomly initialised.*--random-weights/);
  }
  const random = await seqsam(['predict', image, ...box, '--config', 'tiny', '--random-weights', '--out', join(dir, 'random')]);
  assert.equal(random.code, 0, random.stderr);
  assert.match(random.stderr, /RANDOM weights/);

  const out = join(dir, 'mcl');
  const trained = await seqsam(['train', ...trainArgs, '--model', 'sam-mcl', '--epochs', '1', '--progress', 'off', '--out', out]);
  assert.equal(trained.code, 0, trained.stderr);
  const many = await seqsam(['predict', image, ...box, '--checkpoint', join(out, 'last.safetensors'), '--num-masks', '10', '--out', join(dir, 'pred')]);
  assert.equal(many.code, 0, many.stderr);
  assert.match(many.stderr, /a sam-mcl model gives 3 mask\(s\) per prompt, not the 10/);

  const vitB = await seqsam(['predict', image, ...box, '--preset', 'vit_b', '--checkpoint', join(out, 'last.safetensors'), '--out', join(dir, 'vitb')]);
  assert.equal(vitB.code, 1);
  assert.match(vitB.stderr, /this checkpoint is not a vit_b: its image encoder has depth 4 and width 64/);
  assert.ok(vitB.stderr.length < 1000, `a short message, not every key (${vitB.stderr.length} characters)`);
});

test('Ctrl-C during training exits 130', async (t) => {
  const out = join(tempDir(t), 'run');
  let sent = false;
  const r = await seqsam(['train', ...trainArgs, '--epochs', '50', '--progress', 'lines', '--progress-every', '1', '--out', out], {
    onStderr: (text, child) => {
      if (!sent && /progress: /.test(text)) {
        sent = true;
        child.kill('SIGINT');
      }
    },
  });
  assert.ok(sent);
  assert.equal(r.code, 130, r.stderr);
  assert.ok(existsSync(join(out, 'last.safetensors')), 'a resumable checkpoint');
});

test('the embedding bar shows no loss or learning rate it does not have', () => {
  const line = renderProgress({ step: 2, totalSteps: 4, imagesPerSecond: 1.5, etaSeconds: 3 }, 4);
  assert.doesNotMatch(line, /NaN|loss|lr|epoch/);
  assert.match(line, /2\/4 1\.5 img\/s eta 00:03/);
  assert.doesNotMatch(renderProgress({ step: 2, totalSteps: 4, loss: NaN, lr: NaN, imagesPerSecond: 1, etaSeconds: 1 }), /NaN/);
});
