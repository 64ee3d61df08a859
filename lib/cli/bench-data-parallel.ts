// `seqsam bench --case data-parallel`: the same training on the same global batch, by one process with all
// its threads and by ranks of one thread each (c10d over Gloo, on this machine), with the gradient all-reduce
// overlapped with backward and reduced after it (SEQSAM_DDP_OVERLAP=0). Each configuration runs in fresh
// processes (this module, imported by `node -e`), so no thread pool or group outlives its run.
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';

import { mulberry32 } from '../data/synthetic.js';
import { init as joinGroup, barrier, destroy as leaveGroup } from '../distributed/process-group.js';
import { freePort } from '../distributed/local-launch.js';
import { fromEnv } from '../distributed/torchrun-env.js';
import { SeqsamError } from '../errors.js';
import type { GradientSyncReport } from '../model/native-model.js';
import { SeqSam } from '../model/seqsam.js';
import { setThreads } from '../runtime.js';
import { Tensor } from '../tensor.js';

// ViT-B's decoder dimensions from cached embeddings, as the `train` case, on a global batch of 4.
const GLOBAL_BATCH = 4;
const [MASKS, LABELS, GRID, LOW] = [4, 4, 64, 256];
const REPORT_PREFIX = 'seqsam-bench-data-parallel ';

interface RankJob {
  steps: number;
  threads: number;
}

interface RankReport {
  losses: number[];
  stepMs: number[];
  syncs: (GradientSyncReport | null)[];
}

export interface DataParallelRow {
  name: string;
  ranks: number;
  threadsPerRank: number;
  overlap: boolean | null;
  imagesPerSecond: number;
  msPerStep: number;
  // The wait after backward for the summed gradients (ranks > 1), median over the timed steps: of the rank
  // that waited least (the last to finish backward: the communication left over) and of the one that waited
  // most (that plus the ranks' imbalance).
  exposedWaitMs: number | null;
  exposedWaitMaxMs: number | null;
  buckets: number | null;
  launchedDuringBackward: number | null;
  // Step 0 (the warm-up, untimed) and the timed steps.
  losses: number[];
}

// Step s's rows [from, to) of the global batch: random embeddings, two boxes' worth of coordinates, and labels.
function batchRows(step: number, from: number, to: number): { embeddings: Tensor; boxes: Tensor; labels: Tensor } {
  const random = mulberry32(1000 + step);
  const embeddings = new Float32Array(GLOBAL_BATCH * 256 * GRID * GRID);
  for (let i = 0; i < embeddings.length; i++) embeddings[i] = random() - 0.5;
  const boxes = new Float32Array(GLOBAL_BATCH * 4);
  for (let i = 0; i < GLOBAL_BATCH; i++) {
    const x0 = 100 + Math.floor(random() * 300), y0 = 100 + Math.floor(random() * 300);
    boxes.set([x0, y0, x0 + 400, y0 + 400], i * 4);
  }
  const labels = new Float32Array(GLOBAL_BATCH * LABELS * LOW * LOW);
  for (let i = 0; i < labels.length; i++) labels[i] = random() > 0.6 ? 1 : 0;
  const per = [256 * GRID * GRID, 4, LABELS * LOW * LOW];
  return {
    embeddings: Tensor.from(embeddings.slice(from * per[0], to * per[0]), [to - from, 256, GRID, GRID]),
    boxes: Tensor.from(boxes.slice(from * per[1], to * per[1]), [to - from, 4]),
    labels: Tensor.from(labels.slice(from * per[2], to * per[2]), [to - from, LABELS, LOW, LOW]),
  };
}

/** One rank of a configuration (in a child process): trains, and prints its report on one line. */
export async function dataParallelRankFromEnv(): Promise<void> {
  const job = JSON.parse(process.env.SEQSAM_BENCH_DATA_PARALLEL ?? '{}') as RankJob;
  setThreads({ torch: job.threads, blas: job.threads });
  const group = process.env.WORLD_SIZE && Number(process.env.WORLD_SIZE) > 1 ? await joinGroup(fromEnv(process.env, { timeoutMs: 300000 })) : null;
  const [rank, worldSize] = group ? [group.rank, group.worldSize] : [0, 1];
  const per = GLOBAL_BATCH / worldSize;
  const model = await SeqSam.load({ preset: 'vit_b', seed: 0, training: { numMasks: MASKS, seed: 1, lr: 1e-4 } });
  const batches = Array.from({ length: job.steps + 1 }, (_, step) => batchRows(step, rank * per, (rank + 1) * per));
  const report: RankReport = { losses: [], stepMs: [], syncs: [] };
  for (const batch of batches) {
    const started = performance.now();
    const result = await model.trainStep(batch);
    report.stepMs.push(performance.now() - started);
    report.losses.push(result.loss);
    report.syncs.push(result.sync ?? null);
    result.dispose();
    for (const t of Object.values(batch)) t.dispose();
  }
  model.dispose();
  if (group) {
    await barrier();
    leaveGroup();
  }
  process.stdout.write(`${REPORT_PREFIX}${JSON.stringify(report)}\n`);
}

