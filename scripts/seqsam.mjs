#!/usr/bin/env node
// The `seqsam` command. In a source checkout it first makes sure the build is current.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// Only a source checkout has lib/ (a published package ships dist/ and, maybe, a prebuilt binary).
if (existsSync(join(root, 'lib')) && !process.env.SEQSAM_NO_SETUP) {
  const setup = spawnSync(process.execPath, [join(root, 'scripts', 'setup.mjs'), '--quiet'], { stdio: 'inherit' });
  if (setup.status !== 0) process.exit(setup.status ?? 1);
}
const { main } = await import(pathToFileURL(join(root, 'dist', 'lib', 'cli', 'main.js')).href);
process.exitCode = await main(process.argv.slice(2));
