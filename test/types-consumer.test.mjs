// The published declarations compile in a fresh strict NodeNext project on the default libraries for
// Node.js 20 (ES2023), with neither @types/node nor the DOM library: dist/ is copied into the project's
// node_modules as the package ships it, and a consumer file is type-checked with the repository's tsc.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { tempDir } from './helpers.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

const consumer = `
import { Sam, SeqSam, Tensor, tinyConfig, data, train, metrics, checkpoint, SeqsamError, type ImageInput, type FileUrl } from 'seqsam';

const controller: { signal: { aborted: boolean; reason?: unknown } } = { signal: { aborted: false } };
const model: SeqSam = await SeqSam.load({ config: tinyConfig, training: { numMasks: 4 } });
{
  using t = Tensor.from(new Float32Array(4), [2, 2]);
  const shape: number[] = t.shape;
  void shape;
}
const image: ImageInput = new Uint8Array(8);
const root: FileUrl = { href: 'file:///data/', protocol: 'file:' };
const dataset = data.datasets.synthetic({ count: 8, size: 32 });
const result = await train.train({ model, dataset, epochs: 1, batchSize: 2, signal: controller.signal, progressBar: false });
const evaluation = await train.evaluate(model, dataset, { numMasks: 4 });
export const used = [result.steps, metrics.format(evaluation), image, root, Sam, checkpoint, SeqsamError];
model[Symbol.dispose]();
`;

test('the .d.ts files type-check in a strict NodeNext project without @types/node', (t) => {
  const dir = tempDir(t, 'seqsam-types-');
  const pkg = join(dir, 'node_modules', 'seqsam');
  mkdirSync(pkg, { recursive: true });
  cpSync(join(root, 'dist', 'lib'), join(pkg, 'dist', 'lib'), { recursive: true, filter: (src) => !src.endsWith('.js.map') });
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: manifest.name, version: manifest.version, type: manifest.type, main: manifest.main, types: manifest.types, exports: manifest.exports }));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', lib: ['ES2023'], types: [], noEmit: true, skipLibCheck: false },
      files: ['consumer.ts'],
    }),
  );
  writeFileSync(join(dir, 'consumer.ts'), consumer);
  const r = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
});
