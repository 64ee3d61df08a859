// Shared by the serve tests: the tiny model behind a real server on a loopback port, a test image, and a
// JSON client.
import sharp from 'sharp';

import { SeqSam, tinyConfig } from '../dist/lib/index.js';
import { startServer } from '../dist/lib/serve/server.js';

// A bright disk on a darker, textured background: something a box can be drawn around.
export async function diskPng(width = 160, height = 120) {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inside = (x - width * 0.45) ** 2 + (y - height * 0.5) ** 2 < (Math.min(width, height) * 0.28) ** 2;
      const v = inside ? 200 + ((x * 7 + y * 3) % 40) : 30 + ((x * 13 + y * 5) % 50);
      data.set([v, inside ? v - 40 : v, inside ? 90 : v + 20], (y * width + x) * 3);
    }
  }
  return sharp(data, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

/** A server around the tiny model (random weights, seeded) on 127.0.0.1 and a free port; closed after the test file. */
export async function serveTiny(t, options = {}) {
  const model = await SeqSam.load({ config: tinyConfig, seed: 7 });
  const server = await startServer(model, { host: '127.0.0.1', port: 0, ...options });
  t.after(async () => {
    await server.close();
    model.dispose();
  });
  return server;
}

/** POSTs a body (an object as JSON, or a raw string) and returns { status, json }. */
export async function post(url, body, headers = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = { unparsed: text };
  }
  return { status: response.status, json };
}
