/**
 * A two-node ONNX graph, `y = x W + b`, written as protobuf bytes in memory.
 *
 * The SAE encoder is one dense matmul: 128 x 1024 on the reference stack, but 3840 x 16384
 * (63M multiply-adds a position) for a Gemma Scope SAE. onnxruntime runs it with its BLAS
 * kernels, on CUDA too, which a JavaScript loop is far too slow to replace. No onnx package
 * is needed: the few protobuf fields below are the whole format this graph uses (onnx.proto3).
 */
import { concatBytes, varintBytes } from './protobuf';

class ProtoWriter {
  private chunks: Uint8Array[] = [];

  private varint(n: number): void {
    this.chunks.push(Uint8Array.from(varintBytes(n)));
  }

  int(field: number, value: number): this {
    this.varint((field << 3) | 0);
    this.varint(value);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.varint((field << 3) | 2);
    this.varint(value.length);
    this.chunks.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, build: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    return concatBytes(this.chunks);
  }
}

const FLOAT = 1; // TensorProto.DataType.FLOAT

function floatBytes(v: Float32Array): Uint8Array {
  const out = new Uint8Array(v.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < v.length; i++) view.setFloat32(i * 4, v[i], true);
  return out;
}

function tensorType(w: ProtoWriter, dims: Array<number | string>): void {
  // TypeProto.tensor_type { elem_type, shape { dim { dim_value | dim_param } } }
  w.message(1, (t) =>
    t.int(1, FLOAT).message(2, (shape) => {
      for (const d of dims) shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
    }),
  );
}

/** ONNX model bytes for `output = input @ weight + bias`, weight [rows, cols] row-major, input [N, rows]. */
export function linearOnnx(weight: Float32Array, bias: Float32Array, rows: number, cols: number, names = { input: 'x', output: 'y' }): Uint8Array {
  if (weight.length !== rows * cols || bias.length !== cols) throw new Error(`linear graph: weight ${weight.length} / bias ${bias.length} do not match [${rows}, ${cols}]`);
  const model = new ProtoWriter();
  model.int(1, 8); // ir_version
  model.string(2, 'confab');
  model.message(8, (op) => op.string(1, '').int(2, 17)); // opset_import: default domain, 17
  model.message(7, (graph) => {
    graph.message(1, (node) => node.string(1, names.input).string(1, 'W').string(2, 'xW').string(3, 'matmul').string(4, 'MatMul'));
    graph.message(1, (node) => node.string(1, 'xW').string(1, 'b').string(2, names.output).string(3, 'add').string(4, 'Add'));
    graph.string(2, 'linear');
    graph.message(5, (t) => t.int(1, rows).int(1, cols).int(2, FLOAT).string(8, 'W').bytes(9, floatBytes(weight)));
    graph.message(5, (t) => t.int(1, cols).int(2, FLOAT).string(8, 'b').bytes(9, floatBytes(bias)));
    graph.message(11, (vi) => vi.string(1, names.input).message(2, (ty) => tensorType(ty, ['N', rows])));
    graph.message(12, (vi) => vi.string(1, names.output).message(2, (ty) => tensorType(ty, ['N', cols])));
  });
  return model.finish();
}
