// Writes torch.save-style archives (a zip of data.pkl + data/<key> storages) from hand-made pickle
// programs, so tests can feed the checkpoint reader exactly the malformed input they mean.
import { zipSync } from 'fflate';

// A pickle program (protocol 2 opcodes), built op by op.
export class Pickle {
  #bytes = [0x80, 0x02];
  op(...codes) {
    for (const c of codes) this.#bytes.push(typeof c === 'string' ? c.charCodeAt(0) : c);
    return this;
  }
  str(text) {
    const utf8 = Buffer.from(text, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(utf8.length);
    return this.op('X', ...len, ...utf8);
  }
  global(module, name) {
    return this.op('c', ...Buffer.from(`${module}\n${name}\n`, 'latin1'));
  }
  // Any int64, as LONG1 (8 bytes, two's complement).
  int(value) {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(BigInt(value));
    return this.op(0x8a, 8, ...b);
  }
  ints(values) {
    this.op('(');
    for (const v of values) this.int(v);
    return this.op('t');
  }
  // torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())
  tensor({ key = '0', storage = 'FloatStorage', numel, offset = 0, size, stride }) {
    this.global('torch._utils', '_rebuild_tensor_v2').op('(');
    this.op('(').str('storage').global('torch', storage).str(key).str('cpu').int(numel).op('t', 'Q');
    this.int(offset).ints(size).ints(stride).op(0x89).global('collections', 'OrderedDict').op(')', 'R', 't');
    return this.op('R');
  }
  bytes() {
    return Uint8Array.from([...this.#bytes, '.'.charCodeAt(0)]);
  }
}

// A state dict { name: tensor spec } as a pickle program.
export function stateDictPickle(entries) {
  const p = new Pickle().global('collections', 'OrderedDict').op(')', 'R', '(');
  for (const [name, spec] of Object.entries(entries)) p.str(name).tensor(spec);
  return p.op('u');
}

export function torchArchive(pickle, storages = {}) {
  const files = { 'archive/data.pkl': [pickle instanceof Pickle ? pickle.bytes() : pickle, { level: 0 }], 'archive/version': [Buffer.from('3\n'), { level: 0 }] };
  for (const [key, data] of Object.entries(storages)) files[`archive/data/${key}`] = [new Uint8Array(data.buffer, data.byteOffset, data.byteLength), { level: 0 }];
  return Buffer.from(zipSync(files));
}
