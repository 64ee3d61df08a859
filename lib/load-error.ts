// The message when no binary loads: what LibTorch was found, each binary tried and why it failed, and
// what to do about it.
import { SeqsamError } from './errors.js';
import type { ProbeReport, TorchFound } from './prebuild-select.js';

export interface Attempt {
  path: string;
  reason: string;
}

function describeTorch(torch: TorchFound | null, probeError?: string): string {
  if (probeError) return `LibTorch: unknown (${probeError})`;
  if (!torch) return 'LibTorch: not found (looked at Torch_DIR, CMAKE_PREFIX_PATH, LIBTORCH, python3\'s torch, /usr and /usr/local)';
  const kind = torch.cuda ? `CUDA${torch.cudaVersion ? ` ${torch.cudaVersion}` : ''}` : 'CPU-only';
  const abi = torch.cxx11Abi === null ? '' : `, ${torch.cxx11Abi ? 'C++11' : 'pre-C++11'} ABI`;
  return `LibTorch: ${torch.version ?? '(unknown version)'} ${kind}${abi}, found via ${torch.source} at ${torch.cmakeDir}`;
}

function advice(torch: TorchFound | null, report: ProbeReport): string[] {
  const out: string[] = [];
  if (!torch) {
    out.push('install LibTorch: on Debian/Ubuntu `sudo apt-get install libtorch-dev libopenblas0-pthread`,');
    out.push('  or unpack a LibTorch zip from pytorch.org and set LIBTORCH=/path/to/libtorch (or Torch_DIR)');
  }
  const variants = report.tried.map((t) => t.name);
  const broken = report.tried.filter((t) => t.ok === false).map((t) => t.name);
  if (broken.length) out.push(`${broken.join(', ')} fit${broken.length === 1 ? 's' : ''} this LibTorch but did not load (see above): reinstall seqsam, or build from source`);
  else if (torch && variants.length) out.push(`the prebuilt binaries (${variants.join(', ')}) do not fit this LibTorch: install a LibTorch they were built for, or build from source`);
  if (torch && !variants.length) out.push(`no prebuilt binary ships for ${process.platform}-${process.arch}: build from source`);
  out.push("build from source: `npm run build` in the seqsam package folder (needs cmake >= 3.18, a C++17 compiler and LibTorch)");
  out.push('or point SEQSAM_BINARY at a seqsam.node built for this LibTorch');
  return out;
}

export function loadError(attempts: Attempt[], report: ProbeReport): SeqsamError {
  const lines = [
    'seqsam: the native addon could not be loaded.',
    `  ${describeTorch(report.torch, report.error)}`,
    '  Binaries tried:',
    ...(attempts.length ? attempts.map((a) => `    ${a.path}: ${a.reason}`) : ['    (none)']),
    '  To fix:',
    ...advice(report.torch, report).map((a) => `    - ${a}`),
  ];
  return new SeqsamError('ERR_NATIVE', lines.join('\n'));
}
