/**
 * A reader for NumPy's `.npz` archives (what `np.savez` and `np.savez_compressed` write): a ZIP
 * file holding one `.npy` file per array. Gemma Scope ships its SAEs this way (`params.npz`).
 *
 * ZIP: entries are found through the central directory (ZIP64 records included, since
 * `np.savez` forces ZIP64 on every entry), stored or deflated, and checked against their CRC.
 * NPY: magic `\x93NUMPY`, a version byte pair, a little-endian header length (2 bytes in
 * version 1, 4 in versions 2 and 3), then a Python dict literal with `descr`, `fortran_order`
 * and `shape`, then the raw array.
 *
 * The directory and every array's header are read without reading the arrays, so a manifest
 * can be checked before the weights are loaded.
 */
import { closeSync, openSync, statSync } from 'node:fs';
import zlib from 'node:zlib';
import { halfToFloat, readFully } from './safetensors';

/** Float element types read from `.npy` descriptors, named as safetensors names them. */
export type NpyDtype = 'F64' | 'F32' | 'F16';

export interface NpyArrayInfo {
  /** The array's name: the entry's file name without `.npy`. */
  name: string;
  dtype: NpyDtype;
  shape: number[];
  littleEndian: boolean;
  fortranOrder: boolean;
  /** Where the entry's (possibly compressed) bytes start in the archive, and how many there are. */
  dataOffset: number;
  compressedSize: number;
  size: number;
  method: 0 | 8;
  crc32: number;
  /** Length of the `.npy` header inside the entry (the array's bytes follow it). */
  headerLength: number;
}

export interface NpzDirectory {
  file: string;
  arrays: Map<string, NpyArrayInfo>;
}

const DESCR: Record<string, { dtype: NpyDtype; width: number }> = {
  f8: { dtype: 'F64', width: 8 },
  f4: { dtype: 'F32', width: 4 },
  f2: { dtype: 'F16', width: 2 },
};

class NpzError extends Error {}

function u64(buf: Buffer, at: number): number {
  const v = buf.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new NpzError('a ZIP64 field is beyond 2^53');
  return Number(v);
}

function readAt(fd: number, offset: number, length: number, fileSize: number): Buffer {
  if (offset < 0 || offset + length > fileSize) throw new NpzError(`the archive is truncated (needs bytes ${offset}..${offset + length}, has ${fileSize})`);
  const buf = Buffer.allocUnsafe(length);
  if (readFully(fd, buf, offset) !== length) throw new NpzError(`short read at byte ${offset}`);
  return buf;
}

interface CentralEntry {
  name: string;
  method: number;
  flags: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

/** The central directory's entries, through the (ZIP64) end-of-central-directory record. */
function readCentralDirectory(fd: number, fileSize: number): CentralEntry[] {
  const tailLength = Math.min(fileSize, 22 + 0xffff);
  const tail = readAt(fd, fileSize - tailLength, tailLength, fileSize);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new NpzError('no ZIP end-of-central-directory record: not a ZIP archive (an .npz is one)');
  let count = tail.readUInt16LE(eocd + 10);
  let cdSize = tail.readUInt32LE(eocd + 12);
  let cdOffset = tail.readUInt32LE(eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const locator = eocd - 20;
    if (locator < 0 || tail.readUInt32LE(locator) !== 0x07064b50) throw new NpzError('the ZIP64 end-of-central-directory locator is missing');
    const rec = readAt(fd, u64(tail, locator + 8), 56, fileSize);
    if (rec.readUInt32LE(0) !== 0x06064b50) throw new NpzError('the ZIP64 end-of-central-directory record is missing');
    count = u64(rec, 32);
    cdSize = u64(rec, 40);
    cdOffset = u64(rec, 48);
  }
  const cd = readAt(fd, cdOffset, cdSize, fileSize);
  const entries: CentralEntry[] = [];
  let p = 0;
  for (let e = 0; e < count; e++) {
    if (p + 46 > cd.length || cd.readUInt32LE(p) !== 0x02014b50) throw new NpzError(`central directory entry ${e} is malformed`);
    const nameLen = cd.readUInt16LE(p + 28);
    const extraLen = cd.readUInt16LE(p + 30);
    const commentLen = cd.readUInt16LE(p + 32);
    const entry: CentralEntry = {
      name: cd.toString('utf8', p + 46, p + 46 + nameLen),
      flags: cd.readUInt16LE(p + 8),
      method: cd.readUInt16LE(p + 10),
      crc32: cd.readUInt32LE(p + 16),
      compressedSize: cd.readUInt32LE(p + 20),
      size: cd.readUInt32LE(p + 24),
      localHeaderOffset: cd.readUInt32LE(p + 42),
    };
    // ZIP64 extra field (id 1): 8-byte values for whichever of the three fields overflowed, in order.
    let x = p + 46 + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = cd.readUInt16LE(x);
      const len = cd.readUInt16LE(x + 2);
      if (id === 0x0001) {
        let q = x + 4;
        if (entry.size === 0xffffffff) {
          entry.size = u64(cd, q);
          q += 8;
        }
        if (entry.compressedSize === 0xffffffff) {
          entry.compressedSize = u64(cd, q);
          q += 8;
        }
        if (entry.localHeaderOffset === 0xffffffff) entry.localHeaderOffset = u64(cd, q);
      }
      x += 4 + len;
    }
    entries.push(entry);
    p = xEnd + commentLen;
  }
  return entries;
}

