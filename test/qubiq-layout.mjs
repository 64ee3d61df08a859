// A QUBIQ release's layout written by hand for tests: NIfTI-1 files and the
// <split>_data_v2/kidney/{Training|Validation}/caseNN folders the loader lists.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** A NIfTI-1 single file written from the spec: dims = [nx, ny(, nz)], values in x-fastest order. */
export function nifti(dims, values, { type = 'float32', slope = 1, inter = 0, bigEndian = false } = {}) {
  const codes = { uint8: [2, 8], int16: [4, 16], float32: [16, 32], float64: [64, 64], int32: [8, 32], uint16: [512, 16] };
  const [code, bitpix] = codes[type];
  const le = !bigEndian;
  const header = new DataView(new ArrayBuffer(352));
  header.setInt32(0, 348, le);
  header.setInt16(40, dims.length, le);
  for (let k = 0; k < 7; k++) header.setInt16(42 + 2 * k, dims[k] ?? 1, le);
  header.setInt16(70, code, le);
  header.setInt16(72, bitpix, le);
  for (let k = 0; k < 8; k++) header.setFloat32(76 + 4 * k, 1, le);
  header.setFloat32(108, 352, le);
  header.setFloat32(112, slope, le);
  header.setFloat32(116, inter, le);
  header.setUint8(123, 10); // xyzt_units
  new Uint8Array(header.buffer).set([0x6e, 0x2b, 0x31, 0], 344); // "n+1\0"
  const bytes = bitpix / 8;
  const data = new DataView(new ArrayBuffer(values.length * bytes));
  values.forEach((v, i) => {
    const o = i * bytes;
    if (type === 'uint8') data.setUint8(o, v);
    else if (type === 'int16') data.setInt16(o, v, le);
    else if (type === 'uint16') data.setUint16(o, v, le);
    else if (type === 'int32') data.setInt32(o, v, le);
    else if (type === 'float32') data.setFloat32(o, v, le);
    else data.setFloat64(o, v, le);
  });
  return Buffer.concat([Buffer.from(header.buffer), Buffer.from(data.buffer)]);
}

export async function makeCase(root, split, id, files) {
  const dir = join(root, `${split}_data_v2`, 'kidney', split === 'training' ? 'Training' : 'Validation', id);
  await mkdir(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) await writeFile(join(dir, name), bytes);
  return dir;
}
