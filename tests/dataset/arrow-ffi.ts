/**
 * A second, independent Parquet reader for the tests: parquet-wasm (Rust arrow-rs compiled to
 * WebAssembly) decodes the file, and this module reads the resulting Arrow arrays straight out
 * of WebAssembly memory through the Arrow C Data Interface
 * (https://arrow.apache.org/docs/format/CDataInterface.html), so no JS Arrow library is needed.
 *
 * Struct layouts are those of wasm32: pointers are 4 bytes, int64 fields are 8-byte aligned.
 *   ArrowSchema: format@0 name@4 metadata@8 flags@16(i64) n_children@24(i64) children@32 ...
 *   ArrowArray:  length@0 null_count@8 offset@16 n_buffers@24 n_children@32 (all i64)
 *                buffers@40 children@44 ...
 * Only the types the dataset writes are supported: int32/int64, float32/float64, bool, utf8,
 * timestamps, and (large) lists of those.
 */
import { readFileSync } from 'node:fs';
import { readParquet, wasmMemory } from 'parquet-wasm/node';

type Value = number | bigint | string | boolean | null | Value[];

function cString(mem: DataView, ptr: number): string {
  if (ptr === 0) return '';
  let end = ptr;
  while (mem.getUint8(end) !== 0) end++;
  return new TextDecoder().decode(new Uint8Array(mem.buffer, ptr, end - ptr));
}

interface Field {
  format: string;
  name: string;
  nullable: boolean;
  children: Field[];
}

function readSchema(mem: DataView, ptr: number): Field {
  const nChildren = Number(mem.getBigInt64(ptr + 24, true));
  const childrenPtr = mem.getUint32(ptr + 32, true);
  const flags = Number(mem.getBigInt64(ptr + 16, true));
  const children: Field[] = [];
  for (let i = 0; i < nChildren; i++) children.push(readSchema(mem, mem.getUint32(childrenPtr + 4 * i, true)));
  return { format: cString(mem, mem.getUint32(ptr, true)), name: cString(mem, mem.getUint32(ptr + 4, true)), nullable: (flags & 2) !== 0, children };
}

function readArray(mem: DataView, field: Field, ptr: number): Value[] {
  const length = Number(mem.getBigInt64(ptr, true));
  const offset = Number(mem.getBigInt64(ptr + 16, true));
  const buffersPtr = mem.getUint32(ptr + 40, true);
  const childrenPtr = mem.getUint32(ptr + 44, true);
  const buffer = (i: number) => mem.getUint32(buffersPtr + 4 * i, true);
  const validity = buffer(0);
  const valid = (i: number) => validity === 0 || (mem.getUint8(validity + ((offset + i) >> 3)) >> ((offset + i) & 7)) & 1;
  const out: Value[] = [];
  const f = field.format;
  if (f === '+l' || f === '+L') {
    const offsets = buffer(1);
    const child = readArray(mem, field.children[0], mem.getUint32(childrenPtr, true));
    for (let i = 0; i < length; i++) {
      if (!valid(i)) {
        out.push(null);
        continue;
      }
      const at = (k: number) => (f === '+l' ? mem.getInt32(offsets + 4 * k, true) : Number(mem.getBigInt64(offsets + 8 * k, true)));
      out.push(child.slice(at(offset + i), at(offset + i + 1)));
    }
    return out;
  }
  for (let i = 0; i < length; i++) {
    if (!valid(i)) {
      out.push(null);
      continue;
    }
    const j = offset + i;
    if (f === 'i') out.push(mem.getInt32(buffer(1) + 4 * j, true));
    else if (f === 'l' || f.startsWith('ts')) out.push(mem.getBigInt64(buffer(1) + 8 * j, true));
    else if (f === 'f') out.push(mem.getFloat32(buffer(1) + 4 * j, true));
    else if (f === 'g') out.push(mem.getFloat64(buffer(1) + 8 * j, true));
    else if (f === 'b') out.push(((mem.getUint8(buffer(1) + (j >> 3)) >> (j & 7)) & 1) === 1);
    else if (f === 'u' || f === 'U') {
      const wide = f === 'U';
      const at = (k: number) => (wide ? Number(mem.getBigInt64(buffer(1) + 8 * k, true)) : mem.getInt32(buffer(1) + 4 * k, true));
      const start = at(j);
      out.push(new TextDecoder().decode(new Uint8Array(mem.buffer, buffer(2) + start, at(j + 1) - start)));
    } else throw new Error(`arrow-ffi: unsupported format ${f} for column ${field.name}`);
  }
  return out;
}

export interface ArrowColumns {
  /** Column name -> Arrow format string (e.g. 'i', 'g', 'u', '+l'). */
  formats: Record<string, string>;
  /** Child format of list columns. */
  listItemFormats: Record<string, string>;
  rows: Array<Record<string, Value>>;
}

/** Reads a whole Parquet file with parquet-wasm and returns its rows as plain values. */
export function readParquetWithArrowRs(file: string): ArrowColumns {
  const table = readParquet(new Uint8Array(readFileSync(file)));
  const formats: Record<string, string> = {};
  const listItemFormats: Record<string, string> = {};
  const rows: Array<Record<string, Value>> = [];
  for (const batch of table.recordBatches()) {
    const ffi = batch.intoFFI();
    const mem = new DataView(wasmMemory().buffer);
    const schema = readSchema(mem, ffi.schemaAddr());
    const arrayPtr = ffi.arrayAddr();
    const childrenPtr = mem.getUint32(arrayPtr + 44, true);
    const columns = schema.children.map((field, c) => {
      formats[field.name] = field.format;
      if (field.children.length === 1) listItemFormats[field.name] = field.children[0].format;
      return readArray(mem, field, mem.getUint32(childrenPtr + 4 * c, true));
    });
    const n = Number(mem.getBigInt64(arrayPtr, true));
    for (let r = 0; r < n; r++) {
      const row: Record<string, Value> = {};
      schema.children.forEach((field, c) => (row[field.name] = columns[c][r]));
      rows.push(row);
    }
    ffi.free();
  }
  table.free();
  return { formats, listItemFormats, rows };
}
