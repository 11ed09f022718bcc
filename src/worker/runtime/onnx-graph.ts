/**
 * ONNX graph nodes and value infos read from, and written back to, protobuf bytes: the parts of
 * onnx.proto3 that the load-time graph rewrites inspect. Every other field is kept verbatim.
 */
import { concatBytes, fieldText as text, lenField, readFields, strField, type Field } from './protobuf';

export interface Node {
  inputs: string[];
  outputs: string[];
  op: string;
  /** Fields other than input/output, verbatim (name, op_type, attributes, domain...). */
  rest: Uint8Array[];
  attrs: Map<string, { i?: number; t?: Uint8Array; ints?: number[] }>;
}

export function parseNode(buf: Uint8Array): Node {
  const node: Node = { inputs: [], outputs: [], op: '', rest: [], attrs: new Map() };
  for (const f of readFields(buf)) {
    if (f.field === 1) node.inputs.push(text(f));
    else if (f.field === 2) node.outputs.push(text(f));
    else {
      node.rest.push(f.raw);
      if (f.field === 4) node.op = text(f);
      if (f.field === 5 && f.payload) {
        let name = '';
        const attr: { i?: number; t?: Uint8Array } = {};
        for (const a of readFields(f.payload)) {
          if (a.field === 1) name = text(a);
          if (a.field === 3 && a.value !== undefined) attr.i = a.value;
          if (a.field === 5) attr.t = a.payload;
        }
        node.attrs.set(name, attr);
      }
    }
  }
  return node;
}

export const encodeNode = (n: Node) => concatBytes([...n.inputs.map((s) => strField(1, s)), ...n.outputs.map((s) => strField(2, s)), ...n.rest]);

/** First value of an int64 TensorProto (int64_data or raw_data); undefined for other types. */
export function int64Scalar(tensor: Uint8Array): number | undefined {
  let type = 0;
  let value: number | undefined;
  for (const f of readFields(tensor)) {
    if (f.field === 2) type = f.value ?? 0;
    if (f.field === 7) value = f.wire === 2 ? readFields(concatBytes([Uint8Array.from([8]), f.payload!]))[0].value : f.value;
    if (f.field === 9 && f.payload && f.payload.length >= 8) value = Number(new DataView(f.payload.buffer, f.payload.byteOffset, 8).getBigInt64(0, true));
  }
  return type === 7 ? value : undefined;
}

/** dim entries (raw TensorShapeProto.Dimension fields) of a ValueInfoProto's tensor type. */
export function valueInfoDims(vi: Uint8Array): { elemType: Field; dims: Uint8Array[] } | null {
  const type = readFields(vi).find((f) => f.field === 2)?.payload;
  const tensor = type && readFields(type).find((f) => f.field === 1)?.payload;
  if (!tensor) return null;
  const fields = readFields(tensor);
  const elemType = fields.find((f) => f.field === 1);
  const shape = fields.find((f) => f.field === 2)?.payload;
  if (!elemType || !shape) return null;
  return { elemType, dims: readFields(shape).filter((f) => f.field === 1).map((f) => f.raw) };
}

export function valueInfo(name: string, elemType: Field, dims: Uint8Array[]): Uint8Array {
  const tensor = concatBytes([elemType.raw, lenField(2, concatBytes(dims))]);
  return concatBytes([strField(1, name), lenField(2, lenField(1, tensor))]);
}

/** The graph (field 7) of a ModelProto, its fields and its parsed nodes; null when absent. */
export function readGraph(model: Uint8Array): { top: Field[]; graphField: Field; graph: Field[]; nodes: Node[] } | null {
  const top = readFields(model);
  const graphField = top.find((f) => f.field === 7);
  if (!graphField?.payload) return null;
  const graph = readFields(graphField.payload);
  return { top, graphField, graph, nodes: graph.filter((f) => f.field === 1).map((f) => parseNode(f.payload!)) };
}

/** The name of a ValueInfoProto (a graph input or output). */
export const valueInfoName = (vi: Field) => text(readFields(vi.payload!).find((f) => f.field === 1)!);
