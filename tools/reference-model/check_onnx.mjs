// Checks the exported artifacts with onnxruntime-node (the runtime the worker uses):
// every graph loads, shapes match the manifest, and the golden files are reproduced,
// including AV greedy decoding with embeddings built and injected outside the graph.
// Run from the repository root: node tools/reference-model/check_onnx.mjs
import fs from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';

const dir = process.argv[2] ?? 'models/reference';
const opts = { executionProviders: ['cpu'], logSeverityLevel: 3, intraOpNumThreads: 1 };
const j = (p) => JSON.parse(fs.readFileSync(path.join(dir, p), 'utf8'));
const maxDiff = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
let failures = 0;
const check = (ok, msg) => { console.log(`${ok ? 'ok  ' : 'FAIL'} ${msg}`); if (!ok) failures++; };

function safetensors(p) {
  const buf = fs.readFileSync(path.join(dir, p));
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString());
  const out = {};
  for (const [k, m] of Object.entries(header)) {
    if (k === '__metadata__') continue;
    const [s, e] = m.data_offsets;
    const b = buf.subarray(8 + n + s, 8 + n + e);
    out[k] = { shape: m.shape, data: new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)) };
  }
  return out;
}
const i64 = (rows) => new ort.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0].length]);

const stats = j('stats.json');
const d = stats.d_model;

// subject
const subj = await ort.InferenceSession.create(path.join(dir, 'subject.onnx'), opts);
const gs = j('golden/subject.json');
const so = await subj.run({ input_ids: i64([gs.input_ids]) });
check(JSON.stringify(so.hidden.dims) === JSON.stringify([1, gs.input_ids.length, d]), `subject hidden dims ${so.hidden.dims}`);
check(so.logits.dims[2] === 260, `subject logits dims ${so.logits.dims}`);
const hd = maxDiff(Array.from(so.hidden.data), gs.hidden.flat());
check(hd < gs.tolerance, `subject hidden max diff ${hd.toExponential(2)}`);

// SAE (topk, apply_b_dec_to_input)
const sae = safetensors('sae/sae_weights.safetensors');
const cfg = j('sae/cfg.json');
const ga = j('golden/sae.json');
const x = so.hidden.data.slice(ga.position * d, (ga.position + 1) * d);
const pre = new Float32Array(cfg.d_sae);
for (let f = 0; f < cfg.d_sae; f++) {
  let s = sae.b_enc.data[f];
  for (let i = 0; i < d; i++) s += (x[i] - sae.b_dec.data[i]) * sae.W_enc.data[i * cfg.d_sae + f];
  pre[f] = s;
}
const top = Array.from(pre, (v, i) => [i, v]).sort((a, b) => b[1] - a[1]).slice(0, cfg.k).filter((t) => t[1] > 0);
check(JSON.stringify(top.map((t) => t[0])) === JSON.stringify(ga.top_features.map((t) => t.index)), `sae top features ${top.slice(0, 4).map((t) => t[0])}`);

// AV: build embeddings, inject at the neighbour-checked site, greedy with KV cache
const meta = fs.readFileSync(path.join(dir, 'nla/av/nla_meta.yaml'), 'utf8');
const num = (k) => Number(new RegExp(`${k}: ([0-9.e+-]+)`).exec(meta)[1]);
const gav = j('golden/av.json');
const emb = safetensors('nla/av/model.safetensors')['embed_tokens.weight'];
const av = await ort.InferenceSession.create(path.join(dir, 'nla/av/decoder.onnx'), opts);
const site = gav.template_ids.findIndex((t, i) => t === num('injection_token_id') &&
  gav.template_ids[i - 1] === num('injection_left_neighbor_id') && gav.template_ids[i + 1] === num('injection_right_neighbor_id'));
check(site === gav.injection_site, `av injection site ${site}`);
const scale = num('injection_scale');
const T = gav.template_ids.length;
const e = new Float32Array(T * d);
gav.template_ids.forEach((t, p) => e.set(emb.data.subarray(t * d, (t + 1) * d), p * d));
const norm = Math.hypot(...gav.activation);
for (let i = 0; i < d; i++) e[site * d + i] = gav.activation[i] * scale / norm;
const nL = 4, nH = 4, hdim = d / nH;
let past = new ort.Tensor('float32', new Float32Array(0), [nL, 2, 1, nH, 0, hdim]);
let inp = new ort.Tensor('float32', e, [1, T, d]);
const gen = [];
const close = Array.from(Buffer.from('</explanation>'));
const t0 = performance.now();
for (let step = 0; step < gav.max_new_tokens; step++) {
  const o = await av.run({ inputs_embeds: inp, past });
  const V = o.logits.dims[2], tl = o.logits.dims[1];
  const last = o.logits.data.subarray((tl - 1) * V, tl * V);
  let best = 0;
  for (let v = 1; v < V; v++) if (last[v] > last[best]) best = v;
  gen.push(best);
  past = o.present;
  if (best === 257 || gen.slice(-close.length).join() === close.join()) break;
  inp = new ort.Tensor('float32', emb.data.slice(best * d, (best + 1) * d), [1, 1, d]);
}
check(gen.join() === gav.greedy_ids.join(), `av greedy (${(performance.now() - t0).toFixed(0)} ms): ${JSON.stringify(Buffer.from(gen.filter((t) => t < 256)).toString())}`);
check(past.dims[4] === T + gen.length - 1, `av present dims ${past.dims}`);

// AR
const ar = await ort.InferenceSession.create(path.join(dir, 'nla/ar/ar.onnx'), opts);
const gr = j('golden/ar.json');
const padded = [...gr.input_ids, 258, 258, 258];
const ao = await ar.run({ input_ids: i64([padded, padded]), attention_mask: i64([padded.map((t) => (t === 258 ? 0 : 1)), padded.map((t) => (t === 258 ? 0 : 1))]) });
check(JSON.stringify(ao.vector.dims) === JSON.stringify([2, d]), `ar vector dims ${ao.vector.dims}`);
const ad = maxDiff(Array.from(ao.vector.data.subarray(0, d)), gr.vector);
check(ad < 1e-4, `ar vector max diff (right padded) ${ad.toExponential(2)}`);
console.log(failures ? `${failures} check(s) failed` : 'all checks passed');
process.exit(failures ? 1 : 0);
