import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';

import { DataError, datasets, readNifti } from '../dist/lib/data/index.js';
import { fixture, fixturesMissing } from './helpers.mjs';
import { makeCase, nifti } from './qubiq-layout.mjs';

// The reference files and their expected contents, where the fixtures are present; the tests that read
// them are skipped, with the reason, otherwise.
const FORMATS = pathToFileURL(fixture('formats') + '/');
const QUBIQ = new URL('qubiq/', FORMATS);
const truth = fixturesMissing ? null : JSON.parse(await readFile(new URL('formats.json', FORMATS), 'utf8')).qubiq;

let tmp;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'seqsam-qubiq-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const sum = (a) => a.reduce((s, v) => s + v, 0);

const rejects = (promise, code, ...fragments) =>
  assert.rejects(promise, (e) => {
    assert.ok(e instanceof DataError, `expected DataError, got ${e}`);
    assert.equal(e.code, code, e.message);
    for (const f of fragments) assert.ok(e.message.includes(f), `message '${e.message}' should mention '${f}'`);
    return true;
  });

describe('qubiq reads the fixture layout', { skip: fixturesMissing ?? false }, () => {
  for (const split of ['training', 'validation']) {
    test(`${split} split matches formats.json`, async () => {
      const ds = await datasets.qubiq(QUBIQ, { split });
      const keys = Object.keys(truth).filter((k) => k.startsWith(`${split}_data_v2/`));
      assert.equal(ds.length, keys.length);
      assert.equal(ds.raters, 3);
      assert.deepEqual(ds.ids, keys.map((k) => k.split('/').at(-1)));
      for (let i = 0; i < ds.length; i++) {
        const e = truth[keys[i]];
        const s = await ds.get(i);
        assert.equal(s.group, s.id);
        // shape is rows × columns as nibabel's get_fdata() gives it (case01 is 320×256: not square)
        assert.deepEqual([s.image.height, s.image.width], e.shape, `${s.id} shape (${e.layout})`);
        assert.equal(s.image.channels, 1);
        assert.ok(s.image.data instanceof Float32Array);
        // Default intensity: per-image min–max to [0,1]; its sum follows from the raw sum, min and max.
        const n = e.shape[0] * e.shape[1];
        const expected = (e.image_sum - n * e.image_min) / (e.image_max - e.image_min);
        assert.ok(Math.abs(sum(s.image.data) - expected) < 1e-2, `${s.id} scaled sum ${sum(s.image.data)} vs ${expected}`);
        assert.equal(Math.min(...s.image.data), 0);
        assert.equal(Math.max(...s.image.data), 1);
        assert.deepEqual(s.labels.map(sum), e.seg_sums, `${s.id} per-annotator sums`);
        for (const m of s.labels) {
          assert.equal(m.length, n);
          assert.ok(m.every((v) => v === 0 || v === 1));
        }
      }
    });
  }

  test('readNifti gives raw values (after scl_slope/inter) matching formats.json', async () => {
    for (const [key, e] of Object.entries(truth)) {
      const v = await readNifti(new URL(`${key}/image.nii.gz`, QUBIQ));
      assert.deepEqual(v.dims.slice(0, 2), e.shape);
      assert.equal(v.dims.length, e.layout.startsWith('3-D') ? 3 : 2);
      assert.ok(Math.abs(sum(v.values) - e.image_sum) < 1e-6 * Math.abs(e.image_sum));
      assert.equal(Math.min(...v.values), e.image_min);
      assert.equal(Math.max(...v.values), e.image_max);
    }
  });

  test('an explicit window clips, then scales', async () => {
    const ds = await datasets.qubiq(QUBIQ, { split: 'training' });
    const full = await ds.get(0);
    const e = truth['training_data_v2/kidney/Training/case01'];
    const same = await (await datasets.qubiq(QUBIQ, { split: 'training', window: [e.image_min, e.image_max] })).get(0);
    for (let i = 0; i < full.image.data.length; i++) assert.ok(Math.abs(full.image.data[i] - same.image.data[i]) < 1e-6);
    const narrow = await (await datasets.qubiq(QUBIQ, { split: 'training', window: [-200, 300] })).get(0);
    for (let i = 0; i < full.image.data.length; i++) {
      const raw = e.image_min + full.image.data[i] * (e.image_max - e.image_min);
      const want = (Math.min(300, Math.max(-200, raw)) - -200) / 500;
      assert.ok(Math.abs(narrow.image.data[i] - want) < 1e-4, `pixel ${i}`);
    }
  });
});

