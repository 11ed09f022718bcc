/**
 * Per-layer KV inputs and outputs for an AV decoder exported with one stacked cache.
 *
 * The reference decoder takes `past` [n_layer, 2, B, n_head, P, head_dim] and returns `present`
 * stacked the same way. Inside, the graph slices `past` into layers and then into K and V
 * (two copies of the whole cache), concatenates each with the new step (the one copy attention
 * needs), and stacks the results twice more into `present`. Those extra copies grow with the
 * batch and the cache, so once the cache outgrows the CPU caches a batched decode step costs as
 * much per row as an unbatched one, and batching gains nothing.
 *
 * `splitKvCache` rewrites the graph's edges, not its arithmetic: the per-layer K and V slices
 * become inputs `past_key_{L}` / `past_value_{L}` [B, n_head, P, head_dim], the per-layer
 * concatenations become outputs `present_key_{L}` / `present_value_{L}`, and the now unused
 * slicing and stacking nodes are dropped. Every node that computes a number is kept as is, so
 * logits are bit-identical. A graph that does not have exactly this shape is left alone
 * (null), and the caller feeds the stacked cache.
 *
 * The protobuf handling covers the fields this needs (onnx.proto3); every other field is copied
 * byte for byte.
 */
import { encodeNode, int64Scalar, readGraph, valueInfo, valueInfoDims, valueInfoName as nameOf, type Node } from './onnx-graph';
import { concatBytes, fieldText as text, lenField, readFields, strField, varintBytes, type Field } from './protobuf';

export const kvInputName = (layer: number, which: 0 | 1) => `${which === 0 ? 'past_key' : 'past_value'}_${layer}`;
export const kvOutputName = (layer: number, which: 0 | 1) => `${which === 0 ? 'present_key' : 'present_value'}_${layer}`;

/**
 * The decoder with per-layer cache inputs/outputs, or null when the graph is not the stacked
 * layout described above (it is then used unchanged).
 */
export function splitKvCache(model: Uint8Array, pastName = 'past', presentName = 'present'): { model: Uint8Array; nLayer: number } | null {
  try {
    return rewrite(model, pastName, presentName);
  } catch {
    return null;
  }
}

