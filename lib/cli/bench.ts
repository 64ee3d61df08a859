// `seqsam bench`: speed of the encoder, the decoder, cost + matching, and a SeqSAM training step, at
// one thread and at all cores; and, named cuda-*, the same on a CUDA device (skipped without one).
// Numbers, not assertions.
import { writeSync } from 'node:fs';
import { availableParallelism } from 'node:os';

import type { CommandModule } from 'yargs';

import { AdamWOptimizer, type AdamWKernels } from '../adamw-ops.js';
import { mulberry32 } from '../data/synthetic.js';
import { SeqsamError } from '../errors.js';
import { ImageEmbedding } from '../model/embedding.js';
import type { CudaGraphStats, Precision } from '../model/native-model.js';
import { Sam } from '../model/sam.js';
import { SeqSam } from '../model/seqsam.js';
import { assignment, diceCost } from '../ops.js';
import { formatTraceSummary, startProfile, stopProfile } from '../profile.js';
import { info, setThreads } from '../runtime.js';
import { Tensor } from '../tensor.js';

interface Entry {
  name: string;
  // Which case measured it, and the settings it ran with (filled in by the command).
  case?: string;
  settings?: Record<string, string | number>;
  threads: number;
  value: number;
  unit: string;
  note?: string;
}

// Where a case puts its results.
interface ResultSink {
  push(...entries: Entry[]): void;
}

// The results as they come: labelled with the case that runs (`suite`) and its settings, kept for the
// report, and each also written to stderr at once, so a long run shows how far it got.
class Results implements ResultSink {
  readonly list: Entry[] = [];
  suite: Suite | null = null;

  push(...entries: Entry[]): void {
    for (const entry of entries) {
      if (this.suite) Object.assign(entry, { case: this.suite, settings: { ...caseSettings[this.suite], threads: entry.threads } });
      this.list.push(entry);
      process.stderr.write(`bench:   ${entry.name}, ${entry.threads} thr: ${formatValue(entry.value)} ${entry.unit}\n`);
    }
  }
}

function formatValue(value: number): string {
  return value >= 100 ? value.toFixed(0) : value >= 1 ? value.toFixed(2) : value.toFixed(3);
}

function randomTensor(shape: number[], seed: number, map: (x: number) => number = (x) => x - 0.5, device = 'cpu'): Tensor {
  const random = mulberry32(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return Tensor.from(Float32Array.from({ length: size }, () => map(random())), shape, { device });
}

// --profile: one more run of the first measured entry, under LibTorch's profiler.
let profileRequest: { path: string; captured: boolean } | null = null;

async function profileOnce(run: () => Promise<unknown>): Promise<void> {
  if (!profileRequest || profileRequest.captured) return;
  profileRequest.captured = true;
  const cuda = info().cuda;
  startProfile({ cuda });
  try {
    await run();
    if (cuda) await cudaSync();
  } finally {
    const trace = await stopProfile(profileRequest.path);
    process.stderr.write(`bench: trace of one run in ${profileRequest.path} (${trace.traceEvents.length} events)\n${formatTraceSummary(trace)}\n`);
  }
}

// Median seconds of `repeats` runs after one warm-up.
async function time(run: () => Promise<unknown>, repeats: number): Promise<number> {
  await run();
  const samples: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const started = performance.now();
    await run();
    samples.push((performance.now() - started) / 1000);
  }
  samples.sort((a, b) => a - b);
  await profileOnce(run);
  return samples[Math.floor(samples.length / 2)];
}

function threadCounts(): number[] {
  const cores = availableParallelism();
  return cores > 1 ? [1, cores] : [1];
}

// "n threads" means every pool at n: LibTorch's (OpenMP) and OpenBLAS's, which LibTorch calls from one
// thread at a time (measured: no oversubscription at 2 + 2 here).
function useThreads(n: number): void {
  setThreads({ torch: n, blas: n });
}

