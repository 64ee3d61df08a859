// Dataset files that lie: pickles with unexpected classes or huge declared sizes, NIfTI volumes with
// wrong dimensions. Each is an ERR_DATA SeqsamError naming the file, never a crash or a giant allocation.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';

import { data } from '../dist/lib/index.js';
import { fixture, fixtureTest, rejectsCoded, tempDir } from './helpers.mjs';
import { Pickle } from './torch-archive.mjs';

test('LIDC pickles with unexpected classes are refused without running them', async (t) => {
  const dir = tempDir(t);
  const marker = join(dir, 'ran');
  // { 'k': os.system('touch marker') }
  const evil = new Pickle().op('}').str('k').global('os', 'system').op('(').str(`touch ${marker}`).op('t', 'R', 's');
  const path = join(dir, 'evil.pickle');
  writeFileSync(path, evil.bytes());
  await rejectsCoded(data.datasets.lidcPickle(path), 'ERR_DATA', path);
  // An entry whose image is some other object.
  const odd = new Pickle().op('}').str('k').op('}', '(').str('image').global('builtins', 'set').op(')', 'R').str('masks').op(']').str('series_uid').str('s').op('u', 's');
  const oddPath = join(dir, 'odd.pickle');
  writeFileSync(oddPath, odd.bytes());
  await rejectsCoded(data.datasets.lidcPickle(oddPath), 'ERR_DATA', oddPath, "'k'");
  assert.throws(() => readFileSync(marker), /ENOENT/, 'nothing was executed');
});

test('pickles declaring huge sizes are refused before allocating', async (t) => {
  const dir = tempDir(t);
  const long = (op, size) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(size);
    return Buffer.from([0x80, 0x04, op, ...b, 0x2e]);
  };
  const cases = {
    'binbytes8.pickle': long(0x8e, 2n ** 62n), // BINBYTES8
    'unicode8.pickle': long(0x8d, 2n ** 40n), // BINUNICODE8
    'binbytes.pickle': Buffer.from([0x80, 0x02, 0x42, 0xf0, 0xff, 0xff, 0xff, 0x2e]), // BINBYTES 4 GiB
    'frame.pickle': long(0x95, 2n ** 50n), // FRAME
  };
  for (const [name, bytes] of Object.entries(cases)) {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    await rejectsCoded(data.datasets.lidcPickle(path), 'ERR_DATA', path);
  }
});

fixtureTest('NIfTI files with wrong dimensions are refused', async (t) => {
  const dir = tempDir(t);
  const image = gunzipSync(readFileSync(fixture('formats', 'qubiq', 'training_data_v2', 'kidney', 'Training', 'case01', 'image.nii.gz')));
  const withDims = (name, dims) => {
    const b = Buffer.from(image);
    dims.forEach((d, i) => b.writeInt16LE(d, 40 + 2 * i));
    const path = join(dir, name);
    writeFileSync(path, b);
    return path;
  };
  await rejectsCoded(data.readNifti(withDims('ndim0.nii', [0])), 'ERR_DATA', 'dim[0] = 0');
  await rejectsCoded(data.readNifti(withDims('ndim9.nii', [9])), 'ERR_DATA', 'dim[0] = 9');
  await rejectsCoded(data.readNifti(withDims('zero.nii', [2, 0, 256])), 'ERR_DATA', 'non-positive');
  await rejectsCoded(data.readNifti(withDims('negative.nii', [2, -320, 256])), 'ERR_DATA', 'non-positive');
  await rejectsCoded(data.readNifti(withDims('too-big.nii', [3, 32767, 32767, 32767])), 'ERR_DATA', 'truncated', '32767×32767×32767');
  // A 2-slice 3-D volume where QUBIQ wants 2-D images: the dataset names the case and the shape.
  const root = join(dir, 'qubiq');
  const caseDir = join(root, 'training_data_v2', 'kidney', 'Training', 'case01');
  const { mkdirSync, copyFileSync } = await import('node:fs');
  mkdirSync(caseDir, { recursive: true });
  const source = fixture('formats', 'qubiq', 'training_data_v2', 'kidney', 'Training', 'case01');
  for (const f of ['task01_seg01.nii.gz', 'task01_seg02.nii.gz', 'task01_seg03.nii.gz']) copyFileSync(join(source, f), join(caseDir, f));
  const volume = Buffer.concat([Buffer.from(image), image.subarray(352)]);
  volume.writeInt16LE(3, 40);
  volume.writeInt16LE(2, 46);
  writeFileSync(join(caseDir, 'image.nii'), volume);
  await rejectsCoded(
    (async () => {
      const ds = await data.datasets.qubiq(root, { split: 'training' });
      await ds.get(0);
    })(),
    'ERR_DATA',
    'case01',
  );
});
