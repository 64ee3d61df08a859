#!/usr/bin/env node
// Builds the addon with node-gyp from binding.gyp, in a scratch copy (node-gyp owns build/, where the
// cmake-js build lives), then loads it and asks for its runtime info: proof the second build path works.
//   node scripts/check-gyp-build.mjs [--keep]
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(join(tmpdir(), 'seqsam-gyp-'));
try {
  for (const entry of ['binding.gyp', 'native', 'scripts', 'package.json']) cpSync(join(root, entry), join(work, entry), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(work, 'node_modules'));
  const nodeGyp = join(dirname(createRequire(join(root, 'package.json')).resolve('node-gyp/package.json')), 'bin', 'node-gyp.js');
  // Node's own headers when they sit beside this node binary (as npm is set up to use them here);
  // otherwise node-gyp downloads them.
  const prefix = dirname(dirname(process.execPath));
  const nodedir = process.env.npm_config_nodedir || (existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : null);
  const started = Date.now();
  const gypArgs = ['rebuild', `-j${availableParallelism()}`, ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
  const build = spawnSync(process.execPath, [nodeGyp, ...gypArgs], { cwd: work, stdio: 'inherit' });
  if (build.status !== 0) throw new Error(`node-gyp rebuild failed (exit ${build.status})`);
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  const addon = createRequire(import.meta.url)(join(work, 'build', 'Release', 'seqsam.node'));
  const info = addon.runtimeInfo();
  process.stdout.write(`node-gyp build: ok in ${seconds} s (LibTorch ${info.torchVersion}, ${info.threads} threads)\n`);
} finally {
  if (!process.argv.includes('--keep')) rmSync(work, { recursive: true, force: true });
}
