// Load on loopback: 200 requests from 20 concurrent clients (predictions on one embedded image, a few
// embeds, bad requests mixed in), bounded in count and time. The good requests all succeed, the bad ones
// all answer 4xx, and p50/p99 latency and RSS before/after are reported.
import assert from 'node:assert/strict';
import test from 'node:test';

import { diskPng, post, serveTiny } from './serve-fixtures.mjs';

const percentile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

test('200 requests from 20 concurrent clients, bad ones mixed in: no errors for the good ones', { timeout: 240_000 }, async (t) => {
  const { url } = await serveTiny(t);
  const png = (await diskPng()).toString('base64');
  const { json: { id } } = await post(`${url}/v1/embed`, { image: png });
  const requests = Array.from({ length: 200 }, (_, i) => {
    if (i % 10 === 3) return { path: '/v1/predict', body: { id, box: [10, 10, 999, 50] }, bad: true }; // outside the image
    if (i % 10 === 7) return { path: '/v1/predict', body: '{"id":', bad: true }; // malformed JSON
    if (i % 25 === 11) return { path: '/v1/embed', body: { image: 'bm90IGFuIGltYWdl' }, bad: true }; // undecodable
    if (i % 20 === 5) return { path: '/v1/embed', body: { image: png } };
    return { path: '/v1/predict', body: { id, box: [20 + (i % 30), 15, 120, 100], numMasks: 1 + (i % 6), format: i % 2 ? 'png' : 'rle' } };
  });
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  const latencies = [];
  const failures = [];
  let next = 0;
  const started = performance.now();
  async function client() {
    while (next < requests.length) {
      const request = requests[next++];
      const asked = performance.now();
      const answer = await post(`${url}${request.path}`, request.body);
      const ms = performance.now() - asked;
      if (request.bad) {
        if (!(answer.status >= 400 && answer.status < 500 && /^ERR_/.test(answer.json.code))) failures.push(`bad request answered ${answer.status}`);
      } else {
        latencies.push(ms);
        if (answer.status !== 200) failures.push(`good request answered ${answer.status}: ${JSON.stringify(answer.json).slice(0, 200)}`);
      }
    }
  }
  await Promise.all(Array.from({ length: 20 }, client));
  const seconds = (performance.now() - started) / 1000;
  global.gc?.();
  const rssAfter = process.memoryUsage().rss;
  latencies.sort((a, b) => a - b);
  t.diagnostic(`${requests.length} requests (${latencies.length} good) from 20 clients in ${seconds.toFixed(1)} s (${(requests.length / seconds).toFixed(0)} requests/s); good: p50 ${percentile(latencies, 0.5).toFixed(0)} ms, p99 ${percentile(latencies, 0.99).toFixed(0)} ms`);
  t.diagnostic(`RSS before ${(rssBefore / 2 ** 20).toFixed(0)} MiB, after ${(rssAfter / 2 ** 20).toFixed(0)} MiB`);
  assert.deepEqual(failures, []);
  assert.equal((await fetch(`${url}/healthz`)).status, 200);
  assert.ok(rssAfter - rssBefore < 512 * 2 ** 20, `RSS grew by ${((rssAfter - rssBefore) / 2 ** 20).toFixed(0)} MiB`);
});
