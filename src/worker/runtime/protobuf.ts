/**
 * The few protobuf wire-format pieces the worker's ONNX graph code needs (onnx.proto3): reading
 * a message into its fields, each kept verbatim so that unknown fields are copied byte for
 * byte, and writing varints and length-delimited fields.
 */

export interface Field {
  field: number;
  wire: number;
  /** The whole field, tag included, for verbatim copies. */
  raw: Uint8Array;
  /** Length-delimited payload (wire type 2). */
  payload?: Uint8Array;
  /** Varint value (wire type 0). */
  value?: number;
}

export function readFields(buf: Uint8Array): Field[] {
  const out: Field[] = [];
  let i = 0;
  const varint = () => {
    let r = 0;
    let m = 1;
    let b: number;
    do {
      if (i >= buf.length) throw new Error('truncated protobuf');
      b = buf[i++];
      r += (b & 0x7f) * m;
      m *= 128;
    } while (b & 0x80);
    return r;
  };
  while (i < buf.length) {
    const start = i;
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) {
      const value = varint();
      out.push({ field, wire, value, raw: buf.subarray(start, i) });
    } else if (wire === 2) {
      const len = varint();
      const payload = buf.subarray(i, i + len);
      i += len;
      out.push({ field, wire, payload, raw: buf.subarray(start, i) });
    } else if (wire === 5 || wire === 1) {
      i += wire === 5 ? 4 : 8;
      out.push({ field, wire, raw: buf.subarray(start, i) });
    } else {
      throw new Error(`unsupported protobuf wire type ${wire}`);
    }
  }
  return out;
}

const utf8 = new TextDecoder();
const encoder = new TextEncoder();

/** A length-delimited field's payload as UTF-8 text. */
export const fieldText = (f: Field) => utf8.decode(f.payload);

/** Base-128 varint bytes; arithmetic rather than bit shifts, so values past 2^31 stay exact. */
export function varintBytes(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

export function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function lenField(field: number, payload: Uint8Array): Uint8Array {
  return concatBytes([Uint8Array.from([...varintBytes((field << 3) | 2), ...varintBytes(payload.length)]), payload]);
}
export const strField = (field: number, s: string) => lenField(field, encoder.encode(s));