async function benchEncoder(entries: ResultSink, repeats: number): Promise<void> {
  const sam = await Sam.load({ preset: 'vit_b', seed: 0 });
  const random = mulberry32(1);
  const image = { data: Uint8Array.from({ length: 1024 * 1024 * 3 }, () => Math.floor(random() * 256)), width: 1024, height: 1024, channels: 3 };
  for (const threads of threadCounts()) {
    useThreads(threads);
    const seconds = await time(async () => (await sam.embed(image)).dispose(), repeats);
    entries.push({ name: 'encoder ViT-B 1024²', threads, value: seconds, unit: 's/image' });
  }
  sam.dispose();
}

// The encoder's numeric modes: fp32; bf16 under autocast (weights cast in every call, float32 stream);
// bf16 on weights held in bf16 (the default for a pass that needs no gradient), with the MLP's GELU as a
// matmul epilogue or after it. SEQSAM_BF16_WEIGHTS picks between the two bf16 modes, SEQSAM_GELU_EPILOGUE
// whether the GELU is fused (by default only on CUDA for held weights).
interface EncoderMode {
  label: string;
  precision: Precision;
  environment: Record<string, string>;
}
const heldWeights = { SEQSAM_BF16_WEIGHTS: 'held' };
const encoderModes: EncoderMode[] = [
  { label: 'fp32', precision: 'fp32', environment: heldWeights },
  { label: 'bf16 autocast', precision: 'bf16', environment: { SEQSAM_BF16_WEIGHTS: 'autocast' } },
  { label: 'bf16 held weights', precision: 'bf16', environment: { ...heldWeights, SEQSAM_GELU_EPILOGUE: '0' } },
  { label: 'bf16 held weights + GELU epilogue', precision: 'bf16', environment: { ...heldWeights, SEQSAM_GELU_EPILOGUE: '1' } },
];
// On CUDA also tf32 (float32 with TF32 matmuls and convolutions; on the CPU it is fp32).
const cudaEncoderModes: EncoderMode[] = [...encoderModes, { label: 'tf32', precision: 'tf32', environment: heldWeights }];

