// `--protocol reference` on `seqsam train` and `seqsam eval`, on the synthetic set: the file-order split
// recorded in the checkpoint, the protocol recorded beside it, the final model evaluated, the loaders asked
// for the reference's data reading. On a small QUBIQ-layout folder: its training folder trains and its
// validation folder is evaluated.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';

import { checkpoint } from '../dist/lib/index.js';
import { synthetic } from '../dist/lib/data/index.js';
import { openDataset } from '../dist/lib/cli/dataset-spec.js';
import { fixture, fixtureTest, mulberry32, runCli } from './helpers.mjs';
import { makeCase, nifti } from './qubiq-layout.mjs';

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

// A QUBIQ release in miniature: 12×12 images with a bright square, two raters each; the case names of the
// two folders differ so that the images evaluated show which folder they came from.
async function writeQubiq(root, cases) {
  const side = 12;
  const random = mulberry32(7);
  for (const [split, ids] of Object.entries(cases)) {
    for (const id of ids) {
      const square = (r, c, grow) => r >= 3 - grow && r < 8 + grow && c >= 4 - grow && c < 9 + grow;
      const cells = Array.from({ length: side * side }, (_, p) => [p % side, Math.floor(p / side)]); // x fastest
      await makeCase(root, split, id, {
        'image.nii.gz': gzipSync(nifti([side, side], cells.map(([r, c]) => (square(r, c, 0) ? 200 : 20) + 10 * random()))),
        'task01_seg01.nii.gz': gzipSync(nifti([side, side], cells.map(([r, c]) => (square(r, c, 0) ? 1 : 0)), { type: 'uint8' })),
        'task01_seg02.nii.gz': gzipSync(nifti([side, side], cells.map(([r, c]) => (square(r, c, 1) ? 1 : 0)), { type: 'uint8' })),
      });
    }
  }
}

describe('--protocol reference on QUBIQ: the training folder trains, the validation folder is evaluated', () => {
  const trainingIds = ['case01', 'case02', 'case03', 'case04', 'case05'];
  const validationIds = ['case21', 'case22', 'case23'];
  let root;
  let run;
  before(async () => {
    root = join(dir, 'qubiq');
    run = join(dir, 'qubiq-run');
    await writeQubiq(root, { training: trainingIds, validation: validationIds });
    const r = await seqsam(['train', '--data', `qubiq:${root}#training`, '--protocol', 'reference', '--epochs', '1', '--batch-size', '2', '--progress', 'off', '--out', run]);
    assert.equal(r.code, 0, r.stderr);
  });

  test('train records the folder split and trains on every case of the training folder, validating none', async () => {
    const { metadata } = await checkpoint.readSafetensorsHeader(join(run, 'last.safetensors'));
    assert.equal(metadata.protocol, 'reference');
    assert.equal(JSON.parse(metadata.split).by, 'folders');
    const start = JSON.parse(readFileSync(join(run, 'train.jsonl'), 'utf8').split('\n')[0]);
    assert.equal(start.type, 'start');
    assert.equal(start.trainSize, trainingIds.length);
    assert.equal(start.valSize, 0);
    assert.equal(JSON.parse(metadata.step), Math.ceil(trainingIds.length / 2));
  });

  test('eval reads the folder split back: test is the validation folder, train the training folder; val is refused', async () => {
    for (const data of [`qubiq:${root}`, `qubiq:${root}#training`]) {
      const r = await seqsam(['eval', '--data', data, '--checkpoint', run, '--json']);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.splitSettings.by, 'folders');
      assert.equal(out.protocol, 'reference');
      assert.deepEqual(out.results[0].ids, validationIds);
    }
    const train = JSON.parse((await seqsam(['eval', '--data', `qubiq:${root}`, '--checkpoint', run, '--split', 'train', '--json'])).stdout);
    assert.deepEqual(train.results[0].ids, trainingIds);
    const val = await seqsam(['eval', '--data', `qubiq:${root}`, '--checkpoint', run, '--split', 'val']);
    assert.equal(val.code, 2);
    assert.match(val.stderr, /ERR_ARGUMENT.*no validation part/);
  });

  test('a folder the split needs is refused with ERR_IO naming it', async () => {
    const onlyTraining = join(dir, 'qubiq-training-only');
    await writeQubiq(onlyTraining, { training: trainingIds });
    const noValidation = await seqsam(['eval', '--data', `qubiq:${onlyTraining}`, '--checkpoint', run]);
    assert.equal(noValidation.code, 1);
    assert.match(noValidation.stderr, /ERR_IO/);
    assert.ok(noValidation.stderr.includes(join(onlyTraining, 'validation_data_v2', 'kidney', 'Validation')), noValidation.stderr);
    const onlyValidation = join(dir, 'qubiq-validation-only');
    await writeQubiq(onlyValidation, { validation: validationIds });
    const noTraining = await seqsam(['train', '--data', `qubiq:${onlyValidation}`, '--protocol', 'reference', '--epochs', '1', '--progress', 'off', '--out', join(dir, 'qubiq-none')]);
    assert.equal(noTraining.code, 1);
    assert.match(noTraining.stderr, /ERR_IO/);
    assert.ok(noTraining.stderr.includes(join(onlyValidation, 'training_data_v2', 'kidney', 'Training')), noTraining.stderr);
  });

  test('--split-by folders is refused for data other than QUBIQ', async () => {
    const r = await seqsam(['train', '--data', data, '--split-by', 'folders', '--epochs', '1', '--progress', 'off', '--out', join(dir, 'folders-synthetic')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /ERR_ARGUMENT.*--split-by folders/);
  });
});
