import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { crc32, torchSaveFloat32 } from '../../../src/worker/remote/torch-archive';
import { loadTorchFloatTensor } from './torch-reader';
import { crc32 as zlibCrc32 } from 'node:zlib';

function randomTensor(n: number, seed: number): Float32Array {
  let s = seed;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    out[i] = (s / 2 ** 31 - 0.5) * 300;
  }
  return out;
}

describe('torch.save archive writer', () => {
  it('decodes with an independent zip + pickle reader to the same floats and shape', () => {
    const T = 23;
    const d = 128;
    const values = randomTensor(T * d, 7);
    values[5] = -0;
    values[6] = 1e-40; // a subnormal survives the trip bit for bit
    const archive = torchSaveFloat32(values, [T, d]);
    const decoded = loadTorchFloatTensor(archive);
    expect(decoded.shape).toEqual([T, d]);
    expect(decoded.folder).toBe('archive');
    expect(Buffer.from(decoded.values.buffer).equals(Buffer.from(values.buffer))).toBe(true);
    expect([...decoded.files.keys()].sort()).toEqual(['archive/data.pkl', 'archive/data/0', 'archive/version']);
    // Storage bytes are 64-byte aligned, as torch's writer leaves them (mmap-able).
    expect(decoded.files.get('archive/data/0')!.dataOffset % 64).toBe(0);
  });

  it('uses BININT for dimensions past 255 (a 3584-wide Qwen row) and stays exact', () => {
    const values = randomTensor(3 * 3584, 11);
    const decoded = loadTorchFloatTensor(torchSaveFloat32(values, [3, 3584]));
    expect(decoded.shape).toEqual([3, 3584]);
    expect(decoded.values).toEqual(values);
  });

  it('computes the IEEE CRC-32 that zlib computes', () => {
    for (const text of ['', 'a', '123456789', 'torch archive \u320e']) {
      const bytes = Buffer.from(text);
      expect(crc32(bytes)).toBe(zlibCrc32(bytes) >>> 0);
    }
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });

  it('refuses a shape that does not match the values', () => {
    expect(() => torchSaveFloat32(new Float32Array(10), [3, 4])).toThrow(/needs 12 values, got 10/);
  });

  // A third check where Debian's python3-torch is installed (the model builders' machines):
  // torch itself loads the archive with weights_only, the way vLLM does.
  const python = '/usr/bin/python3';
  const hasTorch = existsSync(python) && (() => {
    try {
      execFileSync(python, ['-c', 'import torch'], { stdio: 'ignore', timeout: 30_000 });
      return true;
    } catch {
      return false;
    }
  })();
  // CI installs it (.ci/run), so there a missing torch is a failure, not a skip.
  it.skipIf(!hasTorch && process.env.CI !== 'true')('loads in real torch.load(weights_only=True)', () => {
    const values = randomTensor(4 * 128, 3);
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'confab-torch-')), 'embeds.pt');
    writeFileSync(file, torchSaveFloat32(values, [4, 128]));
    const out = execFileSync(
      python,
      ['-c', 'import sys,torch,json; t=torch.load(sys.argv[1], weights_only=True); print(json.dumps({"shape": list(t.shape), "dtype": str(t.dtype), "sum": float(t.double().sum()), "first": float(t[0,0]), "last": float(t[-1,-1])}))', file],
      { encoding: 'utf8', timeout: 60_000 },
    );
    const info = JSON.parse(out) as { shape: number[]; dtype: string; sum: number; first: number; last: number };
    expect(info.shape).toEqual([4, 128]);
    expect(info.dtype).toBe('torch.float32');
    expect(info.first).toBe(values[0]);
    expect(info.last).toBe(values[values.length - 1]);
    expect(info.sum).toBeCloseTo(values.reduce((a, b) => a + b, 0), 2);
  });
});
