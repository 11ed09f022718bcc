/**
 * The .npz reader on the archive shapes numpy and big Gemma Scope files produce beyond the
 * fixtures: a ZIP64 central directory (entries past 4 GiB need one) and its errors.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readNpyArray, readNpzDirectory } from '../../../src/worker/runtime/npy';

const NPZ = path.resolve(__dirname, '../../fixtures/sae-owners/gemma-scope-npz/params.npz');
const REFERENCE = JSON.parse(readFileSync(path.resolve(__dirname, '../../fixtures/sae-owners/reference.json'), 'utf8')) as Record<string, { weights: Record<string, number[]> }>;
const tmp = mkdtempSync(path.join(tmpdir(), 'confab-npz-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/**
 * The same archive with every central-directory size and offset moved into a ZIP64 extra field,
 * and a ZIP64 end-of-central-directory record and locator before the classic one (APPNOTE 4.3.14-16).
 */
function toZip64Directory(zip: Buffer): Buffer {
  const eocd = zip.length - 22;
  expect(zip.readUInt32LE(eocd)).toBe(0x06054b50);
  const count = zip.readUInt16LE(eocd + 10);
  const cdOffset = zip.readUInt32LE(eocd + 16);
  const entries: Buffer[] = [];
  let p = cdOffset;
  for (let e = 0; e < count; e++) {
    const nameLen = zip.readUInt16LE(p + 28);
    const extraLen = zip.readUInt16LE(p + 30);
    const commentLen = zip.readUInt16LE(p + 32);
    const fixed = Buffer.from(zip.subarray(p, p + 46));
    const extra = Buffer.alloc(28);
    extra.writeUInt16LE(1, 0);
    extra.writeUInt16LE(24, 2);
    extra.writeBigUInt64LE(BigInt(fixed.readUInt32LE(24)), 4);
    extra.writeBigUInt64LE(BigInt(fixed.readUInt32LE(20)), 12);
    extra.writeBigUInt64LE(BigInt(fixed.readUInt32LE(42)), 20);
    fixed.writeUInt32LE(0xffffffff, 20);
    fixed.writeUInt32LE(0xffffffff, 24);
    fixed.writeUInt32LE(0xffffffff, 42);
    fixed.writeUInt16LE(extraLen + 28, 30);
    const name = zip.subarray(p + 46, p + 46 + nameLen);
    const rest = zip.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen + commentLen);
    entries.push(Buffer.concat([fixed, name, extra, rest]));
    p += 46 + nameLen + extraLen + commentLen;
  }
  const cd = Buffer.concat(entries);
  const rec = Buffer.alloc(56);
  rec.writeUInt32LE(0x06064b50, 0);
  rec.writeBigUInt64LE(44n, 4);
  rec.writeUInt16LE(45, 12);
  rec.writeUInt16LE(45, 14);
  rec.writeBigUInt64LE(BigInt(count), 24);
  rec.writeBigUInt64LE(BigInt(count), 32);
  rec.writeBigUInt64LE(BigInt(cd.length), 40);
  rec.writeBigUInt64LE(BigInt(cdOffset), 48);
  const locator = Buffer.alloc(20);
  locator.writeUInt32LE(0x07064b50, 0);
  locator.writeBigUInt64LE(BigInt(cdOffset + cd.length), 8);
  locator.writeUInt32LE(1, 16);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(0xffff, 8);
  end.writeUInt16LE(0xffff, 10);
  end.writeUInt32LE(0xffffffff, 12);
  end.writeUInt32LE(0xffffffff, 16);
  return Buffer.concat([zip.subarray(0, cdOffset), cd, rec, locator, end]);
}

describe('npz archives', () => {
  it('reads a ZIP64 central directory to the same arrays', () => {
    const file = path.join(tmp, 'zip64.npz');
    writeFileSync(file, toZip64Directory(readFileSync(NPZ)));
    const plain = readNpzDirectory(NPZ);
    const zip64 = readNpzDirectory(file);
    expect([...zip64.arrays.keys()]).toEqual([...plain.arrays.keys()]);
    for (const name of plain.arrays.keys()) {
      expect(zip64.arrays.get(name)).toMatchObject({ shape: plain.arrays.get(name)!.shape, dtype: 'F32' });
      expect(Array.from(readNpyArray(zip64, name))).toEqual(REFERENCE['gemma-scope-npz'].weights[name].map(Math.fround));
    }
  });

  it('refuses a ZIP64 end record without its locator, and names a missing array with those it has', () => {
    const zip64 = toZip64Directory(readFileSync(NPZ));
    const locator = zip64.length - 42;
    zip64.writeUInt32LE(0, locator);
    const file = path.join(tmp, 'no-locator.npz');
    writeFileSync(file, zip64);
    expect(() => readNpzDirectory(file)).toThrow(/no-locator\.npz: the ZIP64 end-of-central-directory locator is missing/);
    expect(() => readNpyArray(readNpzDirectory(NPZ), 'W_gate')).toThrow(/params\.npz: no array "W_gate" \(the archive has: W_enc, W_dec, b_dec, b_enc, threshold\)/);
  });

  it('refuses an archive whose entries are not .npy arrays', () => {
    const bytes = readFileSync(NPZ);
    let at = bytes.indexOf('threshold.npy');
    while (at >= 0) {
      bytes.write('threshold.txt', at);
      at = bytes.indexOf('threshold.npy', at + 1);
    }
    const file = path.join(tmp, 'txt.npz');
    writeFileSync(file, bytes);
    expect(() => readNpzDirectory(file)).toThrow(/txt\.npz: entry "threshold\.txt" is not an \.npy array/);
  });
});
