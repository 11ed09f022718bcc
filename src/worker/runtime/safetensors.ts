/**
 * A direct reader of the safetensors format: 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}`, then the raw tensor bytes
 * (offsets relative to the end of the header).
 *
 * Parsed here rather than through a package because the worker must read single embedding rows
 * by file offset: a real AV's table is ~1 GB (152k x 3584 bf16), and building one prompt needs
 * only ~40 of its rows.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

const BYTES_PER_ELEMENT: Record<string, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};
const FLOAT_DTYPES = new Set(['F64', 'F32', 'F16', 'BF16']);

export interface TensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute byte offset of the tensor's data in the file. */
  offset: number;
  byteLength: number;
}

export interface SafetensorsHeader {
  file: string;
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
}

/** The header of a safetensors file, read without touching the tensor data. */
export function readSafetensorsHeader(file: string): SafetensorsHeader {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new Error(`${file}: cannot open safetensors file (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  try {
    const size = statSync(file).size;
    const lenBuf = Buffer.alloc(8);
    if (size < 8 || readSync(fd, lenBuf, 0, 8, 0) !== 8) throw new Error(`${file}: too short for a safetensors header`);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen <= 0 || 8 + headerLen > size || headerLen > 100_000_000) {
      throw new Error(`${file}: header length ${headerLen} does not fit a file of ${size} bytes; not a safetensors file`);
    }
    const headerBuf = Buffer.alloc(headerLen);
    readSync(fd, headerBuf, 0, headerLen, 8);
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(headerBuf.toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new Error(`${file}: safetensors header is not valid JSON`);
    }
    const dataStart = 8 + headerLen;
    const tensors = new Map<string, TensorInfo>();
    let metadata: Record<string, string> = {};
    for (const [name, raw] of Object.entries(json)) {
      if (name === '__metadata__') {
        metadata = (raw ?? {}) as Record<string, string>;
        continue;
      }
      const entry = raw as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
      const width = entry.dtype ? BYTES_PER_ELEMENT[entry.dtype] : undefined;
      if (!width || !Array.isArray(entry.shape) || !Array.isArray(entry.data_offsets)) {
        throw new Error(`${file}: tensor "${name}" has an unsupported dtype "${entry.dtype}" or a malformed entry`);
      }
      const [begin, end] = entry.data_offsets;
      const numel = entry.shape.reduce((a, b) => a * b, 1);
      if (end - begin !== numel * width || dataStart + end > size) {
        throw new Error(`${file}: tensor "${name}" offsets [${begin}, ${end}] do not match its shape [${entry.shape}] ${entry.dtype}`);
      }
      tensors.set(name, { name, dtype: entry.dtype as SafetensorsDtype, shape: entry.shape, offset: dataStart + begin, byteLength: end - begin });
    }
    return { file, tensors, metadata };
  } finally {
    closeSync(fd);
  }
}

/** Widen `count` float elements of `dtype` from `src` into `dst` at `dstOffset`. */
export function decodeFloats(dtype: SafetensorsDtype, src: Uint8Array, dst: Float32Array, dstOffset = 0): void {
  const count = src.byteLength / BYTES_PER_ELEMENT[dtype];
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  if (dtype === 'F32') {
    for (let i = 0; i < count; i++) dst[dstOffset + i] = view.getFloat32(i * 4, true);
  } else if (dtype === 'BF16') {
    // bf16 is the top half of an fp32: shift it up and reinterpret.
    const u32 = new Uint32Array(1);
    const f32 = new Float32Array(u32.buffer);
    for (let i = 0; i < count; i++) {
      u32[0] = view.getUint16(i * 2, true) << 16;
      dst[dstOffset + i] = f32[0];
    }
  } else if (dtype === 'F16') {
    for (let i = 0; i < count; i++) dst[dstOffset + i] = halfToFloat(view.getUint16(i * 2, true));
  } else if (dtype === 'F64') {
    // narrowed to float32, the precision everything downstream computes in
    for (let i = 0; i < count; i++) dst[dstOffset + i] = view.getFloat64(i * 8, true);
  } else {
    throw new Error(`dtype ${dtype} is not a float type (F64, F32, F16 or BF16 are accepted)`);
  }
}

export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function requireTensor(header: SafetensorsHeader, name: string): TensorInfo {
  const info = header.tensors.get(name);
  if (!info) {
    const have = [...header.tensors.keys()].slice(0, 12).join(', ');
    throw new Error(`${header.file}: no tensor "${name}" (the file has: ${have})`);
  }
  if (!FLOAT_DTYPES.has(info.dtype)) throw new Error(`${header.file}: tensor "${name}" is ${info.dtype}; F64, F32, F16 or BF16 are accepted`);
  return info;
}

/**
 * Fill `buf` from byte `position` of `fd`, in calls of at most 1 GiB: one readSync is capped
 * near 2 GiB, less than a wide SAE's encoder. Returns the bytes read (short at end of file).
 */
export function readFully(fd: number, buf: Uint8Array, position: number): number {
  let done = 0;
  while (done < buf.length) {
    const n = readSync(fd, buf, done, Math.min(buf.length - done, 2 ** 30), position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** Read whole float tensors as Float32Array (for SAE weights); F64 is narrowed to float32. */
export function readTensors(file: string, names: string[], header = readSafetensorsHeader(file)): Map<string, { shape: number[]; data: Float32Array }> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  const fd = openSync(file, 'r');
  try {
    for (const name of names) {
      const info = requireTensor(header, name);
      const bytes = Buffer.allocUnsafe(info.byteLength);
      if (readFully(fd, bytes, info.offset) !== info.byteLength) throw new Error(`${file}: tensor "${name}" is cut short (truncated file?)`);
      const data = new Float32Array(info.byteLength / BYTES_PER_ELEMENT[info.dtype]);
      decodeFloats(info.dtype, bytes, data);
      out.set(name, { shape: info.shape, data });
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

/**
 * Random access to the rows of one 2-D float tensor (an embedding table), reading only the
 * bytes of the rows asked for. The file stays open until `close`.
 */
export class RowReader {
  readonly rows: number;
  readonly cols: number;
  readonly dtype: SafetensorsDtype;
  private readonly rowBytes: number;
  private scratch: Buffer;

  private constructor(
    readonly file: string,
    private readonly handle: FileHandle,
    private readonly info: TensorInfo,
  ) {
    this.rows = info.shape[0];
    this.cols = info.shape[1];
    this.dtype = info.dtype;
    this.rowBytes = this.cols * BYTES_PER_ELEMENT[info.dtype];
    this.scratch = Buffer.allocUnsafe(this.rowBytes * 64);
  }

  static async open(file: string, tensorName: string): Promise<RowReader> {
    const header = readSafetensorsHeader(file);
    const info = requireTensor(header, tensorName);
    if (info.shape.length !== 2) throw new Error(`${file}: tensor "${tensorName}" has shape [${info.shape}]; a 2-D [vocab, d] table is expected`);
    return new RowReader(file, await open(file, 'r'), info);
  }

  /**
   * Write rows `ids` into `dst` (row i at dst[i*cols]), multiplied by `scale`. Runs of
   * consecutive ids are read in one call; the prompt templates are short, so this is a handful
   * of small preads.
   */
  async readRows(ids: ArrayLike<number>, dst: Float32Array, scale = 1): Promise<void> {
    if (dst.length < ids.length * this.cols) throw new Error(`row buffer holds ${dst.length} floats; ${ids.length * this.cols} needed`);
    if (this.scratch.length < this.rowBytes) this.scratch = Buffer.allocUnsafe(this.rowBytes);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id >= this.rows) throw new Error(`${this.file}: row ${id} is outside the table's ${this.rows} rows`);
      const { bytesRead } = await this.handle.read(this.scratch, 0, this.rowBytes, this.info.offset + id * this.rowBytes);
      if (bytesRead !== this.rowBytes) throw new Error(`${this.file}: short read of row ${id}`);
      decodeFloats(this.dtype, this.scratch.subarray(0, this.rowBytes), dst, i * this.cols);
      if (scale !== 1) for (let j = i * this.cols, e = j + this.cols; j < e; j++) dst[j] *= scale;
    }
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

/** Serialize float32 tensors to safetensors bytes (used by tests and tools to write fixtures). */
export function encodeSafetensors(tensors: Record<string, { shape: number[]; data: Float32Array | Float64Array; dtype?: 'F64' | 'F32' | 'F16' | 'BF16' }>): Buffer {
  const header: Record<string, unknown> = {};
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const dtype = t.dtype ?? 'F32';
    const bytes = Buffer.alloc(t.data.length * BYTES_PER_ELEMENT[dtype]);
    for (let i = 0; i < t.data.length; i++) {
      if (dtype === 'F64') bytes.writeDoubleLE(t.data[i], i * 8);
      else if (dtype === 'F32') bytes.writeFloatLE(t.data[i], i * 4);
      else if (dtype === 'BF16') bytes.writeUInt16LE(floatToBf16(t.data[i]), i * 2);
      else bytes.writeUInt16LE(floatToHalf(t.data[i]), i * 2);
    }
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' ';
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([len, Buffer.from(json), ...chunks]);
}

function floatToBf16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0];
  // round to nearest even, as torch does
  return ((u + 0x7fff + ((u >> 16) & 1)) >>> 16) & 0xffff;
}

function floatToHalf(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0];
  const sign = (u >> 16) & 0x8000;
  const exp = ((u >> 23) & 0xff) - 127 + 15;
  const frac = u & 0x7fffff;
  if (exp <= 0) return sign | Math.round(Math.abs(f[0]) / 2 ** -24);
  if (exp >= 31) return sign | 0x7c00;
  // addition, not OR, so that rounding the fraction up carries into the exponent
  return sign | ((exp << 10) + Math.round(frac / 8192));
}
