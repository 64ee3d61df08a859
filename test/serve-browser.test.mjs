// The page in a real browser: Debian's headless Chromium driven by playwright-core (which downloads
// nothing) opens the page, loads an image through the file picker, draws a box with the mouse, and the
// pixels of the M mask thumbnails and the disagreement map are checked. A screenshot goes to the test
// output (and, with SEQSAM_SCREENSHOT=docs/serve.png, to the README's picture).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';

import { diskPng, serveTiny } from './serve-fixtures.mjs';

const chromium = '/usr/bin/chromium';
const skip = existsSync(chromium) ? false : `${chromium} is missing (Debian package 'chromium'; 'node scripts/setup.mjs --test' installs it when run as root)`;

test('the page: open an image, draw a box, see M distinct masks and a disagreement map', { skip, timeout: 120_000 }, async (t) => {
  const { chromium: driver } = await import('playwright-core');
  const { url } = await serveTiny(t);
  const work = mkdtempSync(join(tmpdir(), 'seqsam-browser-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const imagePath = join(work, 'disk.png');
  writeFileSync(imagePath, await diskPng(320, 240));
  const context = await driver.launchPersistentContext(join(work, 'profile'), {
    executablePath: chromium,
    headless: true,
    viewport: { width: 1440, height: 860 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.after(() => context.close());
  const page = context.pages()[0] ?? (await context.newPage());
  // Nothing but the server on loopback: any other request would be a CDN or a leak.
  const elsewhere = [];
  page.on('request', (request) => {
    if (!request.url().startsWith(url) && !request.url().startsWith('data:')) elsewhere.push(request.url());
  });
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));

  await page.goto(`${url}/`);
  await page.setInputFiles('#file', imagePath);
  await page.waitForSelector('body[data-state="embedded"]', { timeout: 60_000 });
  const numMasks = Number(await page.inputValue('#num-masks'));

  const view = await page.locator('#view').boundingBox();
  // The disk sits at (0.45, 0.5) of the image with radius 0.28 of its height: a box around it.
  const at = (fx, fy) => [view.x + fx * view.width, view.y + fy * view.height];
  await page.mouse.move(...at(0.2, 0.18));
  await page.mouse.down();
  await page.mouse.move(...at(0.5, 0.5), { steps: 5 });
  await page.mouse.move(...at(0.7, 0.82), { steps: 5 });
  await page.mouse.up();
  await page.waitForSelector('body[data-state="ready"]', { timeout: 60_000 });

  const pixels = await page.evaluate(() => {
    const summary = (canvas) => {
      const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let hash = 0;
      const values = new Set();
      for (let i = 0; i < data.length; i += 4) {
        hash = (hash * 31 + data[i] * 7 + data[i + 1] * 3 + data[i + 2]) >>> 0;
        values.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
      }
      return { width: canvas.width, height: canvas.height, hash, colours: values.size };
    };
    return {
      thumbs: [...document.querySelectorAll('#thumbs canvas')].map(summary),
      mean: summary(document.getElementById('mean')),
      disagreement: summary(document.getElementById('disagreement')),
      status: document.getElementById('status').textContent,
    };
  });
  assert.equal(pixels.thumbs.length, numMasks, `${numMasks} thumbnails (${pixels.status})`);
  for (const thumb of pixels.thumbs) assert.deepEqual([thumb.width, thumb.height], [320, 240]);
  const distinct = new Set(pixels.thumbs.map((s) => s.hash)).size;
  assert.ok(distinct >= 2, `the ${numMasks} masks differ from each other (${distinct} distinct)`);
  assert.ok(pixels.disagreement.colours > 1, 'the disagreement map is not blank');
  assert.notEqual(pixels.disagreement.hash, pixels.mean.hash, 'the disagreement map differs from the mean map');
  assert.ok(!pixels.thumbs.some((s) => s.hash === pixels.disagreement.hash), 'the disagreement map differs from every mask');
  assert.deepEqual(elsewhere, [], 'the page loads nothing from elsewhere');
  assert.deepEqual(pageErrors, []);

  const shot = join(process.env.SEQSAM_TEST_OUTPUT ?? tmpdir(), 'seqsam-serve.png');
  await page.screenshot({ path: shot });
  t.diagnostic(`screenshot: ${shot}`);
  if (process.env.SEQSAM_SCREENSHOT) copyFileSync(shot, process.env.SEQSAM_SCREENSHOT);
});