/** Parse a `.npy` header from the first bytes of an entry; returns the descriptor and its length. */
function parseNpyHeader(name: string, head: Buffer): { dtype: NpyDtype; littleEndian: boolean; fortranOrder: boolean; shape: number[]; headerLength: number } {
  if (head.length < 10 || head.readUInt8(0) !== 0x93 || head.toString('latin1', 1, 6) !== 'NUMPY') throw new NpzError(`${name}: not an .npy array (no \\x93NUMPY magic)`);
  const major = head.readUInt8(6);
  if (major < 1 || major > 3) throw new NpzError(`${name}: .npy format version ${major} is not 1, 2 or 3`);
  const lenBytes = major === 1 ? 2 : 4;
  const dictLength = major === 1 ? head.readUInt16LE(8) : head.readUInt32LE(8);
  const start = 8 + lenBytes;
  if (start + dictLength > head.length) throw new NpzError(`${name}: the .npy header is truncated`);
  const dict = head.toString(major === 3 ? 'utf8' : 'latin1', start, start + dictLength);
  const descr = /'descr':\s*'([<>|=])([a-zA-Z]\d*)'/.exec(dict);
  const fortran = /'fortran_order':\s*(True|False)/.exec(dict);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(dict);
  if (!descr || !fortran || !shape) throw new NpzError(`${name}: the .npy header ${JSON.stringify(dict.trim())} lacks descr, fortran_order or shape`);
  const kind = DESCR[descr[2]];
  if (!kind) throw new NpzError(`${name}: dtype '${descr[1]}${descr[2]}' is not a float type; float64 (f8), float32 (f4) or float16 (f2) are read`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (!dims.every((s) => /^\d+$/.test(s))) throw new NpzError(`${name}: shape (${shape[1]}) is not a tuple of sizes`);
  if (fortran[1] === 'True' && dims.length > 2) throw new NpzError(`${name}: a Fortran-ordered array of ${dims.length} dimensions is not read; save it C-ordered`);
  return { dtype: kind.dtype, littleEndian: descr[1] !== '>', fortranOrder: fortran[1] === 'True', shape: dims.map(Number), headerLength: start + dictLength };
}

/** The first `want` bytes of an entry's content (inflating only as much as needed). */
function entryPrefix(fd: number, fileSize: number, dataOffset: number, e: CentralEntry, want: number): Buffer {
  if (e.method === 0) return readAt(fd, dataOffset, Math.min(want, e.size), fileSize);
  const raw = readAt(fd, dataOffset, Math.min(e.compressedSize, want + 1024), fileSize);
  return zlib.inflateRawSync(raw, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, want);
}

/** The archive's arrays and their headers; no array data is read. Errors name the file. */
export function readNpzDirectory(file: string): NpzDirectory {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new Error(`${file}: cannot open .npz file (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  try {
    const fileSize = statSync(file).size;
    const arrays = new Map<string, NpyArrayInfo>();
    for (const e of readCentralDirectory(fd, fileSize)) {
      if (!e.name.endsWith('.npy')) throw new NpzError(`entry "${e.name}" is not an .npy array`);
      if (e.flags & 1) throw new NpzError(`entry "${e.name}" is encrypted`);
      if (e.method !== 0 && e.method !== 8) throw new NpzError(`entry "${e.name}" uses ZIP method ${e.method}; stored (0) and deflate (8) are read`);
      const local = readAt(fd, e.localHeaderOffset, 30, fileSize);
      if (local.readUInt32LE(0) !== 0x04034b50) throw new NpzError(`entry "${e.name}": no local file header at byte ${e.localHeaderOffset}`);
      const dataOffset = e.localHeaderOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
      if (dataOffset + e.compressedSize > fileSize) throw new NpzError(`entry "${e.name}" runs past the end of the archive (truncated file?)`);
      const name = e.name.slice(0, -'.npy'.length);
      const head = parseNpyHeader(e.name, entryPrefix(fd, fileSize, dataOffset, e, 4096));
      const numel = head.shape.reduce((a, b) => a * b, 1);
      const width = head.dtype === 'F64' ? 8 : head.dtype === 'F32' ? 4 : 2;
      if (head.headerLength + numel * width !== e.size) {
        throw new NpzError(`${e.name}: shape (${head.shape}) of ${head.dtype} needs ${numel * width} bytes after the header; the entry holds ${e.size - head.headerLength}`);
      }
      if (arrays.has(name)) throw new NpzError(`array "${name}" appears twice`);
      arrays.set(name, { name, ...head, dataOffset, compressedSize: e.compressedSize, size: e.size, method: e.method as 0 | 8, crc32: e.crc32 });
    }
    return { file, arrays };
  } catch (err) {
    if (err instanceof NpzError) throw new Error(`${file}: ${err.message}`);
    throw new Error(`${file}: not a readable .npz archive (${(err as Error).message})`);
  } finally {
    closeSync(fd);
  }
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** zlib.crc32 where Node has it (20.15+); the table otherwise. */
function crc32(buf: Buffer): number {
  const native = (zlib as unknown as { crc32?: (b: Buffer) => number }).crc32;
  if (native) return native(buf) >>> 0;
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One array's values as float32 (float64 narrowed, float16 widened), in C order. */
export function readNpyArray(dir: NpzDirectory, name: string): Float32Array {
  const info = dir.arrays.get(name);
  if (!info) throw new Error(`${dir.file}: no array "${name}" (the archive has: ${[...dir.arrays.keys()].join(', ')})`);
  const fd = openSync(dir.file, 'r');
  let content: Buffer;
  try {
    const raw = readAt(fd, info.dataOffset, info.compressedSize, statSync(dir.file).size);
    content = info.method === 0 ? raw : zlib.inflateRawSync(raw);
  } catch (err) {
    throw new Error(`${dir.file}: array "${name}" cannot be read (${(err as Error).message})`);
  } finally {
    closeSync(fd);
  }
  if (content.length !== info.size || crc32(content) !== info.crc32) throw new Error(`${dir.file}: array "${name}" fails its CRC check (the archive is corrupt)`);
  const width = info.dtype === 'F64' ? 8 : info.dtype === 'F32' ? 4 : 2;
  const view = new DataView(content.buffer, content.byteOffset + info.headerLength, content.length - info.headerLength);
  const n = view.byteLength / width;
  const out = new Float32Array(n);
  const le = info.littleEndian;
  if (info.dtype === 'F64') for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, le);
  else if (info.dtype === 'F32') for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, le);
  else for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(i * 2, le));
  return info.fortranOrder && info.shape.length === 2 ? transpose(out, info.shape[1], info.shape[0]) : out;
}

/** Column-major [rows, cols] read as C order: `src` holds the transpose, [cols, rows]. */
function transpose(src: Float32Array, cols: number, rows: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let c = 0; c < cols; c++) for (let r = 0; r < rows; r++) out[r * cols + c] = src[c * rows + r];
  return out;
}
