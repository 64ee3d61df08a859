// The profiler: a session started on the JS thread records the ops of calls that run on worker threads,
// as a Chrome trace; the summary's self times against a hand-made trace; one session at a time.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';

import { SeqSam, profile, tinyConfig } from '../dist/lib/index.js';
import { rejectsCoded, tempDir, tinyEmbeddingBatch } from './helpers.mjs';

test('a profiling session records the ops of async calls (run on worker threads) as a Chrome trace', async (t) => {
  const model = await SeqSam.load({ config: tinyConfig, seed: 1 });
  const embedding = await model.embed({ data: new Uint8Array(64 * 64 * 3).fill(7), width: 64, height: 64, channels: 3 });
  const path = join(tempDir(t), 'trace.json');
  profile.startProfile();
  let trace;
  try {
    (await model.predict(embedding, { box: [4, 4, 40, 40], numMasks: 3 })).dispose();
  } finally {
    trace = await profile.stopProfile(path);
  }
  embedding.dispose();
  model.dispose();
  assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), trace, 'the file holds the returned trace');
  const ops = trace.traceEvents.filter((e) => e.cat === 'cpu_op');
  assert.ok(ops.length > 50, `a SeqSAM prediction runs many ops (${ops.length} recorded)`);
  for (const name of ['aten::conv2d', 'aten::sigmoid']) assert.ok(ops.some((e) => e.name === name), `${name} recorded`);
  for (const e of ops) assert.ok(Number.isFinite(e.ts) && e.dur >= 0, `${e.name}: ts ${e.ts}, dur ${e.dur}`);
  const rows = profile.summarizeTrace(trace);
  assert.ok(rows.length > 0 && rows.every((r, i) => i === 0 || rows[i - 1].selfUs >= r.selfUs), 'rows by self time, most first');
});

test('summarizeTrace: self time is an op\'s time minus its children on the same thread; kernels win over CPU ops', () => {
  const op = (name, ts, dur, tid = 1) => ({ name, cat: 'cpu_op', ts, dur, pid: 0, tid });
  // parent [0, 10) calls child [2, 5) and child [5, 9), which calls leaf [6, 7); another thread runs parent [0, 4).
  const trace = { traceEvents: [op('parent', 0, 10), op('child', 2, 3), op('child', 5, 4), op('leaf', 6, 1), op('parent', 0, 4, 2)] };
  const rows = Object.fromEntries(profile.summarizeTrace(trace).map((r) => [r.name, r]));
  assert.deepEqual(rows.parent, { name: 'parent', cat: 'cpu_op', calls: 2, selfUs: 10 - 3 - 4 + 4, totalUs: 14 });
  assert.deepEqual(rows.child, { name: 'child', cat: 'cpu_op', calls: 2, selfUs: 3 + 4 - 1, totalUs: 7 });
  assert.deepEqual(rows.leaf, { name: 'leaf', cat: 'cpu_op', calls: 1, selfUs: 1, totalUs: 1 });
  const withKernels = { traceEvents: [...trace.traceEvents, { name: 'gemm', cat: 'kernel', ts: 1, dur: 2, pid: 1, tid: 7 }, { name: 'gemm', cat: 'kernel', ts: 4, dur: 3, pid: 1, tid: 7 }] };
  assert.deepEqual(profile.summarizeTrace(withKernels), [{ name: 'gemm', cat: 'kernel', calls: 2, selfUs: 5, totalUs: 5 }]);
  assert.match(profile.formatTraceSummary(withKernels), /GPU kernel[\s\S]*gemm\s+2\s+0\.005\s+100\.0%/);
});

test('one profiling session at a time', async () => {
  profile.startProfile();
  assert.throws(() => profile.startProfile(), { code: 'ERR_ARGUMENT', message: /already on/ });
  await profile.stopProfile();
  await rejectsCoded(profile.stopProfile(), 'ERR_ARGUMENT', 'not on');
});

test('summarizePhases: seqsam ranges with the ops inside them, in order; summarizeTrace leaves the ranges out', () => {
  const op = (name, ts, dur, tid = 1) => ({ name, cat: 'cpu_op', ts, dur, pid: 0, tid });
  // seqsam::rollout [0, 10) holds a [1, 4) (which calls b [2, 3)) and c [5, 9); seqsam::backward [10, 20) holds d
  // [11, 19) and, on another thread, nothing (its op e [12, 13) runs on thread 2 outside any range).
  const trace = {
    traceEvents: [op('seqsam::rollout', 0, 10), op('a', 1, 3), op('b', 2, 1), op('c', 5, 4), op('seqsam::backward', 10, 10), op('d', 11, 8), op('e', 12, 1, 2)],
  };
  assert.deepEqual(profile.summarizePhases(trace), [
    { name: 'seqsam::rollout', calls: 1, totalUs: 10, ops: 3, firstUs: 0 },
    { name: 'seqsam::backward', calls: 1, totalUs: 10, ops: 1, firstUs: 10 },
  ]);
  const rows = profile.summarizeTrace(trace, Infinity);
  assert.deepEqual(rows.map((r) => r.name).sort(), ['a', 'b', 'c', 'd', 'e']);
  assert.match(profile.formatTraceSummary(trace), /seqsam phase[\s\S]*seqsam::rollout\s+1\s+0\.010\s+3\n[\s\S]*seqsam::backward\s+1\s+0\.010\s+1/);
});

test('a profiled training step shows its phases in order: rollout, set loss, backward, gradient clipping, AdamW', async () => {
  const model = await SeqSam.load({ config: tinyConfig, seed: 2, training: { numMasks: 2, seed: 3 } });
  const batch = tinyEmbeddingBatch(3, 2);
  profile.startProfile();
  let trace;
  try {
    (await model.trainStep(batch)).dispose();
  } finally {
    trace = await profile.stopProfile();
  }
  model.dispose();
  for (const x of Object.values(batch)) x.dispose();
  const phases = profile.summarizePhases(trace);
  const order = ['seqsam::rollout', 'seqsam::set_loss', 'seqsam::backward', 'seqsam::clip_gradients', 'seqsam::adamw'];
  const found = order.map((name) => phases.find((p) => p.name === name));
  found.forEach((p, i) => assert.ok(p && p.calls === 1 && p.ops > 0, `${order[i]}: ${JSON.stringify(p)}`));
  found.slice(1).forEach((p, i) => assert.ok(p.firstUs >= found[i].firstUs + found[i].totalUs, `${order[i + 1]} starts before ${order[i]} ends`));
  // A training step from embeddings runs no encoder.
  assert.ok(!phases.some((p) => p.name === 'seqsam::image_encoder'), 'an image encoder range in a step from embeddings');
});