function rewrite(model: Uint8Array, pastName: string, presentName: string): { model: Uint8Array; nLayer: number } | null {
  const read = readGraph(model);
  if (!read) return null;
  const { top, graphField, graph, nodes } = read;
  const inputs = graph.filter((f) => f.field === 11);
  const outputs = graph.filter((f) => f.field === 12);
  const pastVi = inputs.find((f) => nameOf(f) === pastName);
  const presentVi = outputs.find((f) => nameOf(f) === presentName);
  if (!pastVi || !presentVi) return null;
  const pastType = valueInfoDims(pastVi.payload!);
  const presentType = valueInfoDims(presentVi.payload!);
  if (!pastType || !presentType || pastType.dims.length !== 6 || presentType.dims.length !== 6) return null;

  const consts = new Map<string, number>();
  for (const n of nodes) {
    const t = n.op === 'Constant' ? n.attrs.get('value')?.t : undefined;
    const v = t && int64Scalar(t);
    if (v !== undefined) consts.set(n.outputs[0], v);
  }
  for (const f of graph.filter((g) => g.field === 5)) {
    const v = int64Scalar(f.payload!);
    const name = readFields(f.payload!).find((g) => g.field === 8);
    if (v !== undefined && name) consts.set(text(name), v);
  }
  const consumers = (name: string) => nodes.filter((n) => n.inputs.includes(name));
  const producer = (name: string) => nodes.find((n) => n.outputs.includes(name));
  const axis = (n: Node) => n.attrs.get('axis')?.i ?? 0;
  const gatherIndex = (n: Node) => (n.op === 'Gather' && axis(n) === 0 ? consts.get(n.inputs[1]) : undefined);
  const stack = producer(presentName);
  if (!stack || stack.op !== 'Concat' || axis(stack) !== 0) return null;
  const nLayer = stack.inputs.length;

  // past -> Gather(layer) -> Gather(0 = K, 1 = V): rename the K/V slices to the new inputs.
  const renames = new Map<string, string>();
  const seen = new Set<string>();
  const shapeNodes: Node[] = [];
  for (const user of consumers(pastName)) {
    if (user.op === 'Shape' && user.attrs.size === 0) {
      shapeNodes.push(user);
      continue;
    }
    const layer = gatherIndex(user);
    if (layer === undefined || layer < 0 || layer >= nLayer) return null;
    for (const kv of consumers(user.outputs[0])) {
      const which = gatherIndex(kv);
      if (which !== 0 && which !== 1) return null;
      renames.set(kv.outputs[0], kvInputName(layer, which));
      seen.add(`${layer}/${which}`);
    }
  }
  if (seen.size !== 2 * nLayer) return null;

  // Shape(past)[i] for i >= 2 (B, n_head, P, head_dim) is Shape(past_key_0)[i - 2].
  const extraInitializers: Uint8Array[] = [];
  for (const shape of shapeNodes) {
    for (const g of consumers(shape.outputs[0])) {
      const i = gatherIndex(g);
      if (i === undefined || i < 2 || i > 5) return null;
      const constName = `confab_kv_axis_${i - 2}`;
      if (!consts.has(constName)) {
        const raw = new Uint8Array(8);
        new DataView(raw.buffer).setBigInt64(0, BigInt(i - 2), true);
        extraInitializers.push(lenField(5, concatBytes([Uint8Array.from([2 << 3, 7]), strField(8, constName), lenField(9, raw)])));
        consts.set(constName, i - 2);
      }
      g.inputs[1] = constName;
    }
    shape.inputs[0] = kvInputName(0, 0);
  }

  // present = Concat_0(Unsqueeze_0(Concat_0(Unsqueeze_0(K_L), Unsqueeze_0(V_L))) for each L).
  const unsqueezed = (name: string) => {
    const u = producer(name);
    if (!u || u.op !== 'Unsqueeze' || consts.get(u.inputs[1]) !== 0) return null;
    return u.inputs[0];
  };
  const outputNames = new Map<string, string>();
  for (let layer = 0; layer < nLayer; layer++) {
    const pair = producer(unsqueezed(stack.inputs[layer]) ?? '');
    if (!pair || pair.op !== 'Concat' || axis(pair) !== 0 || pair.inputs.length !== 2) return null;
    for (const which of [0, 1] as const) {
      const full = unsqueezed(pair.inputs[which]);
      if (!full) return null;
      outputNames.set(full, kvOutputName(layer, which));
    }
  }
  // Slices are renamed where they are read (their Gathers then fall out as unused); the full
  // K/V tensors where they are made and read.
  for (const [from, to] of outputNames) renames.set(from, to);
  for (const n of nodes) {
    n.inputs = n.inputs.map((s) => renames.get(s) ?? s);
    n.outputs = n.outputs.map((s) => outputNames.get(s) ?? s);
  }

  // Drop the nodes nothing needs any more (ONNX nodes are in topological order).
  const keptOutputs = outputs.filter((f) => f !== presentVi).map(nameOf);
  const cacheOutputs = Array.from({ length: nLayer }, (_, l) => [kvOutputName(l, 0), kvOutputName(l, 1)]).flat();
  const needed = new Set([...keptOutputs, ...cacheOutputs]);
  const live: boolean[] = new Array(nodes.length).fill(false);
  for (let i = nodes.length - 1; i >= 0; i--) {
    if (nodes[i].outputs.some((o) => needed.has(o))) {
      live[i] = true;
      for (const s of nodes[i].inputs) needed.add(s);
    }
  }
  if (needed.has(pastName) || needed.has(presentName)) return null;

  const cacheDims = (t: { dims: Uint8Array[] }) => t.dims.slice(2);
  const parts: Uint8Array[] = [];
  let nodeIndex = 0;
  for (const f of graph) {
    if (f.field === 1) {
      const n = nodes[nodeIndex];
      if (live[nodeIndex++]) parts.push(lenField(1, encodeNode(n)));
    } else if (f.field === 11) {
      if (f !== pastVi) parts.push(f.raw);
    } else if (f.field === 12) {
      if (f !== presentVi) parts.push(f.raw);
    } else if (f.field !== 13) {
      // value_info (13) is dropped: it names values this rewrite removed or renamed; ORT infers shapes.
      parts.push(f.raw);
    }
  }
  parts.push(...extraInitializers);
  for (let l = 0; l < nLayer; l++) {
    for (const which of [0, 1] as const) parts.push(lenField(11, valueInfo(kvInputName(l, which), pastType.elemType, cacheDims(pastType))));
  }
  for (let l = 0; l < nLayer; l++) {
    for (const which of [0, 1] as const) parts.push(lenField(12, valueInfo(kvOutputName(l, which), presentType.elemType, cacheDims(presentType))));
  }
  const newGraph = concatBytes(parts);
  return { model: concatBytes(top.map((f) => (f === graphField ? lenField(7, newGraph) : f.raw))), nLayer };
}

