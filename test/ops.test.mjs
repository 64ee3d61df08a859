import assert from 'node:assert/strict';
import test from 'node:test';

import { Tensor, ops } from '../dist/lib/index.js';
import { mulberry32 } from './helpers.mjs';

// Minimum over every injective map of the K columns into the M rows.
function bruteForceMinimum(cost, m, k) {
  let best = Infinity;
  const used = new Array(m).fill(false);
  const visit = (col, total) => {
    if (total >= best) return;
    if (col === k) {
      best = total;
      return;
    }
    for (let r = 0; r < m; r++) {
      if (used[r]) continue;
      used[r] = true;
      visit(col + 1, total + cost[r * k + col]);
      used[r] = false;
    }
  };
  visit(0, 0);
  return best;
}

test('Hungarian assignment equals brute force on 10,000+ random matrices (ties, equal rows, K ≤ M ≤ 8)', async () => {
  const random = mulberry32(42);
  let checked = 0;
  for (let m = 1; m <= 8; m++) {
    for (let k = 1; k <= m; k++) {
      const batch = m >= 7 ? 120 : 400;
      const data = new Float64Array(batch * m * k);
      for (let b = 0; b < batch; b++) {
        const kind = b % 4;
        for (let i = 0; i < m * k; i++) {
          // kinds: continuous, small integers (many ties), all equal, equal rows
          data[b * m * k + i] = kind === 0 ? random() : kind === 1 ? Math.floor(random() * 3) : kind === 2 ? 0.5 : random();
        }
        if (kind === 3) for (let r = 1; r < m; r++) for (let c = 0; c < k; c++) data[b * m * k + r * k + c] = data[b * m * k + c];
      }
      const cost = Tensor.from(data, [batch, m, k]);
      const assignment = await ops.assignment(cost);
      assert.deepEqual(assignment.shape, [batch, m]);
      const columns = Array.from(await assignment.toTypedArray(), Number);
      for (let b = 0; b < batch; b++) {
        const matrix = data.subarray(b * m * k, (b + 1) * m * k);
        const row = columns.slice(b * m, (b + 1) * m);
        const assigned = row.filter((c) => c >= 0);
        assert.equal(assigned.length, k, 'every column is matched once');
        assert.equal(new Set(assigned).size, k);
        const total = row.reduce((sum, c, r) => (c >= 0 ? sum + matrix[r * k + c] : sum), 0);
        assert.ok(Math.abs(total - bruteForceMinimum(matrix, m, k)) < 1e-9, `m=${m} k=${k} #${b}: ${total}`);
        checked++;
      }
      cost.dispose();
      assignment.dispose();
    }
  }
  assert.ok(checked >= 10_000, `${checked} matrices`);
});

test('wide cost matrices (more columns than rows) assign every row', async () => {
  const cost = Tensor.from(new Float32Array([3, 1, 2, 9, 0, 5]), [1, 2, 3]);
  const a = Array.from(await (await ops.assignment(cost)).toTypedArray(), Number);
  assert.deepEqual(a, [2, 1]); // 2 + 0 beats 3 + 0 and 1 + 9
});

test('NaN costs are refused', async () => {
  const cost = Tensor.from(new Float32Array([NaN, 1, 2, 3]), [1, 2, 2]);
  await assert.rejects(ops.assignment(cost), (e) => e.code === 'ERR_ARGUMENT' && /NaN/.test(e.message));
});

test('the Dice cost equals the formula computed pair by pair', async () => {
  const random = mulberry32(7);
  const [b, m, k, h, w] = [2, 3, 4, 8, 6];
  const logits = Float32Array.from({ length: b * m * h * w }, () => (random() - 0.5) * 8);
  const labels = Float32Array.from({ length: b * k * h * w }, () => (random() > 0.6 ? 1 : 0));
  labels.fill(0, (b * k - 1) * h * w); // one blank label
  const cost = await ops.diceCost(Tensor.from(logits, [b, m, h, w]), Tensor.from(labels, [b, k, h, w]));
  assert.deepEqual(cost.shape, [b, m, k]);
  const got = await cost.toTypedArray();
  const n = h * w;
  for (let i = 0; i < b; i++) {
    for (let j = 0; j < m; j++) {
      for (let l = 0; l < k; l++) {
        let pg = 0, pp = 0, gg = 0;
        for (let x = 0; x < n; x++) {
          const p = 1 / (1 + Math.exp(-logits[(i * m + j) * n + x]));
          const g = labels[(i * k + l) * n + x];
          pg += p * g;
          pp += p * p;
          gg += g * g;
        }
        const expected = 1 - (2 * pg + 1e-5) / (pp + gg + 1e-5);
        assert.ok(Math.abs(got[(i * m + j) * k + l] - expected) < 1e-5);
      }
    }
  }
});

test('strided pooling: K even chunks, one pick in each, every step reachable', async () => {
  for (let k = 1; k <= 5; k++) {
    for (let m = k; m <= 20; m++) {
      const seen = new Set();
      for (let seed = 0; seed < 30; seed++) {
        const picks = ops.drawPicks(4, m, k, 'strided', seed);
        assert.deepEqual(picks.shape, [4, k]);
        const flat = Array.from(await picks.toTypedArray(), Number);
        picks.dispose();
        for (let b = 0; b < 4; b++) {
          for (let i = 0; i < k; i++) {
            const step = flat[b * k + i];
            assert.ok(step >= Math.floor((i * m) / k) && step < Math.floor(((i + 1) * m) / k), `m=${m} k=${k} chunk ${i}: ${step}`);
            seen.add(step);
          }
        }
      }
      // 120 draws per chunk: each of its at most 4 steps shows up.
      if (Math.ceil(m / k) <= 4) assert.equal(seen.size, m, `m=${m} k=${k}: steps seen ${[...seen].sort((a, b) => a - b)}`);
    }
  }
});

test("the reference's ceil(M/K) chunks can leave labels without a candidate (M=5, K=4)", async () => {
  const reference = ops.drawPicks(1, 5, 4, 'reference-strided', 1);
  assert.deepEqual(reference.shape, [1, 3]); // chunks {0,1}, {2,3}, {4}: only three picks for four labels
  const even = ops.drawPicks(1, 5, 4, 'strided', 1);
  assert.deepEqual(even.shape, [1, 4]);
});

test('random and first-k pooling, and bad requests', async () => {
  const random = Array.from(await ops.drawPicks(1, 10, 4, 'random', 3).toTypedArray(), Number);
  assert.equal(new Set(random).size, 4);
  assert.ok(random.every((s) => s >= 0 && s < 10));
  assert.deepEqual(Array.from(await ops.drawPicks(1, 10, 3, 'first-k').toTypedArray(), Number), [0, 1, 2]);
  assert.throws(() => ops.drawPicks(1, 2, 4, 'strided'), (e) => e.code === 'ERR_ARGUMENT' && /cannot cover/.test(e.message));
  assert.throws(() => ops.drawPicks(1, 4, 2, 'sideways'), (e) => e.code === 'ERR_ARGUMENT' && /pooling/.test(e.message));
  // Same seed, same picks.
  const a = Array.from(await ops.drawPicks(8, 12, 4, 'strided', 99).toTypedArray());
  const b = Array.from(await ops.drawPicks(8, 12, 4, 'strided', 99).toTypedArray());
  assert.deepEqual(a, b);
});
