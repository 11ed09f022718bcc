/**
 * An independent reader for the torch.save archives the vLLM backend writes: it parses the ZIP
 * from its central directory (not from the local headers the writer walks), checks each CRC
 * with zlib's crc32 (not the writer's table), and runs the pickle as a small stack machine.
 * Written for the tests, sharing no code with `src/worker/remote/torch-archive.ts`.
 */
import { crc32 } from 'node:zlib';

export interface ZipFile {
  name: string;
  data: Buffer;
  dataOffset: number;
}

export function readZip(buf: Buffer): Map<string, ZipFile> {
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 65535); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('no end-of-central-directory record');
  const count = buf.readUInt16LE(eocd + 10);
  const cdSize = buf.readUInt32LE(eocd + 12);
  let p = buf.readUInt32LE(eocd + 16);
  if (p + cdSize !== eocd) throw new Error('central directory does not end where the EOCD begins');
  const files = new Map<string, ZipFile>();
  for (let n = 0; n < count; n++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error(`bad central header signature at ${p}`);
    const method = buf.readUInt16LE(p + 10);
    const crc = buf.readUInt32LE(p + 16);
    const csize = buf.readUInt32LE(p + 20);
    const usize = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const localOffset = buf.readUInt32LE(p + 42);
    const name = buf.subarray(p + 46, p + 46 + nameLen).toString('utf8');
    if (method !== 0) throw new Error(`${name}: compression method ${method}, torch archives are stored`);
    if (csize !== usize) throw new Error(`${name}: stored entry with different sizes`);
    if (buf.readUInt32LE(localOffset) !== 0x04034b50) throw new Error(`${name}: bad local header signature`);
    const localName = buf.readUInt16LE(localOffset + 26);
    const localExtra = buf.readUInt16LE(localOffset + 28);
    const dataOffset = localOffset + 30 + localName + localExtra;
    const data = buf.subarray(dataOffset, dataOffset + usize);
    if (crc32(data) >>> 0 !== crc) throw new Error(`${name}: CRC mismatch`);
    files.set(name, { name, data, dataOffset });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return files;
}

export type PickleValue =
  | number
  | bigint
  | string
  | boolean
  | null
  | PickleValue[]
  | { global: string }
  | { call: string; args: PickleValue[] }
  | { persistent: PickleValue };

const MARK = Symbol('mark');

/** Unpickle the opcodes a protocol-2 `_rebuild_tensor_v2` pickle uses. Tuples become arrays. */
export function unpickle(buf: Buffer): PickleValue {
  const stack: Array<PickleValue | typeof MARK> = [];
  const memo = new Map<number, PickleValue>();
  const popToMark = () => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) throw new Error('no MARK on the stack');
    const items = stack.splice(i) as Array<PickleValue | typeof MARK>;
    return items.slice(1) as PickleValue[];
  };
  const pop = () => {
    const v = stack.pop();
    if (v === undefined || v === MARK) throw new Error('stack underflow');
    return v;
  };
  let p = 0;
  const readLine = () => {
    const end = buf.indexOf(0x0a, p);
    const s = buf.subarray(p, end).toString('ascii');
    p = end + 1;
    return s;
  };
  for (;;) {
    const op = buf[p++];
    switch (op) {
      case 0x80: // PROTO
        if (buf[p++] !== 2) throw new Error('expected protocol 2');
        break;
      case 0x63: {
        // GLOBAL
        const module = readLine();
        const name = readLine();
        stack.push({ global: `${module}.${name}` });
        break;
      }
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x74: // TUPLE
        stack.push(popToMark());
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x58: {
        // BINUNICODE
        const len = buf.readUInt32LE(p);
        stack.push(buf.subarray(p + 4, p + 4 + len).toString('utf8'));
        p += 4 + len;
        break;
      }
      case 0x4b: // BININT1
        stack.push(buf[p++]);
        break;
      case 0x4d: // BININT2
        stack.push(buf.readUInt16LE(p));
        p += 2;
        break;
      case 0x4a: // BININT
        stack.push(buf.readInt32LE(p));
        p += 4;
        break;
      case 0x8a: {
        // LONG1
        const n = buf[p++];
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[p + i]);
        if (n > 0 && buf[p + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        p += n;
        stack.push(v);
        break;
      }
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x51: // BINPERSID
        stack.push({ persistent: pop() });
        break;
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        if (!Array.isArray(args) || typeof fn !== 'object' || fn === null || !('global' in fn)) throw new Error('REDUCE needs a global and a tuple');
        stack.push({ call: fn.global, args });
        break;
      }
      case 0x71: // BINPUT
        memo.set(buf[p++], stack[stack.length - 1] as PickleValue);
        break;
      case 0x68: // BINGET
        stack.push(memo.get(buf[p++])!);
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) throw new Error(`STOP with ${stack.length} items on the stack`);
        return pop();
      default:
        throw new Error(`unsupported pickle opcode 0x${op?.toString(16)} at ${p - 1}`);
    }
  }
}

/** Decode the archive into its float32 tensor, checking every piece of the expected structure. */
export function loadTorchFloatTensor(archive: Buffer): { shape: number[]; values: Float32Array; folder: string; files: Map<string, ZipFile> } {
  const files = readZip(archive);
  const names = [...files.keys()];
  const folder = names[0].split('/')[0];
  if (!names.every((n) => n.startsWith(`${folder}/`))) throw new Error('entries are not under one top-level folder');
  const version = files.get(`${folder}/version`);
  if (!version || version.data.toString() !== '3\n') throw new Error('missing or wrong version record');
  const root = unpickle(files.get(`${folder}/data.pkl`)!.data) as { call: string; args: PickleValue[] };
  if (root.call !== 'torch._utils._rebuild_tensor_v2') throw new Error(`root call is ${root.call}`);
  const [storage, offset, size, stride, requiresGrad, hooks] = root.args as [
    { persistent: PickleValue[] },
    number,
    number[],
    number[],
    boolean,
    { call: string; args: PickleValue[] },
  ];
  const [tag, storageType, key, location, numel] = storage.persistent as [string, { global: string }, string, string, number];
  if (tag !== 'storage' || storageType.global !== 'torch.FloatStorage' || location !== 'cpu') throw new Error('unexpected persistent id');
  if (offset !== 0 || requiresGrad !== false) throw new Error('unexpected offset or requires_grad');
  if (hooks.call !== 'collections.OrderedDict' || hooks.args.length !== 0) throw new Error('backward hooks are not an empty OrderedDict');
  const raw = files.get(`${folder}/data/${key}`)!;
  if (raw.data.length !== Number(numel) * 4) throw new Error('storage size does not match numel');
  const values = new Float32Array(Number(numel));
  for (let i = 0; i < values.length; i++) values[i] = raw.data.readFloatLE(i * 4);
  // Contiguous row-major strides, as torch would compute them.
  const expected = size.map((_, i) => size.slice(i + 1).reduce((a, b) => a * b, 1));
  if (JSON.stringify(stride) !== JSON.stringify(expected)) throw new Error(`strides ${stride} are not contiguous for ${size}`);
  return { shape: size.map(Number), values, folder, files };
}