describe('qubiq on hand-written NIfTI files', () => {
  test('orientation (row = x), scl_slope/inter, dtypes, byte order, 3-D single slice', async () => {
    const root = join(tmp, 'orient');
    // nx = 3 rows, ny = 2 columns; stored x fastest: value(x, y) at x + 3y.
    const raw = [10, 20, 30, 40, 50, 60]; // (x,y): (0,0)=10 (1,0)=20 (2,0)=30 (0,1)=40 (1,1)=50 (2,1)=60
    await makeCase(root, 'training', 'case07', {
      'image.nii': nifti([3, 2, 1], raw, { type: 'int16', slope: 2, inter: -100, bigEndian: true }),
      'task01_seg01.nii.gz': gzipSync(nifti([3, 2], [1, 0, 0, 0, 0, 1], { type: 'uint8' })),
      'task01_seg02.nii.gz': gzipSync(nifti([3, 2], [0.7, 0.3, 0.5, 0.51, 1, 0], { type: 'float64' })),
    });
    const ds = await datasets.qubiq(root, { split: 'training' });
    assert.equal(ds.raters, 2);
    const s = await ds.get(0);
    assert.equal(s.image.height, 3);
    assert.equal(s.image.width, 2);
    // scaled values 2v − 100: rows are x: [[-80, -20], [-60, 0], [-40, 20]]; min–max over [-80, 20]
    const rows = [-80, -20, -60, 0, -40, 20].map((v) => (v + 80) / 100);
    assert.deepEqual([...s.image.data].map((v) => Math.round(v * 1e6) / 1e6), rows);
    assert.deepEqual([...s.labels[0]], [1, 0, 0, 0, 0, 1]); // (0,0) and (2,1) → row-major 0 and 5
    assert.deepEqual([...s.labels[1]], [1, 1, 0, 1, 0, 0]); // > 0.5 only: 0.7 (0,0), 0.51 (0,1), 1 (1,1)
    const windowed = await (await datasets.qubiq(root, { split: 'training', window: [-60, 0] })).get(0);
    const want = [0, 2 / 3, 0, 1, 1 / 3, 1];
    windowed.image.data.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-6, `pixel ${i}: ${v} vs ${want[i]}`));
  });

  test('a non-NIfTI image is ERR_DATA naming the file', async () => {
    const root = join(tmp, 'notnifti');
    const dir = await makeCase(root, 'training', 'case01', {
      'image.nii.gz': gzipSync(Buffer.from('this is not a NIfTI file, only some text that is long enough '.repeat(10))),
      'task01_seg01.nii.gz': gzipSync(nifti([2, 2], [0, 1, 1, 0], { type: 'uint8' })),
    });
    const ds = await datasets.qubiq(root, { split: 'training' });
    await rejects(ds.get(0), 'ERR_DATA', join(dir, 'image.nii.gz'), 'not a NIfTI');
    await writeFile(join(dir, 'image.nii.gz'), Buffer.from([0x1f, 0x8b, 1, 2, 3, 4, 5])); // broken gzip
    await rejects(ds.get(0), 'ERR_DATA', join(dir, 'image.nii.gz'), 'gzip');
  });

  test('shape mismatch, non-binary values, truncated data and 3-D volumes are ERR_DATA', async () => {
    const root = join(tmp, 'bad');
    const dir = await makeCase(root, 'training', 'case01', {
      'image.nii.gz': gzipSync(nifti([2, 2], [0, 1, 2, 3])),
      'task01_seg01.nii.gz': gzipSync(nifti([2, 3], [0, 1, 1, 0, 0, 0], { type: 'uint8' })),
    });
    const ds = await datasets.qubiq(root, { split: 'training' });
    const seg = join(dir, 'task01_seg01.nii.gz');
    await rejects(ds.get(0), 'ERR_DATA', seg, '2×3');
    await writeFile(seg, gzipSync(nifti([2, 2], [0, 2, 1, 0], { type: 'uint8' })));
    await rejects(ds.get(0), 'ERR_DATA', seg, 'outside [0,1]');
    await writeFile(seg, gzipSync(nifti([2, 2], [0, 1, 1, 0], { type: 'uint8' }).subarray(0, 353)));
    await rejects(ds.get(0), 'ERR_DATA', seg, 'truncated');
    await writeFile(seg, gzipSync(nifti([2, 2, 2], [0, 1, 1, 0, 0, 1, 1, 0], { type: 'uint8' })));
    await rejects(ds.get(0), 'ERR_DATA', seg, '2×2×2');
  });

  test('missing folders and files are ERR_IO; inconsistent rater counts ERR_DATA; bad options ERR_ARGUMENT', async () => {
    await rejects(datasets.qubiq(join(tmp, 'nothing-here'), { split: 'training' }), 'ERR_IO', join(tmp, 'nothing-here'));
    const root = join(tmp, 'raters');
    const img = gzipSync(nifti([2, 2], [0, 1, 2, 3]));
    const seg = gzipSync(nifti([2, 2], [0, 1, 1, 0], { type: 'uint8' }));
    await makeCase(root, 'training', 'case01', { 'image.nii.gz': img, 'task01_seg01.nii.gz': seg, 'task01_seg02.nii.gz': seg });
    const dir2 = await makeCase(root, 'training', 'case02', { 'image.nii.gz': img, 'task01_seg01.nii.gz': seg });
    await rejects(datasets.qubiq(root, { split: 'training' }), 'ERR_DATA', dir2, '1 annotations');
    const dir3 = await makeCase(root, 'validation', 'case03', { 'task01_seg01.nii.gz': seg });
    await rejects(datasets.qubiq(root, { split: 'validation' }), 'ERR_IO', dir3, 'image.nii.gz');
    await rejects(datasets.qubiq(QUBIQ, { split: 'test' }), 'ERR_ARGUMENT', 'split');
    await rejects(datasets.qubiq(QUBIQ, { split: 'training', window: [1, 0] }), 'ERR_ARGUMENT', 'window');
  });
});
