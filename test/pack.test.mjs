// The published package works where no compiler is: `npm pack`, install the tarball offline into an
// empty project with cmake, make and the C++ compilers out of PATH, then predict through the package.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function which(name) {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

// A folder with no node_modules above it: the installed package must resolve only what it installed.
function isolatedTemp() {
  for (const base of [tmpdir(), '/var/tmp', root]) {
    let dir = base;
    let clean = true;
    while (true) {
      if (existsSync(join(dir, 'node_modules')) && dir !== root) clean = false;
      const up = dirname(dir);
      if (up === dir) break;
      dir = up;
    }
    if (clean && base !== root) return mkdtempSync(join(base, 'seqsam-pack-'));
  }
  throw new Error('no temp folder without a node_modules above it');
}

function run(command, args, options) {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 180_000, ...options });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

// Packing and installing need npm; a machine with only a Node binary cannot run this test.
const npm = which('npm');
const noNpm = npm ? false : 'npm is not on PATH (only a Node binary here): nothing to pack and install with';

const predictScript = `
import { SeqSam, tinyConfig, info } from 'seqsam';
const model = await SeqSam.load({ config: tinyConfig, seed: 1 });
const width = 64, height = 48;
const data = new Uint8Array(width * height * 3).map((_, i) => (i * 7) % 251);
const embedding = await model.embed({ data, width, height, channels: 3 });
const out = await model.predict(embedding, { box: [4, 4, 40, 30], numMasks: 3 });
const masks = await out.masks.toTypedArray();
console.log(JSON.stringify({ shape: out.masks.shape, finite: masks.every(Number.isFinite), binary: info().binary }));
`;

test('npm pack → offline install without build tools → predict', { timeout: 240_000, skip: noNpm }, (t) => {
  const work = isolatedTemp();
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const started = Date.now();

  // The prebuilt binary of the current build, as `npm run prebuild` makes it.
  run(process.execPath, [join(root, 'scripts', 'prebuild.mjs'), '--no-build'], { cwd: root });
  run('npm', ['pack', '--ignore-scripts', '--pack-destination', work], { cwd: root });
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
  assert.ok(tarball, 'npm pack wrote a tarball');

  // PATH holds node, npm and a shell, nothing to compile with.
  const bin = join(work, 'bin');
  mkdirSync(bin);
  for (const tool of ['node', 'npm', 'npx', 'sh', 'dpkg-query']) {
    const path = tool === 'node' ? process.execPath : which(tool);
    if (path) symlinkSync(path, join(bin, tool));
  }
  const home = process.env.HOME ?? homedir();
  const env = { HOME: home, PATH: bin, SEQSAM_NO_BUILD: '1', npm_config_cache: process.env.npm_config_cache ?? join(home, '.npm') };
  for (const tool of ['cmake', 'make', 'g++', 'c++', 'cc', 'gcc', 'clang++']) {
    assert.notEqual(spawnSync('sh', ['-c', `command -v ${tool}`], { env }).status, 0, `${tool} is out of reach`);
  }

  const project = join(work, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
  const install = ['install', '--no-audit', '--no-fund', join(work, tarball)];
  let r = spawnSync('npm', [...install, '--offline'], { cwd: project, env, encoding: 'utf8', timeout: 180_000 });
  // A dependency missing from the npm cache is not what this test is about: fetch it then.
  if (r.status !== 0 && /ENOTCACHED/.test(`${r.stdout}${r.stderr}`)) r = spawnSync('npm', [...install, '--prefer-offline'], { cwd: project, env, encoding: 'utf8', timeout: 180_000 });
  assert.equal(r.status, 0, `npm install failed:\n${r.stdout}\n${r.stderr}`);
  const installed = join(project, 'node_modules', 'seqsam');
  assert.ok(!existsSync(join(installed, 'build')), 'the install did not build the addon');
  const installSeconds = (Date.now() - started) / 1000;

  writeFileSync(join(project, 'predict.mjs'), predictScript);
  const out = run(process.execPath, ['predict.mjs'], { cwd: project, env });
  const result = JSON.parse(out.stdout.trim().split('\n').at(-1));
  assert.deepEqual(result.shape, [1, 3, 48, 64]);
  assert.equal(result.finite, true);
  assert.match(result.binary, new RegExp(`node_modules/seqsam/prebuilds/${process.platform}-${process.arch}-torch[\\d.]+-(cpu|cuda\\d*)/seqsam\\.node$`));

  // The command line works there too, without trying to set up a build.
  const cli = run(join(bin, 'npx'), ['--offline', 'seqsam', 'info'], { cwd: project, env });
  assert.match(`${cli.stdout}${cli.stderr}`, /prebuilds/);
  t.diagnostic(`pack + offline install: ${installSeconds.toFixed(1)} s; total ${((Date.now() - started) / 1000).toFixed(1)} s`);
});
