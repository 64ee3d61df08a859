// Chooses a prebuilt binary for the LibTorch on this machine. The work (LibTorch discovery, metadata
// matching, a test load in a child process) is done by scripts/prebuild-probe.mjs, the same code the
// install step uses; its verdict is cached per binary (size + mtime) and per LibTorch, so only the
// first load after an install or an upgrade pays for the child process.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TorchFound {
  source: string;
  cmakeDir: string;
  versionFile: string;
  version: string | null;
  cuda: boolean;
  cudaVersion: string | null;
  cxx11Abi: boolean | null;
  libDir: string | null;
  stamp: string | null;
}

export interface PrebuildAttempt {
  name: string;
  binary: string;
  ok?: boolean;
  reason?: string;
}

export interface ProbeReport {
  torch: TorchFound | null;
  tried: PrebuildAttempt[];
  chosen: string | null;
  // Set when the probe itself could not run.
  error?: string;
}

function stamp(path: string): string {
  try {
    const s = statSync(path);
    return `${s.size}:${Math.round(s.mtimeMs)}`;
  } catch {
    return 'missing';
  }
}

// Everything a verdict depends on: the prebuilds' files, this Node, and where LibTorch may come from.
function cacheKey(root: string): string {
  const dir = join(root, 'prebuilds');
  const platform = `${process.platform}-${process.arch}-`;
  const prebuilds = existsSync(dir)
    ? readdirSync(dir)
        .filter((name) => name.startsWith(platform))
        .sort()
        .map((name) => [name, stamp(join(dir, name, 'seqsam.node')), stamp(join(dir, name, 'seqsam.json'))])
    : [];
  const env = ['Torch_DIR', 'CMAKE_PREFIX_PATH', 'LIBTORCH', 'LD_LIBRARY_PATH', 'PATH'].map((k) => process.env[k] ?? '');
  const node = [process.execPath, process.versions.modules, process.versions.napi];
  return createHash('sha256').update(JSON.stringify({ root, prebuilds, env, node })).digest('hex');
}

function cachePaths(root: string): string[] {
  const id = createHash('sha256').update(root).digest('hex').slice(0, 12);
  return [join(root, 'prebuilds', '.load-verdict.json'), join(tmpdir(), `seqsam-load-verdict-${id}.json`)];
}

function readCache(root: string, key: string): ProbeReport | null {
  for (const path of cachePaths(root)) {
    try {
      const cached = JSON.parse(readFileSync(path, 'utf8')) as { key: string; report: ProbeReport };
      // A LibTorch upgraded in place keeps its path; its version file changes.
      const torch = cached.report.torch;
      if (cached.key === key && (!torch || stamp(torch.versionFile) === torch.stamp)) return cached.report;
    } catch {
      // no cache there
    }
  }
  return null;
}

function writeCache(root: string, key: string, report: ProbeReport): void {
  for (const path of cachePaths(root)) {
    try {
      mkdirSync(join(path, '..'), { recursive: true });
      const temp = `${path}.${process.pid}`;
      writeFileSync(temp, JSON.stringify({ key, report }));
      renameSync(temp, path); // readers never see half a file
      return;
    } catch {
      // read-only install: try the next place
    }
  }
}

export function probePrebuilds(root: string): ProbeReport & { cached: boolean } {
  const key = cacheKey(root);
  const cached = readCache(root, key);
  if (cached) return { ...cached, cached: true };
  const script = join(root, 'scripts', 'prebuild-probe.mjs');
  const result = spawnSync(process.execPath, [script, '--root', root], { encoding: 'utf8', timeout: 600_000 });
  let report: ProbeReport;
  try {
    report = JSON.parse(result.stdout) as ProbeReport;
  } catch {
    const why = result.signal ? `killed by ${result.signal}` : `${result.stderr || result.error?.message || `exit status ${result.status}`}`.trim();
    return { torch: null, tried: [], chosen: null, error: `the prebuild probe (${script}) failed: ${why}`, cached: false };
  }
  // Only a success is remembered: after a failure the user changes something, and the next load looks again.
  if (report.chosen) writeCache(root, key, report);
  return { ...report, cached: false };
}
