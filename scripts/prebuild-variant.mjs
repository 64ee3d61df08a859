// Prebuilt binaries: where they live, what their metadata says, and which ones fit the LibTorch found.
//   prebuilds/<platform>-<arch>-<variant>/seqsam.node + seqsam.json
// The variant names the LibTorch the binary links against: torch<major.minor>-cpu or
// torch<major.minor>-cuda<major> (e.g. torch1.13-cpu, torch2.5-cuda12). The addon links LibTorch
// dynamically and LibTorch keeps no ABI promise between minor versions, hence major.minor.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const prebuildsDir = (root) => join(root, 'prebuilds');
export const platformKey = () => `${process.platform}-${process.arch}`;

export function variantTag(torch) {
  const [major, minor] = String(torch.version ?? '').split('.');
  const cuda = torch.cuda ? `cuda${String(torch.cudaVersion ?? '').split('.')[0]}` : 'cpu';
  return `torch${major}.${minor}-${cuda}`;
}

// Every prebuild for this platform and arch, with its metadata (null when seqsam.json is unreadable).
export function listPrebuilds(root) {
  const dir = prebuildsDir(root);
  if (!existsSync(dir)) return [];
  const prefix = `${platformKey()}-`;
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && e.name.startsWith(prefix))
    .map((e) => {
      const folder = join(dir, e.name);
      let metadata = null;
      try {
        metadata = JSON.parse(readFileSync(join(folder, 'seqsam.json'), 'utf8'));
      } catch {
        // reported as a mismatch below
      }
      return { name: e.name, binary: join(folder, 'seqsam.node'), metadata };
    })
    .filter((p) => existsSync(p.binary))
    .sort((a, b) => a.name.localeCompare(b.name));
}

// Why `metadata` cannot run against `torch` in this Node, or null when it fits.
export function mismatch(metadata, torch) {
  if (!metadata) return 'no readable seqsam.json next to the binary';
  if (metadata.platform !== process.platform || metadata.arch !== process.arch) return `built for ${metadata.platform}-${metadata.arch}`;
  if (Number(metadata.napiVersion) > Number(process.versions.napi)) {
    return `needs Node-API ${metadata.napiVersion}, this Node has ${process.versions.napi}`;
  }
  if (!torch) return `needs LibTorch ${metadata.torchVersion}, none was found`;
  const minor = (v) => String(v ?? '').split('.').slice(0, 2).join('.');
  if (minor(metadata.torchVersion) !== minor(torch.version)) return `built for LibTorch ${metadata.torchVersion}, found ${torch.version}`;
  if (Boolean(metadata.cuda) !== Boolean(torch.cuda)) {
    return `built for a ${metadata.cuda ? 'CUDA' : 'CPU-only'} LibTorch, found a ${torch.cuda ? 'CUDA' : 'CPU-only'} one`;
  }
  if (metadata.cuda && metadata.cudaVersion && torch.cudaVersion && metadata.cudaVersion.split('.')[0] !== torch.cudaVersion.split('.')[0]) {
    return `built for CUDA ${metadata.cudaVersion}, found CUDA ${torch.cudaVersion}`;
  }
  if (torch.cxx11Abi !== null && metadata.cxx11Abi !== torch.cxx11Abi) {
    return `built with the ${metadata.cxx11Abi ? 'C++11' : 'pre-C++11'} libstdc++ ABI, LibTorch uses the other`;
  }
  return null;
}

// A digest of what the binary is compiled from: a prebuild made from other sources is stale.
export function sourceHash(root) {
  const hash = createHash('sha256');
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.(cc|h|cu|cuh)$/.test(entry.name)) hash.update(`${path.slice(root.length)}\0`).update(readFileSync(path));
    }
  };
  walk(join(root, 'native'));
  hash.update(readFileSync(join(root, 'CMakeLists.txt')));
  return hash.digest('hex').slice(0, 16);
}

// Identity of a file for caching verdicts about it.
export function fileStamp(path) {
  try {
    const s = statSync(path);
    return `${s.size}:${Math.round(s.mtimeMs)}`;
  } catch {
    return 'missing';
  }
}
