// `seqsam serve`'s HTTP API against a real server on a loopback port: embed, predict (PNG and run-length
// masks), health, OpenAPI, every kind of bad request answered 4xx with a coded message (the server still
// answering afterwards), the token rule, and the command line's refusals.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import test from 'node:test';

import sharp from 'sharp';

import { SeqSam, tinyConfig } from '../dist/lib/index.js';
import { startServer } from '../dist/lib/serve/server.js';
import { diskPng, post, serveTiny } from './serve-fixtures.mjs';

const png = await diskPng();

test('embed once, then predict with a box or points: M masks, mean and disagreement maps', async (t) => {
  const { url } = await serveTiny(t);
  const embedded = await post(`${url}/v1/embed`, { image: png.toString('base64') });
  assert.equal(embedded.status, 200, JSON.stringify(embedded.json));
  assert.match(embedded.json.id, /^[0-9a-f]{64}$/);
  assert.deepEqual([embedded.json.width, embedded.json.height, embedded.json.cached], [160, 120, false]);
  const again = await post(`${url}/v1/embed`, { image: `data:image/png;base64,${png.toString('base64')}` });
  assert.equal(again.json.id, embedded.json.id, 'the same image gets the same id');
  assert.equal(again.json.cached, true);

  const { id } = embedded.json;
  const byBox = await post(`${url}/v1/predict`, { id, box: [30, 20, 120, 100], numMasks: 5 });
  assert.equal(byBox.status, 200, JSON.stringify(byBox.json));
  assert.equal(byBox.json.numMasks, 5);
  assert.equal(byBox.json.masks.length, 5);
  assert.equal(byBox.json.iou.length, 5);
  for (const field of [...byBox.json.masks, byBox.json.mean, byBox.json.disagreement]) {
    const meta = await sharp(Buffer.from(field, 'base64')).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', 160, 120]);
  }
  const rle = await post(`${url}/v1/predict`, { id, points: [[70, 60], [10, 10]], pointLabels: [1, 0], numMasks: 3, format: 'rle' });
  assert.equal(rle.status, 200, JSON.stringify(rle.json));
  for (const [m, mask] of rle.json.masks.entries()) {
    assert.deepEqual(mask.size, [120, 160]);
    assert.equal(mask.counts.reduce((a, b) => a + b, 0), 160 * 120, 'runs cover the image');
    const foreground = mask.counts.filter((_, i) => i % 2 === 1).reduce((a, b) => a + b, 0);
    assert.equal(foreground, rle.json.areas[m], 'odd runs are the mask');
  }
  const health = await (await fetch(`${url}/healthz`)).json();
  assert.equal(health.ok, true);
  assert.equal(health.cachedEmbeddings, 1);
});

test('every bad request answers 4xx with a coded { code, message }, and the server keeps answering', async (t) => {
  const { url } = await serveTiny(t, { limits: { imageSide: 1000, bodyBytes: 2 * 2 ** 20, timeoutMs: 20_000 } });
  const { json: { id } } = await post(`${url}/v1/embed`, { image: png.toString('base64') });
  const huge = await sharp({ create: { width: 1200, height: 40, channels: 3, background: '#808080' } }).png().toBuffer();
  const tiff = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).tiff().toBuffer();
  const cases = [
    ['malformed JSON', '/v1/predict', '{"id": "', 400, /JSON/],
    ['NaN in the JSON', '/v1/predict', `{"id":"${id}","box":[1,2,NaN,4]}`, 400, /JSON/],
    ['a string where a number goes', '/v1/predict', { id, box: [1, 2, '3', 4] }, 400, /box\[2\] must be number/],
    ['a box of three numbers', '/v1/predict', { id, box: [1, 2, 3] }, 400, /box must NOT have fewer than 4/],
    ['an unknown field', '/v1/predict', { id, box: [1, 2, 3, 4], colour: 'red' }, 400, /colour is not a field/],
    ['no prompt', '/v1/predict', { id }, 400, /box and\/or points/],
    ['a box outside the image', '/v1/predict', { id, box: [10, 10, 500, 50] }, 400, /outside the 160×120 image/],
    ['a box with x1 < x0', '/v1/predict', { id, box: [100, 10, 50, 50] }, 400, /x1 < x0/],
    ['a point outside the image', '/v1/predict', { id, points: [[-5, 10]] }, 400, /outside/],
    ['M above 64', '/v1/predict', { id, box: [1, 1, 50, 50], numMasks: 65 }, 400, /numMasks must be <= 64/],
    ['M of 0', '/v1/predict', { id, box: [1, 1, 50, 50], numMasks: 0 }, 400, /numMasks must be >= 1/],
    ['too many points', '/v1/predict', { id, points: Array.from({ length: 33 }, () => [5, 5]) }, 400, /points must NOT have more than 32/],
    ['labels without points', '/v1/predict', { id, box: [1, 1, 9, 9], pointLabels: [1] }, 400, /pointLabels given without points/],
    ['a wrong label', '/v1/predict', { id, points: [[5, 5]], pointLabels: [2] }, 400, /pointLabels\[0\] must be equal to one of/],
    ['an unknown id', '/v1/predict', { id: 'f'.repeat(64), box: [1, 1, 9, 9] }, 404, /not \(or no longer\) embedded/],
    ['a malformed id', '/v1/predict', { id: '../../etc/passwd', box: [1, 1, 9, 9] }, 400, /id must match pattern/],
    ['a wrong format', '/v1/predict', { id, box: [1, 1, 9, 9], format: 'gif' }, 400, /format must be equal to one of/],
    ['not base64', '/v1/embed', { image: 'this is not base64!' }, 400, /base64/],
    ['undecodable bytes', '/v1/embed', { image: Buffer.from('hello, not an image').toString('base64') }, 400, /cannot decode/],
    ['a TIFF', '/v1/embed', { image: tiff.toString('base64') }, 400, /PNG or JPEG/],
    ['an image too large', '/v1/embed', { image: huge.toString('base64') }, 413, /at most 1000 pixels a side/],
    ['a body too large', '/v1/embed', { image: 'A'.repeat(3 * 2 ** 20) }, 413, /too large/i],
    ['an image of the wrong type', '/v1/embed', { image: 42 }, 400, /image must be string/],
    ['a JSON array body', '/v1/embed', '[1, 2]', 400, /body must be object/],
  ];
  for (const [name, path, body, status, message] of cases) {
    const answer = await post(`${url}${path}`, body);
    assert.equal(answer.status, status, `${name}: ${JSON.stringify(answer.json)}`);
    assert.match(answer.json.code ?? '', /^ERR_[A-Z_]+$/, `${name}: a package error code`);
    assert.match(answer.json.message ?? '', message, `${name}: ${answer.json.message}`);
  }
  const wrongType = await fetch(`${url}/v1/embed`, { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<x/>' });
  assert.equal(wrongType.status, 415);
  assert.equal((await wrongType.json()).code, 'ERR_ARGUMENT');
  const missing = await fetch(`${url}/v1/nothing`);
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).code, 'ERR_ARGUMENT');
  const fine = await post(`${url}/v1/predict`, { id, box: [30, 20, 120, 100], numMasks: 2 });
  assert.equal(fine.status, 200, 'the server still answers after all of that');
});

