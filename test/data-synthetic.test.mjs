import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ABSENT_PROBABILITY, DataError, SYNTHETIC_MODES, datasets } from '../dist/lib/data/index.js';

const count = (m) => m.reduce((s, v) => s + v, 0);
const subset = (a, b) => a.every((v, i) => v <= b[i]); // a ⊆ b

describe('synthetic dataset', () => {
  test('same seed gives identical bytes, another seed different ones', () => {
    const a = datasets.synthetic({ count: 6, seed: 7 });
    const b = datasets.synthetic({ count: 6, seed: 7 });
    const c = datasets.synthetic({ count: 6, seed: 8 });
    for (let i = 0; i < 6; i++) {
      const x = a.get(i);
      const y = b.get(i);
      assert.deepEqual(Buffer.from(x.image.data.buffer), Buffer.from(y.image.data.buffer));
      x.labels.forEach((m, k) => assert.deepEqual(Buffer.from(m), Buffer.from(y.labels[k])));
      assert.notDeepEqual(Buffer.from(x.image.data.buffer), Buffer.from(c.get(i).image.data.buffer));
      // get(i) is a pure function of (seed, i): asking twice or out of order changes nothing
      assert.deepEqual(a.get(i).image.data, x.image.data);
    }
    assert.notDeepEqual(a.get(0).image.data, a.get(1).image.data);
  });

  test('shapes, value ranges and defaults', () => {
    const ds = datasets.synthetic({ count: 3 });
    assert.equal(ds.name, 'synthetic');
    assert.equal(ds.length, 3);
    assert.equal(ds.raters, 4);
    assert.deepEqual(ds.modes, SYNTHETIC_MODES);
    const s = ds.get(2);
    assert.equal(s.image.width, 64);
    assert.equal(s.image.height, 64);
    assert.equal(s.image.channels, 1);
    assert.ok(s.image.data instanceof Float32Array);
    assert.ok(s.image.data.every((v) => v >= 0 && v <= 1));
    assert.equal(s.labels.length, 4);
    for (const m of s.labels) {
      assert.equal(m.length, 64 * 64);
      assert.ok(m.every((v) => v === 0 || v === 1));
    }
    for (const size of [8, 37, 128]) {
      const t = datasets.synthetic({ count: 1, size, raters: 6, seed: 3 }).get(0);
      assert.equal(t.image.data.length, size * size);
      assert.equal(t.labels.length, 6);
    }
  });

  test('raters disagree in modes: conservative ⊆ core ⊆ generous, satellite ⊇ core, absent sometimes blank', () => {
    const ds = datasets.synthetic({ count: 80, size: 48, seed: 11 });
    let blanks = 0;
    let satelliteExtra = 0;
    let lesionContrast = 0;
    for (let i = 0; i < ds.length; i++) {
      const { image, labels } = ds.get(i);
      const [satellite, conservative, generous, absent] = labels;
      assert.ok(subset(conservative, generous), `sample ${i}: conservative ⊆ generous`);
      assert.ok(count(conservative) > 0, `sample ${i}: conservative is not empty`);
      assert.ok(count(generous) > count(conservative));
      if (count(absent) === 0) blanks++;
      else {
        assert.ok(subset(conservative, absent) && subset(absent, generous), `sample ${i}: core between eroded and dilated`);
        assert.ok(subset(absent, satellite), `sample ${i}: satellite mode adds to the core`);
        if (count(satellite) > count(absent)) satelliteExtra++;
      }
      // the lesion is brighter than the background
      let inSum = 0, inN = 0, outSum = 0, outN = 0;
      generous.forEach((v, p) => (v ? ((inSum += image.data[p]), inN++) : ((outSum += image.data[p]), outN++)));
      if (inSum / inN > outSum / outN + 0.1) lesionContrast++;
    }
    assert.ok(blanks > 0 && blanks < ds.length, `absent rater blank in ${blanks}/80`);
    assert.ok(Math.abs(blanks / ds.length - ABSENT_PROBABILITY) < 0.2);
    assert.ok(satelliteExtra > ds.length / 2, `satellite lobe visible in ${satelliteExtra} samples`);
    assert.equal(lesionContrast, ds.length);
  });

  test('datasets registry', () => {
    assert.deepEqual(Object.keys(datasets).sort(), ['folder', 'lidcPickle', 'qubiq', 'synthetic']);
  });

  test('groups bundle consecutive images; more raters keep the first ones unchanged', () => {
    const ds = datasets.synthetic({ count: 10, perGroup: 3 });
    assert.equal(ds.groups.length, 10);
    assert.equal(new Set(ds.groups).size, 4);
    assert.equal(ds.get(4).group, ds.groups[4]);
    const four = datasets.synthetic({ count: 2, raters: 4, seed: 5 }).get(1);
    const six = datasets.synthetic({ count: 2, raters: 6, seed: 5 }).get(1);
    assert.deepEqual(six.labels.slice(0, 4), four.labels);
    assert.ok(subset(six.labels[5], six.labels[1]), 'rater 5 is a more conservative rater 1');
    assert.ok(count(six.labels[5]) < count(six.labels[1]));
  });

  test('bad options are ERR_ARGUMENT', () => {
    for (const opts of [{}, { count: 0 }, { count: 2.5 }, { count: 2, size: 4 }, { count: 2, raters: 0 }, { count: 2, seed: 0.5 }]) {
      assert.throws(() => datasets.synthetic(opts), (e) => e instanceof DataError && e.code === 'ERR_ARGUMENT', JSON.stringify(opts));
    }
    assert.throws(() => datasets.synthetic({ count: 2 }).get(2), (e) => e instanceof DataError && e.code === 'ERR_ARGUMENT');
  });
});
