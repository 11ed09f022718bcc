import { closeSync, openSync, writeFileSync, writeSync, ftruncateSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RowReader, decodeFloats, encodeSafetensors, readSafetensorsHeader, readTensors } from '../../../src/worker/runtime/safetensors';

const dir = mkdtempSync(path.join(tmpdir(), 'confab-st-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('safetensors', () => {
  it('decodes F32, F16 and BF16 from their bit patterns', () => {
    const out = new Float32Array(4);
    // F16: 1.0 = 0x3c00, -2.0 = 0xc000, 65504 = 0x7bff, smallest subnormal 2^-24 = 0x0001
    decodeFloats('F16', Uint8Array.from([0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00]), out);
    expect(Array.from(out)).toEqual([1, -2, 65504, 2 ** -24]);
    // BF16: 1.0 = 0x3f80, -0.5 = 0xbf00, 3.140625 = 0x4049, 1e38-ish = 0x7e96
    decodeFloats('BF16', Uint8Array.from([0x80, 0x3f, 0x00, 0xbf, 0x49, 0x40, 0x96, 0x7e]), out);
    expect(out[0]).toBe(1);
    expect(out[1]).toBe(-0.5);
    expect(out[2]).toBe(3.140625);
    expect(out[3]).toBeCloseTo(9.9688e37, -34);
    const f32 = Buffer.alloc(8);
    f32.writeFloatLE(0.1, 0);
    f32.writeFloatLE(-7.25, 4);
    decodeFloats('F32', f32, out);
    expect(out[0]).toBe(Math.fround(0.1));
    expect(out[1]).toBe(-7.25);
    // F64 is narrowed to the nearest float32
    const f64 = Buffer.alloc(16);
    f64.writeDoubleLE(0.1, 0);
    f64.writeDoubleLE(1 / 3, 8);
    decodeFloats('F64', f64, out);
    expect([out[0], out[1]]).toEqual([Math.fround(0.1), Math.fround(1 / 3)]);
  });

  it('round-trips tensors of every float dtype through a file', () => {
    const file = path.join(dir, 'mixed.safetensors');
    const values = Float32Array.from([0, 1, -1, 0.5, 2.25, -3.75]);
    writeFileSync(
      file,
      encodeSafetensors({
        a: { shape: [2, 3], data: values, dtype: 'F32' },
        b: { shape: [6], data: values, dtype: 'F16' },
        c: { shape: [3, 2], data: values, dtype: 'BF16' },
        d: { shape: [6], data: Float64Array.from(values), dtype: 'F64' },
      }),
    );
    const header = readSafetensorsHeader(file);
    expect(header.tensors.get('b')).toMatchObject({ dtype: 'F16', shape: [6], byteLength: 12 });
    expect(header.tensors.get('d')).toMatchObject({ dtype: 'F64', shape: [6], byteLength: 48 });
    const t = readTensors(file, ['a', 'b', 'c', 'd'], header);
    for (const name of ['a', 'b', 'c', 'd']) expect(Array.from(t.get(name)!.data)).toEqual(Array.from(values));
    expect(t.get('c')!.shape).toEqual([3, 2]);
  });

  it('names the file and the tensor when one is missing or the header is broken', () => {
    const file = path.join(dir, 'one.safetensors');
    writeFileSync(file, encodeSafetensors({ W_enc: { shape: [2], data: Float32Array.from([1, 2]) } }));
    expect(() => readTensors(file, ['W_dec'])).toThrow(/one\.safetensors: no tensor "W_dec" \(the file has: W_enc\)/);
    const bad = path.join(dir, 'bad.safetensors');
    writeFileSync(bad, Buffer.from([0xff, 0xff, 0, 0, 0, 0, 0, 0, 1, 2]));
    expect(() => readSafetensorsHeader(bad)).toThrow(/bad\.safetensors: header length .* not a safetensors file/);
  });

  it('reads chosen embedding rows, scaled, by offset', async () => {
    const file = path.join(dir, 'emb.safetensors');
    const V = 10;
    const d = 4;
    const table = Float32Array.from({ length: V * d }, (_, i) => Math.floor(i / d) * 10 + (i % d));
    writeFileSync(file, encodeSafetensors({ 'embed_tokens.weight': { shape: [V, d], data: table, dtype: 'BF16' } }));
    const reader = await RowReader.open(file, 'embed_tokens.weight');
    const out = new Float32Array(3 * d);
    await reader.readRows([7, 0, 3], out, 2);
    expect(Array.from(out)).toEqual([140, 142, 144, 146, 0, 2, 4, 6, 60, 62, 64, 66]);
    await expect(reader.readRows([10], out)).rejects.toThrow(/row 10 is outside the table's 10 rows/);
    await reader.close();
  });

  it('reads one row of a 1 GiB table without loading it', async () => {
    // A sparse file: the header promises [262144, 1024] f32 (1 GiB) but only one row is written.
    const file = path.join(dir, 'big.safetensors');
    const rows = 262_144;
    const cols = 1024;
    let json = JSON.stringify({ 'model.embed_tokens.weight': { dtype: 'F32', shape: [rows, cols], data_offsets: [0, rows * cols * 4] } });
    while ((8 + json.length) % 8) json += ' ';
    const fd = openSync(file, 'w');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    writeSync(fd, len, 0, 8, 0);
    writeSync(fd, Buffer.from(json), 0, json.length, 8);
    const dataStart = 8 + json.length;
    ftruncateSync(fd, dataStart + rows * cols * 4);
    const row = Buffer.alloc(cols * 4);
    for (let j = 0; j < cols; j++) row.writeFloatLE(j * 0.5, j * 4);
    const target = 200_001;
    writeSync(fd, row, 0, row.length, dataStart + target * cols * 4);
    closeSync(fd);

    const before = process.memoryUsage().rss;
    const reader = await RowReader.open(file, 'model.embed_tokens.weight');
    const out = new Float32Array(2 * cols);
    await reader.readRows([target, target + 1], out);
    await reader.close();
    expect(out[0]).toBe(0);
    expect(out[cols - 1]).toBe((cols - 1) * 0.5);
    expect(out[cols + 5]).toBe(0);
    // Loading the table would add ~1 GiB; reading two rows adds next to nothing.
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 2 ** 20);
  });
});
