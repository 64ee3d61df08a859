import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { DataError, datasets, splitByGroup } from '../dist/lib/data/index.js';
import { fixture, fixtureTest, fixturesMissing } from './helpers.mjs';

// The reference files and their expected contents, where the fixtures are present; the tests that read
// them are skipped, with the reason, otherwise.
const FORMATS = pathToFileURL(fixture('formats') + '/');
const LIDC = new URL('lidc/', FORMATS);
const truth = fixturesMissing ? null : JSON.parse(await readFile(new URL('formats.json', FORMATS), 'utf8')).lidc;

let tmp;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'seqsam-lidc-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function sum(a) {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}

async function checkAgainstTruth(ds, spec, file) {
  assert.equal(ds.length, spec.entries.length, `${file}: entry count`);
  assert.equal(ds.raters, 4);
  for (let i = 0; i < ds.length; i++) {
    const e = spec.entries[i];
    const s = await ds.get(i);
    assert.equal(s.id, e.key, `${file}[${i}] key`);
    assert.equal(s.group, e.series_uid, `${file}[${i}] series_uid`);
    assert.ok(s.image.data instanceof Float32Array);
    assert.equal(s.image.width, 128);
    assert.equal(s.image.height, 128);
    assert.equal(s.image.channels, 1);
    assert.equal(s.image.data.length, 128 * 128);
    // float32 images are exact; float64 ones are rounded to float32 (sum error ~1e-6).
    assert.ok(Math.abs(sum(s.image.data) - e.image_sum) < 1e-3, `${file}[${i}] image sum ${sum(s.image.data)} vs ${e.image_sum}`);
    assert.equal(s.labels.length, 4);
    for (const m of s.labels) {
      assert.ok(m instanceof Uint8Array);
      assert.equal(m.length, 128 * 128);
      assert.ok(m.every((v) => v === 0 || v === 1));
    }
    assert.deepEqual(s.labels.map(sum), e.mask_sums, `${file}[${i}] mask sums`);
  }
}

describe('lidcPickle reads every fixture variant', { skip: fixturesMissing ?? false }, () => {
  for (const file of Object.keys(truth)) {
    test(`${file} (protocol ${truth[file].protocol}, ${truth[file].image_dtype}, masks: ${truth[file].masks})`, async () => {
      const progress = [];
      const ds = await datasets.lidcPickle(new URL(file, LIDC), { onProgress: (f) => progress.push(f) });
      assert.equal(ds.name, 'lidc');
      await checkAgainstTruth(ds, truth[file], file);
      assert.ok(progress.length >= 1);
      assert.equal(progress.at(-1), 1);
      for (let i = 1; i < progress.length; i++) assert.ok(progress[i] >= progress[i - 1], 'progress is non-decreasing');
      assert.ok(progress.every((f) => f >= 0 && f <= 1));
      assert.deepEqual(ds.groups, truth[file].entries.map((e) => e.series_uid));
    });

    test(`${file}: lazy mode and a small read window give the same samples`, async () => {
      const progress = [];
      const lazy = await datasets.lidcPickle(fileURLToPath(new URL(file, LIDC)), {
        lazy: true,
        bufferSize: 4096 + 7, // forces payloads to straddle window refills
        onProgress: (f) => progress.push(f),
      });
      await checkAgainstTruth(lazy, truth[file], file);
      assert.ok(progress.length > 3, 'progress is reported while reading');
      const eager = await datasets.lidcPickle(new URL(file, LIDC), { bufferSize: 5000 });
      for (let i = 0; i < eager.length; i++) {
        const a = await eager.get(i);
        const b = await lazy.get(i);
        assert.deepEqual(b.image.data, a.image.data);
        assert.deepEqual(b.labels, a.labels);
      }
    });
  }

  test('blank annotations come back as all-zero masks', async () => {
    const ds = await datasets.lidcPickle(new URL('data_lidc.pickle', LIDC));
    const i = truth['data_lidc.pickle'].entries.findIndex((e) => e.mask_sums.includes(0));
    assert.ok(i >= 0);
    const s = await ds.get(i);
    const k = truth['data_lidc.pickle'].entries[i].mask_sums.indexOf(0);
    assert.ok(s.labels[k].every((v) => v === 0));
  });

  test('splitting by series_uid keeps every series in one split', async () => {
    const ds = await datasets.lidcPickle(new URL('data_lidc.pickle', LIDC));
    const split = splitByGroup(ds, { fractions: [0.5, 0.25, 0.25], seed: 3 });
    const seen = new Map();
    for (const [name, idx] of Object.entries(split)) {
      for (const i of idx) {
        const g = ds.groups[i];
        assert.ok(!seen.has(g) || seen.get(g) === name, `series ${g} in ${seen.get(g)} and ${name}`);
        seen.set(g, name);
      }
    }
    assert.deepEqual([...split.train, ...split.val, ...split.test].sort((a, b) => a - b), [...Array(ds.length).keys()]);
  });

  test('get() rejects out-of-range indices', async () => {
    const ds = await datasets.lidcPickle(new URL('protocol5.pickle', LIDC));
    for (const i of [-1, 3, 1.5, NaN]) {
      assert.throws(() => ds.get(i), (e) => e instanceof DataError && e.code === 'ERR_ARGUMENT');
    }
  });
});