/**
 * The graph with only the outputs in `keep`, and without the nodes none of them needs, or null
 * when it is not a graph this reader handles or nothing would be dropped.
 *
 * onnxruntime runs every node of a session on each run, whatever outputs were asked for: the
 * reference subject computes block 3 and a 260-way LM head for `logits` that the worker never
 * reads, because layer L = 2 is the hidden state it wants. Pruning keeps the arithmetic of
 * every remaining node, so `hidden` is unchanged.
 */
export function pruneToOutputs(model: Uint8Array, keep: string[]): Uint8Array | null {
  try {
    const read = readGraph(model);
    if (!read) return null;
    const { top, graphField, graph, nodes } = read;
    const outputs = graph.filter((f) => f.field === 12);
      const kept = outputs.filter((f) => keep.includes(nameOf(f)));
    if (kept.length !== keep.length) return null;
    const needed = new Set(keep);
    const live: boolean[] = new Array(nodes.length).fill(false);
    for (let i = nodes.length - 1; i >= 0; i--) {
      if (nodes[i].outputs.some((o) => needed.has(o))) {
        live[i] = true;
        for (const s of nodes[i].inputs) needed.add(s);
      }
    }
    if (kept.length === outputs.length && live.every(Boolean)) return null;
    const parts: Uint8Array[] = [];
    let nodeIndex = 0;
    for (const f of graph) {
      if (f.field === 1) {
        // Kept verbatim: a pruned graph is the same nodes, fewer of them.
        if (live[nodeIndex++]) parts.push(f.raw);
      } else if (f.field === 12) {
        if (kept.includes(f)) parts.push(f.raw);
      } else {
        parts.push(f.raw);
      }
    }
    return concatBytes(top.map((f) => (f === graphField ? lenField(7, concatBytes(parts)) : f.raw)));
  } catch {
    return null;
  }
}

export const cacheInputName = (layer: number, which: 0 | 1) => `${which === 0 ? 'cache_key' : 'cache_value'}_${layer}`;
export const cacheStepOutputName = (layer: number, which: 0 | 1) => `${which === 0 ? 'new_key' : 'new_value'}_${layer}`;

/** AttributeProto `perm` (type INTS = 7): field 1 name, field 8 ints, field 20 type. */
function permAttribute(perm: number[]): Uint8Array {
  return concatBytes([strField(1, 'perm'), ...perm.map((v) => Uint8Array.from([8 << 3, ...varintBytes(v)])), Uint8Array.from([...varintBytes(20 << 3), 7])]);
}

function transposeNode(name: string, input: string, output: string, perm: number[]): Uint8Array {
  return lenField(1, concatBytes([strField(1, input), strField(2, output), strField(3, name), strField(4, 'Transpose'), lenField(5, permAttribute(perm))]));
}