test('a request over the time limit answers 503 ERR_ABORTED; the server goes on', async (t) => {
  const { url } = await serveTiny(t, { limits: { timeoutMs: 1 } });
  const big = await sharp({ create: { width: 900, height: 900, channels: 3, background: '#406080' } }).png().toBuffer();
  const slow = await post(`${url}/v1/embed`, { image: big.toString('base64') });
  assert.equal(slow.status, 503, JSON.stringify(slow.json));
  assert.equal(slow.json.code, 'ERR_ABORTED');
  assert.equal((await fetch(`${url}/healthz`)).status, 200);
});

test('with a token every API request needs the bearer header; the page files load without it', async (t) => {
  const token = 'a-long-enough-test-token-123';
  const { url } = await serveTiny(t, { token });
  for (const headers of [{}, { authorization: 'Bearer wrong-token-of-some-length' }, { authorization: token }]) {
    const answer = await post(`${url}/v1/embed`, { image: png.toString('base64') }, headers);
    assert.equal(answer.status, 401);
    assert.equal(answer.json.code, 'ERR_ARGUMENT');
  }
  assert.equal((await fetch(`${url}/healthz`)).status, 401);
  assert.equal((await fetch(`${url}/openapi.json`)).status, 401);
  const ok = await post(`${url}/v1/embed`, { image: png.toString('base64') }, { authorization: `Bearer ${token}` });
  assert.equal(ok.status, 200);
  const page = await fetch(`${url}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-security-policy'), /default-src 'self'/);
  assert.equal((await fetch(`${url}/page/page.js`)).status, 200);
});

test('a non-loopback host is refused without a token, in the library and on the command line', async () => {
  const model = await SeqSam.load({ config: tinyConfig });
  try {
    await assert.rejects(startServer(model, { host: '0.0.0.0', port: 0 }), (e) => e.code === 'ERR_ARGUMENT' && /--token/.test(e.message));
    await assert.rejects(startServer(model, { host: '127.0.0.1', port: 0, token: 'short' }), (e) => e.code === 'ERR_ARGUMENT' && /16 characters/.test(e.message));
  } finally {
    model.dispose();
  }
  const cli = spawnSync(process.execPath, ['scripts/seqsam.mjs', 'serve', '--random-weights', '--host', '0.0.0.0', '--port', '0'], { encoding: 'utf8', env: { ...process.env, SEQSAM_TOKEN: '' } });
  assert.equal(cli.status, 2, cli.stderr);
  assert.match(cli.stderr, /ERR_ARGUMENT.*--token/);
  const noWeights = spawnSync(process.execPath, ['scripts/seqsam.mjs', 'serve', '--port', '0'], { encoding: 'utf8' });
  assert.equal(noWeights.status, 2, noWeights.stderr);
  assert.match(noWeights.stderr, /--random-weights/);
});

test('GET /openapi.json describes the API from the route schemas', async (t) => {
  const { url } = await serveTiny(t);
  const spec = await (await fetch(`${url}/openapi.json`)).json();
  assert.match(spec.openapi, /^3\./);
  assert.deepEqual(Object.keys(spec.paths).sort(), ['/healthz', '/v1/embed', '/v1/predict']);
  const body = spec.paths['/v1/predict'].post.requestBody.content['application/json'].schema;
  assert.equal(body.properties.numMasks.maximum, 64);
  assert.deepEqual(body.properties.format.enum, ['png', 'rle']);
});
