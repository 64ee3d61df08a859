// The numbers behind `seqsam bench --case stream`: a stream of 64 requests through predictStream against
// the same requests one by one (embed, then predict, each awaited), on the tiny model.
import { tinyConfig } from '../config.js';
import type { RawPixels } from '../image-input.js';
import { SeqSam } from '../seqsam.js';
import type { StreamRequest } from './types.js';

export interface StreamBenchRow {
  name: string;
  // requests answered per second over the whole run
  requestsPerSecond: number;
  // median and 99th percentile of each request's time from being asked to being answered (ms)
  p50Ms: number;
  p99Ms: number;
}

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function syntheticImage(seed: number, side: number): RawPixels {
  const data = new Uint8Array(side * side * 3);
  let state = seed * 2654435761;
  for (let i = 0; i < data.length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    data[i] = state >>> 24;
  }
  return { data, width: side, height: side, channels: 3 };
}

function requestsFor(count: number, distinctImages: number, side: number): StreamRequest[] {
  const images = Array.from({ length: distinctImages }, (_, i) => syntheticImage(i + 1, side));
  return Array.from({ length: count }, (_, i) => ({ image: images[i % distinctImages], box: [10 + (i % 7) * 5, 12, side - 20, side - 10 - (i % 5) * 4], numMasks: 4 }));
}

async function oneByOne(model: SeqSam, requests: StreamRequest[]): Promise<{ seconds: number; latencies: number[] }> {
  const latencies: number[] = [];
  const started = performance.now();
  for (const { image, ...prompt } of requests) {
    const asked = performance.now();
    const embedding = await model.embed(image);
    (await model.predict(embedding, prompt)).dispose();
    embedding.dispose();
    latencies.push(performance.now() - asked);
  }
  return { seconds: (performance.now() - started) / 1000, latencies };
}

async function streamed(model: SeqSam, requests: StreamRequest[], batchSize: number): Promise<{ seconds: number; latencies: number[] }> {
  const latencies: number[] = [];
  const started = performance.now();
  for await (const out of model.predictStream(requests, { batchSize, maxDelayMs: 5 })) {
    if ('error' in out) throw out.error;
    latencies.push(out.latencyMs);
    out.dispose();
  }
  return { seconds: (performance.now() - started) / 1000, latencies };
}

function row(name: string, run: { seconds: number; latencies: number[] }, count: number): StreamBenchRow {
  const sorted = [...run.latencies].sort((a, b) => a - b);
  return { name, requestsPerSecond: count / run.seconds, p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99) };
}

function median(rows: StreamBenchRow[]): StreamBenchRow {
  return [...rows].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond)[Math.floor(rows.length / 2)];
}

/** 64 requests (on 16 images, and on 64 distinct ones) one by one and through predictStream. */
export async function measureStream(
  options: { count?: number; side?: number; batchSize?: number; device?: string; repeats?: number } = {},
): Promise<StreamBenchRow[]> {
  const { count = 64, side = 256, batchSize = 8, device = 'cpu', repeats = 3 } = options;
  const model = await SeqSam.load({ config: tinyConfig, seed: 0, device });
  try {
    const rows: StreamBenchRow[] = [];
    for (const distinct of [16, count]) {
      const requests = requestsFor(count, distinct, side);
      await oneByOne(model, requests.slice(0, 2)); // warm-up
      const label = `${count} requests on ${distinct} images ${side}²`;
      // Alternating runs, the median kept: a machine busy with other work slows both alike.
      const single: StreamBenchRow[] = [];
      const stream: StreamBenchRow[] = [];
      for (let r = 0; r < repeats; r++) {
        single.push(row(`${label}, one-by-one embed + predict`, await oneByOne(model, requests), count));
        stream.push(row(`${label}, predictStream batch ${batchSize}`, await streamed(model, requests, batchSize), count));
      }
      rows.push(median(single), median(stream));
    }
    return rows;
  } finally {
    model.dispose();
  }
}