/**
 * A decoder whose cache the caller can grow in place, from one with per-layer caches
 * (`splitKvCache`'s output), or null when the graph is not that shape.
 *
 * onnxruntime-node copies every output into a new, zero-filled ArrayBuffer. A decoder that
 * returns its whole cache (`present_*`, [B, n_head, P+T, head_dim]) therefore allocates the
 * cache anew on every step, and V8 answers that much external memory with frequent scavenges.
 * The rewritten graph takes each cache time-major, `cache_key_{L}` / `cache_value_{L}`
 * [P, B, n_head, head_dim], and returns only the rows this step adds, `new_key_{L}` /
 * `new_value_{L}` [T, B, n_head, head_dim]. Time-major, appending a step is writing at the end
 * of a buffer the caller allocated once, and the first P rows of that buffer are the next
 * step's input without a copy. Inside, a Transpose puts each cache back in the layout the
 * attention reads and the graph's own Concat is unchanged, so logits are bit-identical.
 */
export function appendableKvCache(splitModel: Uint8Array, nLayer: number): Uint8Array | null {
  try {
    return rewriteAppendable(splitModel, nLayer);
  } catch {
    return null;
  }
}

function rewriteAppendable(model: Uint8Array, nLayer: number): Uint8Array | null {
  const read = readGraph(model);
  if (!read) return null;
  const { top, graphField, graph, nodes } = read;
  const inputs = new Map(graph.filter((f) => f.field === 11).map((f) => [nameOf(f), f]));
  const outputs = new Map(graph.filter((f) => f.field === 12).map((f) => [nameOf(f), f]));

  const headTransposes: Uint8Array[] = [];
  const tailTransposes: Uint8Array[] = [];
  const dropInputs = new Set<Field>();
  const dropOutputs = new Set<Field>();
  const newInputs: Uint8Array[] = [];
  const newOutputs: Uint8Array[] = [];
  for (let l = 0; l < nLayer; l++) {
    for (const which of [0, 1] as const) {
      const pastName = kvInputName(l, which);
      const presentName = kvOutputName(l, which);
      const pastVi = inputs.get(pastName);
      const presentVi = outputs.get(presentName);
      if (!pastVi || !presentVi) return null;
      const pastType = valueInfoDims(pastVi.payload!);
      if (!pastType || pastType.dims.length !== 4) return null;
      // The one node that makes the full cache: Concat(past, new rows) on the time axis.
      const concat = nodes.filter((n) => n.outputs.includes(presentName));
      if (concat.length !== 1 || concat[0].op !== 'Concat' || concat[0].attrs.get('axis')?.i !== 2 || concat[0].inputs.length !== 2 || concat[0].inputs[0] !== pastName) return null;
      const stepRows = concat[0].inputs[1];

      // [P, B, h, hd] in; everything that read the per-layer cache reads its transpose.
      const cacheName = cacheInputName(l, which);
      const bhpd = `confab_${pastName}_bhpd`;
      for (const n of nodes) n.inputs = n.inputs.map((s) => (s === pastName ? bhpd : s));
      headTransposes.push(transposeNode(`confab_transpose_${cacheName}`, cacheName, bhpd, [1, 2, 0, 3]));
      const [b, h, p, hd] = pastType.dims;
      newInputs.push(lenField(11, valueInfo(cacheName, pastType.elemType, [p, b, h, hd])));
      dropInputs.add(pastVi);

      // [T, B, h, hd] out: only this step's rows.
      const stepName = cacheStepOutputName(l, which);
      tailTransposes.push(transposeNode(`confab_transpose_${stepName}`, stepRows, stepName, [2, 0, 1, 3]));
      const tDim = lenField(1, strField(2, 'T'));
      newOutputs.push(lenField(12, valueInfo(stepName, pastType.elemType, [tDim, b, h, hd])));
      dropOutputs.add(presentVi);
    }
  }
  const parts: Uint8Array[] = [...headTransposes];
  let nodeIndex = 0;
  for (const f of graph) {
    if (f.field === 1) parts.push(lenField(1, encodeNode(nodes[nodeIndex++])));
    else if (f.field === 11) {
      if (!dropInputs.has(f)) parts.push(f.raw);
    } else if (f.field === 12) {
      if (!dropOutputs.has(f)) parts.push(f.raw);
    } else if (f.field !== 13) parts.push(f.raw);
  }
  parts.push(...tailTransposes, ...newInputs, ...newOutputs);
  return concatBytes(top.map((f) => (f === graphField ? lenField(7, concatBytes(parts)) : f.raw)));
}
