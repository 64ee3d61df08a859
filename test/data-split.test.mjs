import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { DataError, collectGroups, datasets, splitByGroup, splitByImage } from '../dist/lib/data/index.js';

function checkPartition(split, n) {
  const all = [...split.train, ...split.val, ...split.test].sort((a, b) => a - b);
  assert.deepEqual(all, [...Array(n).keys()], 'every index exactly once');
  for (const idx of Object.values(split)) assert.deepEqual(idx, [...idx].sort((a, b) => a - b));
}

function checkGroups(split, groups) {
  const owner = new Map();
  for (const [name, idx] of Object.entries(split)) {
    for (const i of idx) {
      const g = groups[i];
      assert.ok(!owner.has(g) || owner.get(g) === name, `group ${g} in ${owner.get(g)} and ${name}`);
      owner.set(g, name);
    }
  }
}

describe('splits', () => {
  // 200 images in 57 groups of uneven size
  const groups = Array.from({ length: 200 }, (_, i) => `g${Math.floor(Math.sqrt(i * 16))}`);

  test('splitByGroup: no group in two splits, covers all indices, close to the fractions', () => {
    for (const seed of [0, 1, 2, 99]) {
      const split = splitByGroup(groups, { fractions: [0.8, 0.1, 0.1], seed });
      checkPartition(split, groups.length);
      checkGroups(split, groups);
      assert.ok(Math.abs(split.train.length - 160) <= 12, `train ${split.train.length}`);
      assert.ok(split.val.length > 0 && split.test.length > 0);
    }
  });

  test('deterministic in the seed', () => {
    assert.deepEqual(splitByGroup(groups, { seed: 4 }), splitByGroup(groups, { seed: 4 }));
    assert.notDeepEqual(splitByGroup(groups, { seed: 4 }), splitByGroup(groups, { seed: 5 }));
    assert.deepEqual(splitByImage(200, { seed: 4 }), splitByImage(200, { seed: 4 }));
  });

  test('works on datasets (groups list) and via collectGroups', async () => {
    const ds = datasets.synthetic({ count: 40, perGroup: 3 });
    const split = splitByGroup(ds, { seed: 1 });
    checkPartition(split, 40);
    checkGroups(split, ds.groups);
    const plain = { name: 'plain', length: 5, raters: 1, get: (i) => ({ id: `${i}`, group: `x${i % 2}`, image: null, labels: [] }) };
    assert.throws(() => splitByGroup(plain), (e) => e instanceof DataError && e.code === 'ERR_ARGUMENT');
    const g = await collectGroups(plain);
    assert.deepEqual(g, ['x0', 'x1', 'x0', 'x1', 'x0']);
    checkGroups(splitByGroup(g, { fractions: [0.5, 0.5, 0] }), g);
  });

  test('splitByImage (and by: "image") is the image-level split with exact counts', () => {
    const split = splitByImage(groups, { fractions: [0.7, 0.2, 0.1], seed: 3 });
    checkPartition(split, 200);
    assert.deepEqual([split.train.length, split.val.length, split.test.length], [140, 40, 20]);
    assert.deepEqual(splitByGroup(groups, { fractions: [0.7, 0.2, 0.1], seed: 3, by: 'image' }), split);
  });

  test('bad fractions or seeds are ERR_ARGUMENT', () => {
    for (const options of [{ fractions: [0.5, 0.5, 0.5] }, { fractions: [0.9, 0.1] }, { fractions: [1.1, -0.1, 0] }, { seed: 'x' }, { by: 'patient' }]) {
      assert.throws(() => splitByGroup(groups, options), (e) => e instanceof DataError && e.code === 'ERR_ARGUMENT', JSON.stringify(options));
    }
  });

  test('edge cases: one group, empty input', () => {
    const one = splitByGroup(['a', 'a', 'a'], {});
    assert.deepEqual(one, { train: [0, 1, 2], val: [], test: [] });
    assert.deepEqual(splitByGroup([], {}), { train: [], val: [], test: [] });
  });
});