describe('lidcPickle rejects bad input', () => {
  async function variant(name, bytes) {
    const p = join(tmp, name);
    await writeFile(p, bytes);
    return p;
  }
  const rejects = (promise, code, ...fragments) =>
    assert.rejects(promise, (e) => {
      assert.ok(e instanceof DataError, `expected DataError, got ${e}`);
      assert.equal(e.code, code, e.message);
      for (const f of fragments) assert.ok(e.message.includes(f), `message '${e.message}' should mention '${f}'`);
      return true;
    });

  test('a missing file is ERR_IO naming the file', async () => {
    const p = join(tmp, 'nope.pickle');
    await rejects(datasets.lidcPickle(p), 'ERR_IO', p);
  });

  fixtureTest('a truncated pickle is ERR_DATA naming the file', async () => {
    for (const file of Object.keys(truth)) {
      const bytes = await readFile(new URL(file, LIDC));
      for (const cut of [1, 11, 200, Math.floor(bytes.length / 2), bytes.length - 1]) {
        const p = await variant(`trunc-${cut}-${file}`, bytes.subarray(0, cut));
        await rejects(datasets.lidcPickle(p), 'ERR_DATA', p);
        await rejects(datasets.lidcPickle(p, { lazy: true }), 'ERR_DATA', p);
      }
    }
  });

  test('a file that is not a pickle is ERR_DATA', async () => {
    const p = await variant('text.pickle', 'hello, world\n');
    await rejects(datasets.lidcPickle(p), 'ERR_DATA', p);
  });

  test('a pickle that is not a dict is ERR_DATA', async () => {
    const p = await variant('list.pickle', Buffer.from([0x80, 0x04, 0x5d, 0x94, 0x2e])); // []
    await rejects(datasets.lidcPickle(p), 'ERR_DATA', p, 'dict');
  });

  fixtureTest('a wrong mask shape is ERR_DATA naming the entry and field', async () => {
    // protocol3_masks_array.pickle stores masks as one 4×128×128 array: its shape tuple is
    // BININT1 4, BININT1 128, BININT1 128, TUPLE3. Rewrite it to 8×64×128 (same byte count).
    const bytes = Buffer.from(await readFile(new URL('protocol3_masks_array.pickle', LIDC)));
    const at = bytes.indexOf(Buffer.from([0x4b, 0x04, 0x4b, 0x80, 0x4b, 0x80, 0x87]));
    assert.ok(at > 0);
    bytes[at + 1] = 8;
    bytes[at + 3] = 64;
    const p = await variant('badshape.pickle', bytes);
    const key = truth['protocol3_masks_array.pickle'].entries[0].key;
    await rejects(datasets.lidcPickle(p), 'ERR_DATA', p, key, "'masks'", '8×64×128');
    await rejects(datasets.lidcPickle(p, { lazy: true }), 'ERR_DATA', p, key, "'masks'");
  });

  fixtureTest('mask values other than 0/1 and image values outside [0,1] are ERR_DATA', async () => {
    const bytes = Buffer.from(await readFile(new URL('protocol3_masks_array.pickle', LIDC)));
    // The first BINBYTES of 65536 bytes is the first image; the next is the first entry's masks.
    const imageAt = bytes.indexOf(Buffer.from([0x42, 0x00, 0x00, 0x01, 0x00])) + 5;
    const masksAt = bytes.indexOf(Buffer.from([0x42, 0x00, 0x00, 0x01, 0x00]), imageAt) + 5;
    assert.ok(imageAt > 5 && masksAt > imageAt);
    const key = truth['protocol3_masks_array.pickle'].entries[0].key;

    const badMask = Buffer.from(bytes);
    badMask[masksAt + 10] = 2;
    const p1 = await variant('badmask.pickle', badMask);
    await rejects(datasets.lidcPickle(p1), 'ERR_DATA', p1, key, 'masks[0]', '0/1');
    const lazy = await datasets.lidcPickle(p1, { lazy: true }); // values are checked when read
    await rejects(Promise.resolve().then(() => lazy.get(0)), 'ERR_DATA', p1, key);

    const badImage = Buffer.from(bytes);
    badImage.writeFloatLE(2.5, imageAt);
    const p2 = await variant('badimage.pickle', badImage);
    await rejects(datasets.lidcPickle(p2), 'ERR_DATA', p2, key, "'image'", '[0,1]');
    const ok = await datasets.lidcPickle(p2, { checkRange: false });
    assert.equal((await ok.get(0)).image.data[0], 2.5);
  });

  fixtureTest('inconsistent rater counts are ERR_DATA; bad options are ERR_ARGUMENT', async () => {
    const file = new URL('protocol5.pickle', LIDC);
    await rejects(datasets.lidcPickle(file, { raters: 3 }), 'ERR_DATA', 'raters = 3');
    await rejects(datasets.lidcPickle(file, { raters: 0 }), 'ERR_ARGUMENT');
    await rejects(datasets.lidcPickle(file, { bufferSize: 16 }), 'ERR_ARGUMENT');
    await rejects(datasets.lidcPickle(42), 'ERR_ARGUMENT');
  });
});