// Runs one configuration's ranks to the end; their reports, by rank.
async function runConfiguration(ranks: number, job: RankJob, env: Record<string, string>): Promise<RankReport[]> {
  const port = await freePort();
  const moduleUrl = import.meta.url;
  const outputs = await Promise.all(
    Array.from({ length: ranks }, (_, rank) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', `await (await import(${JSON.stringify(moduleUrl)})).dataParallelRankFromEnv();`], {
          env: {
            ...process.env,
            ...env,
            SEQSAM_BENCH_DATA_PARALLEL: JSON.stringify(job),
            OMP_NUM_THREADS: String(job.threads),
            RANK: String(rank),
            LOCAL_RANK: String(rank),
            WORLD_SIZE: String(ranks),
            MASTER_ADDR: '127.0.0.1',
            MASTER_PORT: String(port),
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      }),
    ),
  );
  outputs.forEach((o, rank) => {
    if (o.code !== 0) throw new SeqsamError('ERR_DISTRIBUTED', `bench data-parallel: rank ${rank} of ${ranks} exited with code ${o.code}: ${o.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  });
  return outputs.map((o, rank) => {
    const line = o.stdout.split('\n').find((l) => l.startsWith(REPORT_PREFIX));
    if (!line) throw new SeqsamError('ERR_NATIVE', `bench data-parallel: rank ${rank} printed no report`);
    return JSON.parse(line.slice(REPORT_PREFIX.length)) as RankReport;
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/**
 * 1 rank × T threads against T ranks × 1 thread (overlapped, then reduced after backward), T = 2 or the
 * machine's hardware threads if fewer; `steps` timed steps after one warm-up step.
 */
export async function measureDataParallel({ steps = 10 }: { steps?: number } = {}): Promise<DataParallelRow[]> {
  const total = Math.min(2, availableParallelism());
  const configurations: { ranks: number; threads: number; overlap: boolean | null }[] = [{ ranks: 1, threads: total, overlap: null }];
  if (total > 1) configurations.push({ ranks: total, threads: 1, overlap: true }, { ranks: total, threads: 1, overlap: false });
  const rows: DataParallelRow[] = [];
  for (const c of configurations) {
    const env: Record<string, string> = c.overlap === null ? {} : { SEQSAM_DDP_OVERLAP: c.overlap ? '1' : '0' };
    const reports = await runConfiguration(c.ranks, { steps, threads: c.threads }, env);
    const report = reports[0];
    const timed = report.stepMs.slice(1);
    const seconds = timed.reduce((a, b) => a + b, 0) / 1000;
    const syncs = report.syncs.slice(1).filter((s): s is GradientSyncReport => s !== null);
    const waits = syncs.map((_, i) => reports.map((r) => r.syncs[i + 1]?.exposedMs ?? 0));
    const how = c.ranks === 1 ? `1 rank × ${c.threads} threads` : `${c.ranks} ranks × ${c.threads} thread, all-reduce ${c.overlap ? 'overlapped with backward' : 'after backward'}`;
    rows.push({
      name: `data-parallel SeqSAM train step, ViT-B dims, global batch ${GLOBAL_BATCH} M=${MASKS} K=${LABELS}, ${how}`,
      ranks: c.ranks,
      threadsPerRank: c.threads,
      overlap: c.overlap,
      imagesPerSecond: (GLOBAL_BATCH * timed.length) / seconds,
      msPerStep: median(timed),
      exposedWaitMs: syncs.length ? median(waits.map((w) => Math.min(...w))) : null,
      exposedWaitMaxMs: syncs.length ? median(waits.map((w) => Math.max(...w))) : null,
      buckets: syncs.length ? syncs[0].buckets : null,
      launchedDuringBackward: syncs.length ? median(syncs.map((s) => s.launchedDuringBackward)) : null,
      losses: report.losses,
    });
  }
  return rows;
}
