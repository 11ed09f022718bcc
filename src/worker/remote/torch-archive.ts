/**
 * A `torch.save` archive of one float32 tensor, written by hand: what vLLM's
 * `/v1/completions` expects (base64) in `prompt_embeds`. No Python, no torch.
 *
 * Layout (the format `torch.load(..., weights_only=True)` reads):
 * - an uncompressed ZIP whose entries sit under one top-level folder;
 * - `<folder>/data.pkl`: a protocol-2 pickle calling `torch._utils._rebuild_tensor_v2` on the
 *   persistent id `('storage', torch.FloatStorage, '0', 'cpu', numel)`, storage offset 0, the
 *   size and stride tuples, `requires_grad=False`, and an empty `collections.OrderedDict`;
 * - `<folder>/data/0`: the raw little-endian float32 bytes;
 * - `<folder>/version`: `3\n` (without it torch refuses the archive).
 *
 * Each entry's data is aligned to 64 bytes with a padding extra field, as torch's own writer
 * does, so a reader may memory-map the storage.
 */

const ALIGNMENT = 64;

/** Serialize a row-major float32 tensor of `shape` as a torch.save archive. */
export function torchSaveFloat32(values: Float32Array, shape: readonly number[], folder = 'archive'): Buffer {
  const numel = shape.reduce((a, b) => a * b, 1);
  if (numel !== values.length) throw new Error(`tensor of shape [${shape.join(', ')}] needs ${numel} values, got ${values.length}`);
  if (!/^[A-Za-z0-9_]+$/.test(folder)) throw new Error(`archive folder name "${folder}" must be letters, digits or _`);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const raw = Buffer.alloc(values.length * 4);
  for (let i = 0; i < values.length; i++) raw.writeFloatLE(values[i], i * 4);
  return writeStoredZip([
    { name: `${folder}/data.pkl`, data: rebuildTensorPickle(numel, shape, strides) },
    { name: `${folder}/data/0`, data: raw },
    { name: `${folder}/version`, data: Buffer.from('3\n') },
  ]);
}

// ---- pickle (protocol 2), only the opcodes this one call needs -------------------------------

const OP = {
  PROTO: 0x80,
  GLOBAL: 0x63, // c
  MARK: 0x28, // (
  TUPLE: 0x74, // t
  TUPLE2: 0x86,
  EMPTY_TUPLE: 0x29, // )
  BINUNICODE: 0x58, // X
  BININT: 0x4a, // J
  BININT1: 0x4b, // K
  LONG1: 0x8a,
  BINPERSID: 0x51, // Q
  REDUCE: 0x52, // R
  NEWFALSE: 0x89,
  STOP: 0x2e, // .
} as const;

function rebuildTensorPickle(numel: number, shape: readonly number[], strides: readonly number[]): Buffer {
  const out: Buffer[] = [];
  const byte = (...b: number[]) => out.push(Buffer.from(b));
  const global = (module: string, name: string) => {
    byte(OP.GLOBAL);
    out.push(Buffer.from(`${module}\n${name}\n`, 'ascii'));
  };
  const str = (s: string) => {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    byte(OP.BINUNICODE);
    out.push(len, b);
  };
  const int = (n: number) => {
    if (!Number.isInteger(n) || n < 0) throw new Error(`pickle int ${n} is not a non-negative integer`);
    if (n < 256) byte(OP.BININT1, n);
    else if (n < 2 ** 31) {
      const b = Buffer.alloc(4);
      b.writeInt32LE(n);
      byte(OP.BININT);
      out.push(b);
    } else {
      // LONG1: little-endian two's complement; 8 bytes covers any safe integer.
      const b = Buffer.alloc(8);
      b.writeBigInt64LE(BigInt(n));
      byte(OP.LONG1, 8);
      out.push(b);
    }
  };
  const tuple = (items: readonly number[]) => {
    if (items.length === 0) return byte(OP.EMPTY_TUPLE);
    byte(OP.MARK);
    items.forEach(int);
    byte(OP.TUPLE);
  };

  byte(OP.PROTO, 2);
  global('torch._utils', '_rebuild_tensor_v2');
  byte(OP.MARK); // arguments of _rebuild_tensor_v2
  byte(OP.MARK); // persistent id tuple
  str('storage');
  global('torch', 'FloatStorage');
  str('0');
  str('cpu');
  int(numel);
  byte(OP.TUPLE);
  byte(OP.BINPERSID);
  int(0); // storage offset
  tuple(shape);
  tuple(strides);
  byte(OP.NEWFALSE); // requires_grad
  global('collections', 'OrderedDict');
  byte(OP.EMPTY_TUPLE, OP.REDUCE); // OrderedDict() — backward hooks, always empty
  byte(OP.TUPLE);
  byte(OP.REDUCE);
  byte(OP.STOP);
  return Buffer.concat(out);
}

// ---- ZIP (stored, no compression) ----------------------------------------------------------

interface ZipEntry {
  name: string;
  data: Buffer;
}

/** DOS date 1980-01-01, time 00:00: a fixed stamp keeps the archive byte-for-byte reproducible. */
const DOS_DATE = (0 << 9) | (1 << 5) | 1;
const DOS_TIME = 0;

function writeStoredZip(entries: ZipEntry[]): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const crc = crc32(entry.data);
    const unpadded = offset + 30 + name.length + 4;
    const pad = (ALIGNMENT - (unpadded % ALIGNMENT)) % ALIGNMENT;
    // Extra field 'FB' (0x4246) carries the padding, as PyTorch's writer does.
    const extra = Buffer.alloc(4 + pad, 'Z'.charCodeAt(0));
    extra.writeUInt16LE(0x4246, 0);
    extra.writeUInt16LE(pad, 2);

    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0, 6); // flags
    local.writeUInt16LE(0, 8); // method: stored
    local.writeUInt16LE(DOS_TIME, 10);
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(entry.data.length, 18);
    local.writeUInt32LE(entry.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(extra.length, 28);
    parts.push(local, name, extra, entry.data);

    const header = Buffer.alloc(46);
    header.writeUInt32LE(0x02014b50, 0);
    header.writeUInt16LE(20, 4); // version made by
    header.writeUInt16LE(20, 6); // version needed
    header.writeUInt16LE(0, 8);
    header.writeUInt16LE(0, 10);
    header.writeUInt16LE(DOS_TIME, 12);
    header.writeUInt16LE(DOS_DATE, 14);
    header.writeUInt32LE(crc, 16);
    header.writeUInt32LE(entry.data.length, 20);
    header.writeUInt32LE(entry.data.length, 24);
    header.writeUInt16LE(name.length, 28);
    header.writeUInt16LE(0, 30); // extra length
    header.writeUInt16LE(0, 32); // comment length
    header.writeUInt16LE(0, 34); // disk
    header.writeUInt16LE(0, 36); // internal attributes
    header.writeUInt32LE(0, 38); // external attributes
    header.writeUInt32LE(offset, 42);
    central.push(header, name);

    offset += local.length + name.length + extra.length + entry.data.length;
  }
  const centralDir = Buffer.concat(central);
  if (offset + centralDir.length > 0xffffffff) throw new Error('torch archive over 4 GiB needs ZIP64, which this writer does not emit');
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(0, 4);
  end.writeUInt16LE(0, 6);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralDir.length, 12);
  end.writeUInt32LE(offset, 16);
  end.writeUInt16LE(0, 20);
  return Buffer.concat([...parts, centralDir, end]);
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as ZIP requires. */
export function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = CRC_TABLE[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
