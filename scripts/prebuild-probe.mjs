#!/usr/bin/env node
// Picks the prebuilt binary for the LibTorch found here. Each candidate whose metadata fits is loaded in
// a child process first: a binary that crashes while loading (a LibTorch ABI mismatch can do that in a
// static initialiser) takes down the child, not the caller.
//   node scripts/prebuild-probe.mjs                 JSON report: { torch, tried: [...], chosen }
//   node scripts/prebuild-probe.mjs --load-test F   loads F, runs a tensor round trip, prints runtimeInfo
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describeTorch, findTorchCmakeDir } from './torch-config.mjs';
import { fileStamp, listPrebuilds, mismatch } from './prebuild-variant.mjs';

const here = fileURLToPath(import.meta.url);
const root = resolve(dirname(here), '..');
const loadTimeoutMs = 120_000;

function loadTest(binary) {
  const addon = createRequire(here)(binary);
  const t = addon.tensorFromTypedArray(new Float32Array([1, 2, 3, 4]), [2, 2], 'float32', 'cpu');
  if (t.shape.join() !== '2,2') throw new Error(`tensor round trip gave shape [${t.shape}]`);
  t.dispose();
  return addon.runtimeInfo();
}

function signalName(result) {
  if (result.error?.code === 'ETIMEDOUT') return `did not finish loading within ${loadTimeoutMs / 1000} s`;
  if (result.signal) return `crashed while loading (${result.signal})`;
  const lines = `${result.stderr ?? ''}`.trim().split('\n').filter(Boolean);
  const line = lines.find((l) => /Error|error:|cannot|undefined symbol/.test(l)) ?? lines.at(-1) ?? `exit status ${result.status}`;
  return line.replace(/^\w*Error: /, '');
}

// Loads `binary` in a child process; { ok, runtime } or { ok: false, reason }.
export function testLoad(binary) {
  const result = spawnSync(process.execPath, [here, '--load-test', binary], { encoding: 'utf8', timeout: loadTimeoutMs });
  if (result.status === 0) {
    try {
      return { ok: true, runtime: JSON.parse(result.stdout) };
    } catch {
      // fall through: unparseable output counts as a failure
    }
  }
  return { ok: false, reason: signalName(result) };
}

export function probe(packageRoot = root) {
  const found = findTorchCmakeDir();
  const torch = found ? { ...describeTorch(found), stamp: null } : null;
  if (torch) torch.stamp = fileStamp(torch.versionFile);
  const tried = [];
  let chosen = null;
  for (const p of listPrebuilds(packageRoot)) {
    const entry = { name: p.name, binary: p.binary, stamp: fileStamp(p.binary), sourceHash: p.metadata?.sourceHash ?? null };
    tried.push(entry);
    if (chosen) {
      entry.reason = 'not needed (an earlier one loaded)';
      continue;
    }
    const why = mismatch(p.metadata, torch);
    if (why) {
      entry.reason = why;
      continue;
    }
    const verdict = testLoad(p.binary);
    entry.ok = verdict.ok;
    if (verdict.ok) {
      const { torchVersion, builtWithCuda, cuda, cxx11Abi } = verdict.runtime;
      entry.runtime = { torchVersion, builtWithCuda, cuda, cxx11Abi };
      chosen = p.binary;
    } else {
      entry.reason = verdict.reason;
    }
  }
  return { torch, tried, chosen };
}

if (process.argv[1] && resolve(process.argv[1]) === here) {
  const args = process.argv.slice(2);
  if (args[0] === '--load-test') {
    process.stdout.write(JSON.stringify(loadTest(resolve(args[1]))));
  } else {
    process.stdout.write(`${JSON.stringify(probe(args[0] === '--root' ? resolve(args[1]) : root), null, 2)}\n`);
  }
}
