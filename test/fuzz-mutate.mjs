// Seeded mutations of binary files: bit flips, interesting bytes, truncation, and corruption of the
// length and size fields each format trusts (safetensors' header length and JSON numbers, pickle
// length prefixes, zip header sizes and offsets, NIfTI dims / datatype / vox_offset).

const interesting32 = [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffff0];

function flipBits(buf, random) {
  const out = Buffer.from(buf);
  const n = 1 + Math.floor(random() * 8);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(random() * out.length);
    out[at] ^= 1 << Math.floor(random() * 8);
  }
  return { data: out, how: `flip ${n} bits` };
}

function setBytes(buf, random) {
  const out = Buffer.from(buf);
  const at = Math.floor(random() * out.length);
  const value = [0, 0xff, 0x7f, 0x80][Math.floor(random() * 4)];
  const len = 1 + Math.floor(random() * 16);
  out.fill(value, at, Math.min(out.length, at + len));
  return { data: out, how: `set ${len} bytes at ${at} to 0x${value.toString(16)}` };
}

function truncate(buf, random) {
  // Often near the start or the end, where headers and directories live.
  const r = random();
  const at = r < 0.3 ? Math.floor(random() * Math.min(buf.length, 512)) : r < 0.6 ? buf.length - 1 - Math.floor(random() * Math.min(buf.length, 512)) : Math.floor(random() * buf.length);
  return { data: buf.subarray(0, Math.max(0, at)), how: `truncate to ${at}` };
}

function writeU32(out, at, random) {
  if (at + 4 > out.length) return;
  out.writeUInt32LE(interesting32[Math.floor(random() * interesting32.length)], at);
}

function positions(buf, pattern, limit = 2000) {
  const out = [];
  for (let at = buf.indexOf(pattern); at >= 0 && out.length < limit; at = buf.indexOf(pattern, at + 1)) out.push(at);
  return out;
}

const lengthFields = {
  safetensors(buf, random) {
    const out = Buffer.from(buf);
    if (random() < 0.3) {
      out.writeBigUInt64LE(BigInt(interesting32[Math.floor(random() * interesting32.length)]) * (random() < 0.5 ? 1n : 2n ** 32n), 0);
      return { data: out, how: 'header length' };
    }
    // A number in the JSON header (a shape or an offset) replaced.
    const headerEnd = 8 + Number(buf.readBigUInt64LE(0));
    const digits = [];
    for (let i = 8; i < Math.min(headerEnd, buf.length); i++) if (buf[i] >= 0x30 && buf[i] <= 0x39) digits.push(i);
    if (!digits.length) return flipBits(buf, random);
    const at = digits[Math.floor(random() * digits.length)];
    out[at] = 0x30 + Math.floor(random() * 10);
    return { data: out, how: `header digit at ${at}` };
  },
  pickle(buf, random) {
    // Length prefixes: BINUNICODE 'X' / BINBYTES 'B' (u32), SHORT_BINUNICODE 0x8c (u8), FRAME 0x95 (u64).
    const out = Buffer.from(buf);
    const op = [0x58, 0x42, 0x8c, 0x95, 0x72][Math.floor(random() * 5)];
    const found = positions(buf, Buffer.from([op]));
    if (!found.length) return flipBits(buf, random);
    const at = found[Math.floor(random() * found.length)] + 1;
    if (op === 0x8c) out[at] = Math.floor(random() * 256);
    else writeU32(out, at, random);
    return { data: out, how: `length after opcode 0x${op.toString(16)} at ${at}` };
  },
  zip(buf, random) {
    // Local headers (sizes at +18/+22, name length +26) and central directory (sizes +20/+24, offset +42).
    const out = Buffer.from(buf);
    const local = random() < 0.5;
    const found = positions(buf, Buffer.from(local ? [0x50, 0x4b, 0x03, 0x04] : [0x50, 0x4b, 0x01, 0x02]));
    if (!found.length) return flipBits(buf, random);
    const at = found[Math.floor(random() * found.length)];
    const field = local ? [18, 22, 26, 28][Math.floor(random() * 4)] : [20, 24, 28, 42][Math.floor(random() * 4)];
    if (field === 26 || field === 28) out.writeUInt16LE(Math.floor(random() * 65536), at + field);
    else writeU32(out, at + field, random);
    return { data: out, how: `zip ${local ? 'local' : 'central'} field +${field} at ${at}` };
  },
  nifti(buf, random) {
    const out = Buffer.from(buf);
    const field = Math.floor(random() * 4);
    if (field === 0) out.writeInt16LE([-1, 0, 1, 7, 8, 32767][Math.floor(random() * 6)], 40); // dim[0]
    else if (field === 1) out.writeInt16LE([-5, 0, 1, 2, 1000, 32767][Math.floor(random() * 6)], 42 + 2 * Math.floor(random() * 7)); // dim[1..7]
    else if (field === 2) out.writeInt16LE([0, 1, 2, 4, 8, 16, 32, 64, 128, 511, 1536, 2048][Math.floor(random() * 12)], 70); // datatype
    else out.writeFloatLE([-1, 0, 348, 351, 1e9, NaN, Infinity][Math.floor(random() * 7)], 108); // vox_offset
    return { data: out, how: `nifti header field ${['dim[0]', 'dim[i]', 'datatype', 'vox_offset'][field]}` };
  },
};

// One mutation of `buf` for a file of `kind` ('safetensors' | 'pickle' | 'zip' | 'nifti' | 'gzip').
export function mutate(buf, kind, random) {
  const r = random();
  if (r < 0.3) return flipBits(buf, random);
  if (r < 0.45) return setBytes(buf, random);
  if (r < 0.6) return truncate(buf, random);
  const fields = lengthFields[kind];
  if (!fields) return flipBits(buf, random);
  const m = fields(buf, random);
  // Sometimes a second, unrelated corruption on top.
  return random() < 0.2 ? { ...flipBits(m.data, random), how: `${m.how} + flips` } : m;
}
