import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import zlib from 'node:zlib';

import sharp from 'sharp';

import { DataError, datasets, splitByGroup } from '../dist/lib/data/index.js';

const W = 6;
const H = 5;

let tmp;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'seqsam-folder-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const rejects = (promise, code, ...fragments) =>
  assert.rejects(promise, (e) => {
    assert.ok(e instanceof DataError, `expected DataError, got ${e}`);
    assert.equal(e.code, code, e.message);
    for (const f of fragments) assert.ok(e.message.includes(f), `message '${e.message}' should mention '${f}'`);
    return true;
  });

/** A PNG written from the spec (any bit depth 8/16, grey or RGB), independent of sharp's encoder. */
function png(width, height, channels, depth, values) {
  const colorType = { 1: 0, 2: 4, 3: 2, 4: 6 }[channels];
  const bpp = (channels * depth) / 8;
  const rows = [];
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * bpp);
    for (let i = 0; i < width * channels; i++) {
      const v = values[y * width * channels + i];
      if (depth === 16) row.writeUInt16BE(v, 1 + 2 * i);
      else row[1 + i] = v;
    }
    rows.push(row);
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = depth;
  ihdr[9] = colorType;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const grey = (values, w = W, h = H) => sharp(Buffer.from(values), { raw: { width: w, height: h, channels: 1 } }).toColourspace('b-w');

function mask(seed) {
  return Uint8Array.from({ length: W * H }, (_, i) => ((i * 7 + seed * 3) % 5 < 2 ? 1 : 0));
}

async function write(path, bytes) {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, bytes);
}

describe('folder round trip', () => {
  let dir;
  const masks = { a: [mask(1), mask(2), mask(3)], b: [mask(4), null, mask(6)], c: [mask(7), mask(8), mask(9)] };
  const imageA = Uint8Array.from({ length: W * H }, (_, i) => (i * 37) % 256);
  const imageC = Array.from({ length: W * H }, (_, i) => i * 2000 + 7);

  before(async () => {
    dir = join(tmp, 'ds');
    await write(join(dir, 'images', 'a.png'), await grey(imageA).png().toBuffer());
    await write(join(dir, 'images', 'b.jpg'), await sharp({ create: { width: W, height: H, channels: 3, background: '#336699' } }).jpeg().toBuffer());
    await write(join(dir, 'images', 'c.png'), png(W, H, 1, 16, imageC));
    for (const id of ['a', 'b', 'c']) {
      const [m1, m2, m10] = masks[id];
      // rater r1: 0/255 grey PNG
      await write(join(dir, 'labels', 'r1', `${id}.png`), await grey(m1.map((v) => v * 255)).png().toBuffer());
      // rater r2: masks stored as 0/1 (b has no file: a blank label)
      if (m2) await write(join(dir, 'labels', 'r2', `${id}.png`), await grey(m2).png().toBuffer());
      // rater r10: 1-bit palette PNG
      await write(join(dir, 'labels', 'r10', `${id}.png`), await grey(m10.map((v) => v * 255)).png({ palette: true, colours: 2 }).toBuffer());
    }
  });

  test('images, raters (natural order) and masks come back exactly', async () => {
    const ds = await datasets.folder(dir);
    assert.equal(ds.length, 3);
    assert.equal(ds.raters, 3);
    assert.deepEqual(ds.raterNames, ['r1', 'r2', 'r10']);
    assert.deepEqual(ds.ids, ['a', 'b', 'c']);
    assert.deepEqual(ds.groups, ['a', 'b', 'c']);
    for (let i = 0; i < ds.length; i++) {
      const s = await ds.get(i);
      assert.equal(s.group, s.id);
      assert.equal(s.image.width, W);
      assert.equal(s.image.height, H);
      assert.equal(s.labels.length, 3);
      masks[s.id].forEach((m, k) => {
        assert.deepEqual([...s.labels[k]], m ? [...m] : new Array(W * H).fill(0), `${s.id} rater ${k}`);
      });
    }
    const a = await ds.get(0);
    assert.equal(a.image.channels, 1);
    assert.ok(a.image.data instanceof Uint8Array);
    assert.deepEqual([...a.image.data], [...imageA]);
    const b = await ds.get(1);
    assert.equal(b.image.channels, 3);
    const c = await ds.get(2);
    assert.ok(c.image.data instanceof Uint16Array);
    assert.equal(c.image.channels, 1);
    assert.deepEqual([...c.image.data], imageC);
  });

  test('a missing rater file is a blank label', async () => {
    const ds = await datasets.folder(dir);
    const b = await ds.get(ds.ids.indexOf('b'));
    assert.equal(b.labels[1].length, W * H);
    assert.ok(b.labels[1].every((v) => v === 0));
  });

  test('groups.json sets the groups used by splitByGroup', async () => {
    await writeFile(join(dir, 'groups.json'), JSON.stringify({ a: 'p1', b: 'p1', c: 'p2' }));
    try {
      const ds = await datasets.folder(dir);
      assert.deepEqual(ds.groups, ['p1', 'p1', 'p2']);
      assert.equal((await ds.get(1)).group, 'p1');
      const split = splitByGroup(ds, { fractions: [0.5, 0.5, 0], seed: 1 });
      const where = (i) => Object.entries(split).find(([, idx]) => idx.includes(i))[0];
      assert.equal(where(0), where(1));
      await writeFile(join(dir, 'groups.json'), JSON.stringify({ a: 'p1', b: 'p1' }));
      await rejects(datasets.folder(dir), 'ERR_DATA', 'groups.json', "'c'");
      await writeFile(join(dir, 'groups.json'), '{not json');
      await rejects(datasets.folder(dir), 'ERR_DATA', 'groups.json');
    } finally {
      await rm(join(dir, 'groups.json'), { force: true });
    }
  });
});

describe('folder rejects bad input', () => {
  test('a missing folder is ERR_IO naming it', async () => {
    const p = join(tmp, 'missing');
    await rejects(datasets.folder(p), 'ERR_IO', p);
    const noLabels = join(tmp, 'nolabels');
    await write(join(noLabels, 'images', 'a.png'), await grey(new Uint8Array(W * H)).png().toBuffer());
    await rejects(datasets.folder(noLabels), 'ERR_IO', join(noLabels, 'labels'));
  });

  test('a label of the wrong size, a label without image and an undecodable file are ERR_DATA naming the file', async () => {
    const d = join(tmp, 'bad');
    await write(join(d, 'images', 'a.png'), await grey(new Uint8Array(W * H)).png().toBuffer());
    const label = join(d, 'labels', 'r1', 'a.png');
    await write(label, await grey(new Uint8Array(4 * 4), 4, 4).png().toBuffer());
    const ds = await datasets.folder(d);
    await rejects(ds.get(0), 'ERR_DATA', label, '4×4');

    await writeFile(label, 'not a png at all');
    await rejects(ds.get(0), 'ERR_DATA', label);

    const orphan = join(d, 'labels', 'r1', 'zzz.png');
    await writeFile(orphan, await grey(new Uint8Array(W * H)).png().toBuffer());
    await rejects(datasets.folder(d), 'ERR_DATA', orphan, "'zzz'");
    await rm(orphan);

    await writeFile(join(d, 'images', 'a.png'), 'garbage');
    await rejects(ds.get(0), 'ERR_DATA', join(d, 'images', 'a.png'));
    await rejects(ds.get(5), 'ERR_ARGUMENT', 'index 5');
  });
});
