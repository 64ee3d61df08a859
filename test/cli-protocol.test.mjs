// `--protocol reference` on `seqsam train` and `seqsam eval`, on the synthetic set: the file-order split
// recorded in the checkpoint, the protocol recorded beside it, the final model evaluated, the loaders asked
// for the reference's data reading.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { checkpoint } from '../dist/lib/index.js';
import { synthetic } from '../dist/lib/data/index.js';
import { openDataset } from '../dist/lib/cli/dataset-spec.js';
import { fixture, fixtureTest, runCli } from './helpers.mjs';

const data = 'synthetic:count=40,size=32';
const count = 40;

const seqsam = runCli;

// The reference's split written out here: held out ⌊(1 − 0.9)·N⌋, validation first, test next.
function fileOrderSplit(n) {
  const heldOut = Math.floor((1.0 - 0.9) * n);
  const range = (a, b) => Array.from({ length: b - a }, (_, i) => a + i);
  return { val: range(0, heldOut), test: range(heldOut, 2 * heldOut), train: range(2 * heldOut, n) };
}

let dir;
let reference;
let plain;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'seqsam-protocol-'));
  reference = join(dir, 'reference');
  plain = join(dir, 'plain');
  const common = ['train', '--data', data, '--epochs', '1', '--batch-size', '8', '--progress', 'off'];
  const [r, p] = [await seqsam([...common, '--protocol', 'reference', '--out', reference]), await seqsam([...common, '--out', plain])];
  assert.equal(r.code, 0, r.stderr);
  assert.equal(p.code, 0, p.stderr);
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('train --protocol reference records the protocol and the file-order split, trains on the rest, names the final model', async () => {
  const { metadata } = await checkpoint.readSafetensorsHeader(join(reference, 'last.safetensors'));
  assert.equal(metadata.protocol, 'reference');
  assert.equal(JSON.parse(metadata.training).protocol, 'reference');
  assert.equal(JSON.parse(metadata.split).by, 'reference');
  const expected = fileOrderSplit(count);
  assert.equal(JSON.parse(metadata.step), Math.ceil(expected.train.length / 8), 'steps of one epoch over the training part');
  const log = readFileSync(join(reference, 'train.jsonl'), 'utf8');
  assert.match(log, /"type":"eval"/);
  // Without the protocol: the patient split and no protocol recorded.
  const own = (await checkpoint.readSafetensorsHeader(join(plain, 'last.safetensors'))).metadata;
  assert.equal(own.protocol, undefined);
  assert.equal(JSON.parse(own.split).by, 'group');
});

test('eval of a reference run folder takes last.safetensors, the recorded protocol and the file-order test images', async () => {
  const r = await seqsam(['eval', '--data', data, '--checkpoint', reference, '--json', '--num-masks', '4']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.checkpoint, join(reference, 'last.safetensors'));
  assert.equal(out.protocol, 'reference');
  assert.equal(out.splitSettings.by, 'reference');
  const dataset = synthetic({ count, size: 32 });
  const ids = await Promise.all(fileOrderSplit(count).test.map(async (i) => (await dataset.get(i)).id));
  assert.deepEqual(out.results[0].ids, ids);
  assert.match(r.stderr, /trained under protocol reference/);
  const val = JSON.parse((await seqsam(['eval', '--data', data, '--checkpoint', reference, '--split', 'val', '--json'])).stdout);
  assert.equal(val.results[0].count, fileOrderSplit(count).val.length);
});

test('eval of a plain run folder takes best.safetensors; --protocol reference there takes last and the file-order split', async () => {
  const own = JSON.parse((await seqsam(['eval', '--data', data, '--checkpoint', plain, '--json'])).stdout);
  assert.equal(own.checkpoint, join(plain, 'best.safetensors'));
  assert.equal(own.splitSettings.by, 'group');
  assert.equal(own.protocol, undefined);
  const asReference = JSON.parse((await seqsam(['eval', '--data', data, '--checkpoint', plain, '--protocol', 'reference', '--json'])).stdout);
  assert.equal(asReference.checkpoint, join(plain, 'last.safetensors'));
  assert.equal(asReference.splitSettings.by, 'reference');
  assert.equal(asReference.results[0].count, fileOrderSplit(count).test.length);
  // A flag given explicitly still wins over the protocol.
  const byGroup = JSON.parse((await seqsam(['eval', '--data', data, '--checkpoint', reference, '--split-by', 'group', '--json'])).stdout);
  assert.equal(byGroup.splitSettings.by, 'group');
});

test('eval --protocol reference refuses the best-on-validation checkpoint, naming --checkpoint', async () => {
  const r = await seqsam(['eval', '--data', data, '--checkpoint', join(reference, 'best.safetensors'), '--protocol', 'reference']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /ERR_ARGUMENT/);
  assert.match(r.stderr, /--checkpoint .*best\.safetensors.*final model/);
});

test('--protocol takes only "reference"; --split-by reference works without it', async () => {
  const bad = await seqsam(['train', '--data', data, '--protocol', 'paper', '--out', join(dir, 'bad')]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /protocol/);
  const out = join(dir, 'split-only');
  const r = await seqsam(['train', '--data', data, '--epochs', '1', '--batch-size', '8', '--split-by', 'reference', '--eval-every', '0', '--progress', 'off', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const { metadata } = await checkpoint.readSafetensorsHeader(join(out, 'last.safetensors'));
  assert.equal(JSON.parse(metadata.split).by, 'reference');
  assert.equal(metadata.protocol, undefined);
});

fixtureTest("the loaders --data opens read LIDC as the reference under the protocol", async () => {
  const file = fixture('formats', 'lidc', 'protocol5.pickle');
  assert.equal((await openDataset(`lidc:${file}`, { protocol: 'reference' })).intensity, 'reference');
  assert.equal((await openDataset(`lidc:${file}`)).intensity, 'minmax');
});