// Runs `run` with the native switches in `settings` set (they are read at each call), then puts them back.
async function withEnvironment<T>(settings: Record<string, string>, run: () => Promise<T>): Promise<T> {
  const previous = Object.fromEntries(Object.keys(settings).map((name) => [name, process.env[name]]));
  Object.assign(process.env, settings);
  try {
    return await run();
  } finally {
    for (const [name, value] of Object.entries(previous)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

// The three modes on the CPU, on ViT-B's layers at a 256² image (16² tokens: one window per block), where
// a ViT-B 1024² pass in bf16 would take minutes.
async function benchEncoderPrecision(entries: ResultSink, repeats: number): Promise<void> {
  const vitB = await Sam.load({ preset: 'vit_b', seed: 0 });
  const config = { ...vitB.config, image_size: 256 };
  vitB.dispose();
  const random = mulberry32(1);
  const image = { data: Uint8Array.from({ length: 256 * 256 * 3 }, () => Math.floor(random() * 256)), width: 256, height: 256, channels: 3 };
  for (const mode of encoderModes) {
    const sam = await Sam.load({ config, seed: 0, precision: mode.precision });
    for (const threads of threadCounts()) {
      useThreads(threads);
      const seconds = await withEnvironment(mode.environment, () => time(async () => (await sam.embed(image)).dispose(), repeats));
      entries.push({ name: `encoder ViT-B layers 256², ${mode.label}`, threads, value: seconds * 1000, unit: 'ms/image' });
    }
    sam.dispose();
  }
}

async function benchDecoder(entries: ResultSink, repeats: number): Promise<void> {
  const sam = await Sam.load({ preset: 'vit_b', seed: 0 });
  const embedding = await sam.embed({ data: new Uint8Array(64 * 64 * 3).fill(90), width: 64, height: 64, channels: 3 });
  // A 1024² image's embedding: replace the tiny image's by random numbers of the real shape.
  const { ImageEmbedding } = await import('../model/embedding.js');
  const real = new ImageEmbedding(randomTensor([1, 256, 64, 64], 2), [1024, 1024], [1024, 1024]);
  embedding.dispose();
  const boxes: [number, number, number, number][] = Array.from({ length: 16 }, (_, i) => [100 + i * 10, 120, 500 + i * 10, 600]);
  for (const threads of threadCounts()) {
    useThreads(threads);
    const single = await time(async () => (await sam.predict(real, { box: boxes[0], multimask: true })).dispose(), repeats * 5);
    entries.push({ name: 'decoder ViT-B, 1 box', threads, value: single * 1000, unit: 'ms/prompt' });
    const batched = await time(async () => (await sam.predict(real, { boxes, multimask: true })).dispose(), repeats);
    entries.push({ name: 'decoder ViT-B, 16 boxes batched', threads, value: (batched * 1000) / 16, unit: 'ms/prompt' });
  }
  real.dispose();
  sam.dispose();
}

async function benchMatching(entries: ResultSink, repeats: number): Promise<void> {
  const [b, m, k, side] = [32, 10, 4, 256];
  const logits = randomTensor([b, m, side, side], 3, (x) => (x - 0.5) * 8);
  const labels = randomTensor([b, k, side, side], 4, (x) => (x > 0.7 ? 1 : 0));
  for (const threads of threadCounts()) {
    useThreads(threads);
    const vectorised = await time(async () => {
      const cost = await diceCost(logits, labels);
      (await assignment(cost)).dispose();
      cost.dispose();
    }, repeats * 3);
    const perPair = await time(async () => {
      const cost = await diceCost(logits, labels, { perPair: true });
      (await assignment(cost)).dispose();
      cost.dispose();
    }, repeats);
    entries.push({ name: 'cost + matching B=32 M=10 K=4 256², vectorised', threads, value: vectorised * 1000, unit: 'ms' });
    entries.push({ name: 'cost + matching, per-pair loop', threads, value: perPair * 1000, unit: 'ms', note: `${(perPair / vectorised).toFixed(1)}× slower` });
  }
  logits.dispose();
  labels.dispose();
}

async function benchTrainStep(entries: ResultSink, repeats: number): Promise<void> {
  const model = await SeqSam.load({ preset: 'vit_b', seed: 0, training: { numMasks: 4, seed: 1 } });
  const batch = {
    embeddings: randomTensor([2, 256, 64, 64], 5),
    boxes: Tensor.from(new Float32Array([200, 220, 600, 640, 100, 150, 400, 500]), [2, 4]),
    labels: randomTensor([2, 4, 256, 256], 6, (x) => (x > 0.6 ? 1 : 0)),
  };
  for (const threads of threadCounts()) {
    useThreads(threads);
    const seconds = await time(async () => (await model.trainStep(batch)).dispose(), repeats);
    entries.push({ name: 'SeqSAM train step, ViT-B dims, cached embeddings, B=2 M=4 K=4', threads, value: seconds, unit: 's/step' });
  }
  for (const t of Object.values(batch)) t.dispose();
  model.dispose();
}

// AdamW alone, over the trainable set of the default SeqSAM (ViT-B decoder, prompt encoder and cell) with the
// gradients of one real backward pass: the host-scalar per-tensor form (the CPU training step's), the same as
// multi-tensor ops, and the capturable forms (device scalars; the gate computed on copies, never read).
const optimizerForms: { label: string; capturable: boolean; kernels: AdamWKernels }[] = [
  { label: 'host scalars, per tensor', capturable: false, kernels: 'per-tensor' },
  { label: 'host scalars, multi-tensor', capturable: false, kernels: 'multi-tensor' },
  { label: 'capturable, per tensor', capturable: true, kernels: 'per-tensor' },
  { label: 'capturable, multi-tensor', capturable: true, kernels: 'multi-tensor' },
];

async function seqsamTrainableSet(device: string): Promise<{ params: Record<string, Tensor>; grads: Record<string, Tensor>; weights: number }> {
  const model = await SeqSam.load({ preset: 'vit_b', seed: 0, device, training: { numMasks: 4, seed: 1 } });
  const batch = {
    embeddings: randomTensor([1, 256, 64, 64], 5, undefined, device),
    boxes: Tensor.from(new Float32Array([200, 220, 600, 640]), [1, 4], { device }),
    labels: randomTensor([1, 4, 256, 256], 6, (x) => (x > 0.6 ? 1 : 0), device),
  };
  (await model.trainStep(batch, { update: false })).dispose();
  const grads = model.gradients();
  for (const t of Object.values(batch)) t.dispose();
  model.dispose();
  let seed = 10;
  const params = Object.fromEntries(Object.entries(grads).map(([name, g]) => [name, randomTensor(g.shape, seed++, undefined, device)]));
  const weights = Object.values(grads).reduce((n, g) => n + g.shape.reduce((a, b) => a * b, 1), 0);
  return { params, grads, weights };
}

async function benchOptimizer(entries: ResultSink, repeats: number): Promise<void> {
  const { params, grads, weights } = await seqsamTrainableSet('cpu');
  const size = `${Object.keys(params).length} tensors, ${(weights / 1e6).toFixed(2)} M weights`;
  const applies = Tensor.from(Uint8Array.from([1]), [], { dtype: 'bool' });
  for (const threads of threadCounts()) {
    useThreads(threads);
    for (const form of optimizerForms) {
      const opt = new AdamWOptimizer(params, { lr: 1e-4 });
      opt.setKernels(form.kernels);
      opt.setCapturable(form.capturable);
      opt.setGradients(grads);
      // As the trainer calls it: the rate staged (capturable), the step gated by a flag.
      const seconds = await time(async () => {
        opt.stageScalars();
        opt.step(applies);
      }, repeats * 10);
      entries.push({ name: `AdamW step, SeqSAM ViT-B trainable set (${size}), ${form.label}`, threads, value: seconds * 1000, unit: 'ms/step' });
      opt.dispose();
    }
  }
  applies.dispose();
  disposeNamed(params);
  disposeNamed(grads);
}

function disposeNamed(tensors: Record<string, Tensor>): void {
  for (const t of Object.values(tensors)) t.dispose();
}

// ---- CUDA: GPU work is queued asynchronously; a timing ends with a host copy that waits for the queue.

// ViT-B does ≈0.97 TFLOP per 1024² image: ~1.25 ms at the ~780 TFLOP/s bf16 an H100 reaches on a matmul.
const encoderFloorMs = 1.25;

async function cudaSync(): Promise<void> {
  const probe = Tensor.from(new Float32Array(1), [1], { device: 'cuda' });
  await probe.toTypedArray();
  probe.dispose();
}

// Seconds per run: `runs` runs queued back to back after one warm-up, then one wait for the GPU.
async function timeCuda(run: () => Promise<unknown>, runs: number): Promise<number> {
  await run();
  await cudaSync();
  const started = performance.now();
  for (let i = 0; i < runs; i++) await run();
  await cudaSync();
  const seconds = (performance.now() - started) / 1000 / runs;
  await profileOnce(run);
  return seconds;
}

function randomCuda(shape: number[], seed: number, map?: (x: number) => number): Tensor {
  return randomTensor(shape, seed, map, 'cuda');
}

function cudaAvailable(suite: string): boolean {
  if (info().cuda) return true;
  process.stderr.write(`bench: ${suite} skipped (no CUDA device)\n`);
  return false;
}

const precisions: Precision[] = ['fp32', 'bf16'];

async function benchCudaEncoder(entries: ResultSink, repeats: number): Promise<void> {
  if (!cudaAvailable('cuda-encoder')) return;
  const batch = 8;
  const random = mulberry32(1);
  const pixels = Tensor.from(Uint8Array.from({ length: batch * 1024 * 1024 * 3 }, () => Math.floor(random() * 256)), [batch, 1024, 1024, 3], { device: 'cuda' });
  // The rel-pos bias folded into q and k (the default) against the same bias passed as SDPA's mask.
  const attentionForms = [['folded', 'rel-pos folded into q·k'], ['sdpa', 'rel-pos as the mask']] as const;
  try {
    for (const mode of cudaEncoderModes) {
      const sam = await Sam.load({ preset: 'vit_b', seed: 0, device: 'cuda', precision: mode.precision });
      for (const [form, label] of attentionForms) {
        const environment = { ...mode.environment, SEQSAM_ATTENTION: form };
        const seconds = await withEnvironment(environment, () => timeCuda(async () => (await sam.embedPixels(pixels)).dispose(), repeats));
        const msPerImage = (seconds * 1000) / batch;
        entries.push({
          name: `encoder ViT-B 1024², cuda ${mode.label} + SDPA (${label}), batch ${batch}`,
          threads: info().threads,
          value: batch / seconds,
          unit: 'images/s',
          note: `${msPerImage.toFixed(2)} ms/image, ${((100 * encoderFloorMs) / msPerImage).toFixed(1)}% of the ${encoderFloorMs} ms bf16 floor`,
        });
      }
      sam.dispose();
    }
  } finally {
    pixels.dispose();
  }
}

async function benchCudaTrainStep(entries: ResultSink, repeats: number): Promise<void> {
  if (!cudaAvailable('cuda-train')) return;
  const [b, m, k] = [8, 4, 4];
  const boxes = new Float32Array(b * 4);
  for (let i = 0; i < b; i++) boxes.set([100 + 20 * i, 120, 600 + 20 * i, 700], i * 4);
  const batch = {
    embeddings: randomCuda([b, 256, 64, 64], 5),
    boxes: Tensor.from(boxes, [b, 4], { device: 'cuda' }),
    labels: randomCuda([b, k, 256, 256], 6, (x) => (x > 0.6 ? 1 : 0)),
  };
  for (const precision of precisions) {
    // Eager, then the same step replayed from a CUDA graph (ModelOptions.cudaGraphs), side by side.
    let eagerSeconds = 0;
    for (const cudaGraphs of [false, true]) {
      const model = await SeqSam.load({ preset: 'vit_b', seed: 0, device: 'cuda', precision, cudaGraphs, training: { numMasks: m, seed: 1 } });
      // Each step ends with its loss on the host: the time is the full step.
      const seconds = await timeCuda(async () => (await model.trainStep(batch)).dispose(), repeats * 3);
      const name = `SeqSAM train step, ViT-B dims, cached embeddings, B=${b} M=${m} K=${k}, cuda ${precision}`;
      if (!cudaGraphs) {
        eagerSeconds = seconds;
        entries.push({ name, threads: info().threads, value: 1 / seconds, unit: 'steps/s', note: `${(seconds * 1000).toFixed(1)} ms/step` });
      } else {
        const graphs = graphUse(model.cudaGraphStats().training);
        entries.push({ name: `${name}, CUDA graph`, threads: info().threads, value: 1 / seconds, unit: 'steps/s', note: `${(seconds * 1000).toFixed(1)} ms/step, ${(eagerSeconds / seconds).toFixed(2)}× eager's speed; ${graphs}` });
      }
      model.dispose();
    }
  }
  for (const t of Object.values(batch)) t.dispose();
}

// Whether a measurement with cudaGraphs on really replayed graphs.
function graphUse(stats: CudaGraphStats | null): string {
  if (!stats) return 'no training set up';
  if (stats.failures > 0) return `${stats.failures} layout(s) fell back to eager: ${stats.lastFailure}`;
  if (stats.replays === 0) return 'graphs not used (info().cudaGraphs false or SEQSAM_CUDA_GRAPHS=0): eager';
  return `${stats.captures} capture(s), ${stats.replays} replays`;
}

async function benchCudaHungarian(entries: ResultSink, repeats: number): Promise<void> {
  if (!cudaAvailable('cuda-hungarian')) return;
  const shape = [4096, 10, 4];
  const diceLike = (x: number) => Math.round(x * 16) / 16;  // with ties
  const cpuCost = randomTensor(shape, 7, diceLike);
  const gpuCost = randomCuda(shape, 7, diceLike);
  const gpu = await timeCuda(async () => (await assignment(gpuCost)).dispose(), repeats * 30);
  const cpu = await time(async () => (await assignment(cpuCost)).dispose(), repeats * 3);
  entries.push({ name: 'Hungarian B=4096 10×4, GPU kernel (one launch; call to result on the GPU)', threads: info().threads, value: gpu * 1e6, unit: 'µs/batch' });
  entries.push({ name: 'Hungarian B=4096 10×4, CPU solver', threads: info().threads, value: cpu * 1e6, unit: 'µs/batch', note: `${(cpu / gpu).toFixed(1)}× the GPU's time` });
  cpuCost.dispose();
  gpuCost.dispose();
}

async function benchCudaInference(entries: ResultSink, repeats: number): Promise<void> {
  if (!cudaAvailable('cuda-inference')) return;
  const embedding = new ImageEmbedding(randomCuda([1, 256, 64, 64], 8), [1024, 1024], [1024, 1024]);
  const random = mulberry32(9);
  const pixels = Tensor.from(Uint8Array.from({ length: 1024 * 1024 * 3 }, () => Math.floor(random() * 256)), [1024, 1024, 3], { device: 'cuda' });
  for (const precision of precisions) {
    // Eager, then the rollout replayed from a CUDA graph (ModelOptions.cudaGraphs), side by side.
    let eagerSeconds = 0;
    for (const cudaGraphs of [false, true]) {
      const model = await SeqSam.load({ preset: 'vit_b', seed: 0, device: 'cuda', precision, cudaGraphs });
      // One prediction at a time, each waited for: the latency of M = 10 masks (at 1024², with the maps).
      const seconds = await time(async () => {
        const out = await model.predict(embedding, { box: [200, 220, 700, 760], numMasks: 10 });
        await cudaSync();
        out.dispose();
      }, repeats * 5);
      const name = `SeqSAM inference, M=10 from a cached embedding, cuda ${precision}`;
      if (!cudaGraphs) {
        eagerSeconds = seconds;
        entries.push({ name, threads: info().threads, value: seconds * 1000, unit: 'ms' });
      } else {
        const graphs = graphUse(model.cudaGraphStats().inference);
        entries.push({ name: `${name}, CUDA graph`, threads: info().threads, value: seconds * 1000, unit: 'ms', note: `${(eagerSeconds / seconds).toFixed(2)}× eager's speed; ${graphs}` });
        // A new image: its embedding (ViT-B, 1024²), then the same M = 10 masks, waited for.
        const fresh = await time(async () => {
          const own = await model.embedPixels(pixels);
          const out = await model.predict(own, { box: [200, 220, 700, 760], numMasks: 10 });
          await cudaSync();
          out.dispose();
          own.dispose();
        }, repeats * 2);
        entries.push({ name: `SeqSAM inference, a new 1024² image embedded + M=10, cuda ${precision}, CUDA graph`, threads: info().threads, value: fresh * 1000, unit: 'ms' });
      }
      model.dispose();
    }
  }
  embedding.dispose();
  pixels.dispose();
}

// AdamW alone on the GPU: per tensor (several launches per tensor), multi-tensor, and the fused kernel in
// capturable mode (LibTorch >= 2.2), each step gated by a device flag as in training.
async function benchCudaOptimizer(entries: ResultSink, repeats: number): Promise<void> {
  if (!cudaAvailable('cuda-optimizer')) return;
  const { params, grads, weights } = await seqsamTrainableSet('cuda');
  const size = `${Object.keys(params).length} tensors, ${(weights / 1e6).toFixed(2)} M weights`;
  const applies = Tensor.from(Uint8Array.from([1]), [], { dtype: 'bool', device: 'cuda' });
  const forms = [...optimizerForms, { label: 'capturable, fused', capturable: true, kernels: 'fused' as const }];
  for (const form of forms) {
    const opt = new AdamWOptimizer(params, { lr: 1e-4 });
    try {
      opt.setKernels(form.kernels);
    } catch (error) {
      process.stderr.write(`bench: cuda-optimizer ${form.label} skipped (${(error as Error).message})\n`);
      opt.dispose();
      continue;
    }
    opt.setCapturable(form.capturable);
    opt.setGradients(grads);
    const seconds = await timeCuda(async () => {
      opt.stageScalars();
      opt.step(applies);
    }, repeats * 30);
    entries.push({ name: `AdamW step, SeqSAM ViT-B trainable set (${size}), cuda, ${form.label}`, threads: info().threads, value: seconds * 1e6, unit: 'µs/step' });
    opt.dispose();
  }
  applies.dispose();
  disposeNamed(params);
  disposeNamed(grads);
}

// A stream of requests through predictStream against one-by-one predict (tiny model: the CPU runs it in seconds).
async function benchStream(entries: ResultSink, repeats: number): Promise<void> {
  const { measureStream } = await import('../model/stream/stream-bench.js');
  for (const row of await measureStream({ repeats })) {
    entries.push({ name: row.name, threads: info().threads, value: row.requestsPerSecond, unit: 'images/s', note: `latency p50 ${row.p50Ms.toFixed(0)} ms, p99 ${row.p99Ms.toFixed(0)} ms` });
  }
}

// One rank with all threads against ranks of one thread each, the all-reduce overlapped or after backward.
async function benchDataParallel(entries: ResultSink, _repeats: number): Promise<void> {
  const { measureDataParallel } = await import('./bench-data-parallel.js');
  for (const row of await measureDataParallel({ steps: 10 })) {
    const curve = `loss ${row.losses.map((x) => x.toFixed(4)).join(' ')}`;
    entries.push({ name: row.name, threads: row.threadsPerRank, value: row.imagesPerSecond, unit: 'images/s', note: `${row.msPerStep.toFixed(0)} ms/step; ${curve}` });
    if (row.exposedWaitMs !== null) {
      entries.push({
        name: `${row.name}: exposed all-reduce wait`,
        threads: row.threadsPerRank,
        value: row.exposedWaitMs,
        unit: 'ms/step',
        note: `the rank that waited least; the one that waited most: ${row.exposedWaitMaxMs?.toFixed(0)} ms; ${row.buckets} buckets, ${row.launchedDuringBackward} started during backward`,
      });
    }
  }
}

const suites = {
  encoder: benchEncoder,
  'encoder-precision': benchEncoderPrecision,
  decoder: benchDecoder,
  matching: benchMatching,
  train: benchTrainStep,
  optimizer: benchOptimizer,
  'cuda-encoder': benchCudaEncoder,
  'cuda-train': benchCudaTrainStep,
  'cuda-hungarian': benchCudaHungarian,
  'cuda-inference': benchCudaInference,
  'cuda-optimizer': benchCudaOptimizer,
  stream: benchStream,
  'data-parallel': benchDataParallel,
} as const;
type Suite = keyof typeof suites;
// What each case runs on, for the JSON output next to the numbers.
const caseSettings: Record<Suite, Record<string, string | number>> = {
  encoder: { preset: 'vit_b', image: '1024²', device: 'cpu' },
  'encoder-precision': { layers: 'vit_b', image: '256²', modes: encoderModes.map((mode) => mode.label).join(', '), device: 'cpu' },
  decoder: { preset: 'vit_b', device: 'cpu' },
  matching: { batch: 32, M: 10, K: 4, mask: '256²', device: 'cpu' },
  train: { preset: 'vit_b', batch: 2, M: 4, K: 4, input: 'cached embeddings', device: 'cpu' },
  optimizer: { preset: 'vit_b', parameters: 'trainable (decoder, prompt encoder, cell)', device: 'cpu' },
  'cuda-encoder': { preset: 'vit_b', image: '1024²', device: 'cuda' },
  'cuda-train': { preset: 'vit_b', batch: 8, M: 4, K: 4, input: 'cached embeddings', device: 'cuda' },
  'cuda-hungarian': { batch: 4096, M: 10, K: 4, device: 'cuda' },
  'cuda-inference': { preset: 'vit_b', M: 10, input: 'cached embedding, or a new 1024² image', device: 'cuda' },
  'cuda-optimizer': { preset: 'vit_b', parameters: 'trainable (decoder, prompt encoder, cell)', device: 'cuda' },
  stream: { config: 'tiny', requests: 64, M: 4, batch: 8, image: '256²', device: 'cpu' },
  'data-parallel': { preset: 'vit_b', batch: 4, M: 4, K: 4, input: 'cached embeddings', steps: 10, backend: 'gloo', device: 'cpu' },
};
// Without --only: the CPU suites.
const defaultSuites: Suite[] = ['encoder', 'decoder', 'matching', 'train'];

export const benchCommand: CommandModule<object, { case?: string[]; repeats: number; json: boolean; profile?: string }> = {
  command: 'bench',
  describe: 'Measure encoder, decoder, cost + matching and training-step speed',
  builder: (y) =>
    y
      .option('case', { alias: 'only', type: 'array', string: true, choices: Object.keys(suites), describe: 'run these cases (default: the CPU ones)' })
      .option('repeats', { type: 'number', default: 3, describe: 'timed runs per entry (median reported)' })
      .option('json', { type: 'boolean', default: false, describe: 'one JSON object: named results with units and settings' })
      .option('profile', { type: 'string', describe: "write a Chrome / Perfetto trace of one run of the first entry to this file, and print its top ops (or GPU kernels)" })
      .example('$0 bench --case train --json', 'the training step only, as JSON'),
  handler: async (args) => {
    if (!Number.isInteger(args.repeats) || args.repeats < 1) throw new SeqsamError('ERR_ARGUMENT', `--repeats must be a positive integer (got ${args.repeats})`);
    const before = info();
    profileRequest = args.profile ? { path: args.profile, captured: false } : null;
    const results = new Results();
    const entries = results.list;
    const chosen = (args.case?.length ? args.case : defaultSuites) as Suite[];
    // Stopped (Ctrl-C, or a time limit's SIGTERM), the bench still reports what it measured so far, marked
    // partial, before it exits: a long run cut short keeps its numbers.
    const stop = (signal: NodeJS.Signals) => {
      process.stderr.write(`\nbench: ${signal}: reporting the ${entries.length} entries measured so far\n`);
      writeSync(1, formatResults(before, entries, args.json, signal));
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      for (const suite of chosen) {
        process.stderr.write(`bench: ${suite}...\n`);
        results.suite = suite;
        await suites[suite](results, args.repeats);
      }
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      setThreads({ torch: before.threads, blas: Math.max(1, before.blasThreads) });
    }
    process.stdout.write(formatResults(before, entries, args.json));
  },
};

// The results as one JSON object or as a table; `stoppedBy` marks a run cut short.
function formatResults(before: ReturnType<typeof info>, entries: Entry[], json: boolean, stoppedBy?: NodeJS.Signals): string {
  if (json) {
    const partial = stoppedBy ? { partial: true, stoppedBy } : {};
    return `${JSON.stringify({ seqsam: before.version, torch: before.torchVersion, hardwareThreads: before.hardwareThreads, ...partial, entries }, null, 2)}\n`;
  }
  const lines = [`seqsam ${before.version}, LibTorch ${before.torchVersion}, ${before.hardwareThreads} hardware threads${stoppedBy ? ` (stopped by ${stoppedBy}: partial)` : ''}`];
  const width = Math.max(0, ...entries.map((e) => e.name.length));
  for (const e of entries) {
    lines.push(`${e.name.padEnd(width)}  ${String(e.threads).padStart(2)} thr  ${formatValue(e.value).padStart(8)} ${e.unit}${e.note ? `  (${e.note})` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}
