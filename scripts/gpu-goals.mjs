#!/usr/bin/env node
// The GPU speed goals, read off a `seqsam bench --json` of the CUDA cases (scripts/gpu-check.sh writes one to
// $OUT/bench.json): each goal with the best measured value that meets its terms, and whether it is met.
//   node scripts/gpu-goals.mjs bench.json
// Prints one line a goal; exits 0 (the check reports, it does not fail the run).
import { readFileSync } from 'node:fs';

const file = process.argv[2];
if (!file) {
  console.error('usage: node scripts/gpu-goals.mjs BENCH.json');
  process.exit(2);
}
const { entries = [] } = JSON.parse(readFileSync(file, 'utf8'));

// Milliseconds of an entry: from its unit, or from the "N ms/…" its note gives for rates.
function milliseconds(entry) {
  if (entry.unit === 'ms') return entry.value;
  const noted = /([\d.]+) ms\/(image|step)/.exec(entry.note ?? '');
  return noted ? Number(noted[1]) : undefined;
}

function best(pattern, exclude) {
  let found;
  for (const entry of entries) {
    if (!pattern.test(entry.name) || (exclude && exclude.test(entry.name))) continue;
    const ms = milliseconds(entry);
    if (ms !== undefined && (!found || ms < found.ms)) found = { ms, name: entry.name };
  }
  return found;
}

const goals = [
  ['encoder ViT-B bf16, batch 8', /^encoder ViT-B 1024², cuda bf16/, 4.0, 'ms/image'],
  ['encoder ViT-B fp32 (TF32 allowed), batch 8', /^encoder ViT-B 1024², cuda (fp32|tf32)/, 16, 'ms/image'],
  ['train step B=8 M=4 K=4 bf16', /^SeqSAM train step.*cuda bf16/, 15, 'ms/step'],
  ['train step B=8 M=4 K=4 fp32', /^SeqSAM train step.*cuda fp32/, 40, 'ms/step'],
  ['inference M=10 from a cached embedding', /^SeqSAM inference, M=10 from a cached embedding/, 5, 'ms'],
  ['a new image embedded + M=10', /^SeqSAM inference, a new 1024² image/, 10, 'ms'],
];
for (const [label, pattern, limit, unit] of goals) {
  const found = best(pattern);
  if (!found) {
    console.log(`goal ${label} ≤ ${limit} ${unit}: not measured`);
    continue;
  }
  console.log(`goal ${label} ≤ ${limit} ${unit}: ${found.ms.toFixed(2)} ${unit} ${found.ms <= limit ? 'MET' : 'not met'} (${found.name})`);
}

// bf16 never slower than fp32, case by case: each bf16 entry against the fp32 entry that differs from it only
// in the precision (same case, attention form, eager or graphed).
const mode = /cuda (bf16 held weights \+ GELU epilogue|bf16 autocast|bf16 held weights|bf16|fp32|tf32)/;
const fp32ByCase = new Map();
for (const entry of entries) {
  const m = mode.exec(entry.name);
  if (m && m[1] === 'fp32' && milliseconds(entry) !== undefined) fp32ByCase.set(entry.name.replace(mode, 'cuda *'), entry);
}
for (const entry of entries) {
  const m = mode.exec(entry.name);
  if (!m || !m[1].startsWith('bf16')) continue;
  const fp32 = fp32ByCase.get(entry.name.replace(mode, 'cuda *'));
  const [b, f] = [milliseconds(entry), fp32 && milliseconds(fp32)];
  if (b === undefined || f === undefined) continue;
  console.log(`goal bf16 not slower than fp32: ${(b / f).toFixed(2)}× ${b <= f ? 'MET' : 'not met'} (${entry.name}: ${b.toFixed(2)} vs ${f.toFixed(2)} ms)`);
}
