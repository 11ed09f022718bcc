"""Export every artifact of models/reference/ in the formats the worker reads (see the contract in
MODEL_CARD.md): ONNX opset 17 graphs with symbolic shapes, SAELens SAE, NLA sidecars, stats,
tokenizer, manifest and the golden files the TypeScript tests check.
"""
import base64
import json
import math
import os
import re

import numpy as np
import onnx
import torch

from acts import load_lm
from common import (AR_TEMPLATE, AV_TEMPLATE, BOS, D_MODEL, EOS, EXPL_CLOSE, EXPL_OPEN, GPT, INJ, INJECTION_CHAR,
                    LAYER, MAX_NEW_TOKENS, N_HEAD, N_LAYER, CTX, decode, encode, hf_tokenizer_json, nrm, out,
                    save_safetensors, setup_threads, work, write_json)
from train_nla import AR, SITE, TEMPLATE_IDS, injected_embeds, pad_batch
from train_sae import D_SAE, K, TopKSAE

OPSET = 17
N_STATS = 50000
GOLDEN_PROMPT = 'Hacker slang: a kludge is a clever, ugly fix.'
GOLDEN_SAE_POSITION = 15
GOLDEN_AR_TEXT = 'English jargon; word "kludge"; next " is"'


class Subject(torch.nn.Module):
    def __init__(self, lm):
        super().__init__()
        self.lm = lm

    def forward(self, input_ids):
        x, outs, _ = self.lm.run(self.lm.embed(input_ids))
        return outs[LAYER], self.lm.logits(x)


class AVDecoder(torch.nn.Module):
    """inputs_embeds [B,T,d] + past [n_layer,2,B,h,P,hd] -> logits [B,T,V], present [n_layer,2,B,h,P+T,hd]."""

    def __init__(self, av):
        super().__init__()
        self.av = av

    def forward(self, inputs_embeds, past):
        x, _, presents = self.av.run(inputs_embeds, past)
        return self.av.logits(x), torch.stack(presents)


def load_models():
    lm = load_lm()
    sae = TopKSAE(D_MODEL, D_SAE, K)
    sae.load_state_dict(torch.load(work('sae.pt')))
    av = GPT()
    av.load_state_dict(torch.load(work('av.pt')))
    av.eval()
    ar = AR(lm)
    ar.load_state_dict(torch.load(work('ar.pt')))
    ar.eval()
    return lm, sae, av, ar


def empty_past(B):
    return torch.zeros((N_LAYER, 2, B, N_HEAD, 0, D_MODEL // N_HEAD))


@torch.no_grad()
def av_greedy(av, xs, scale, max_new=MAX_NEW_TOKENS):
    """Greedy decoding with a KV cache, exactly as the worker does: stop at EOS or after '</explanation>'."""
    B = xs.shape[0]
    ids = torch.tensor([TEMPLATE_IDS] * B)
    emb = injected_embeds(av, ids, xs, scale)
    h, _, pres = av.run(emb, empty_past(B))
    past = torch.stack(pres)
    logits = av.logits(h[:, -1])
    gen = [[] for _ in range(B)]
    done = [False] * B
    close = list(EXPL_CLOSE.encode())
    for _ in range(max_new):
        nxt = logits.argmax(-1)
        for j in range(B):
            if not done[j]:
                gen[j].append(int(nxt[j]))
                if gen[j][-1] == EOS or gen[j][-len(close):] == close:
                    done[j] = True
        if all(done):
            break
        h, _, pres = av.run(av.embed(nxt[:, None]), past)
        past = torch.stack(pres)
        logits = av.logits(h[:, -1])
    return gen


def parse_explanation(gen_ids):
    raw = EXPL_OPEN + decode(gen_ids)
    m = re.search(r'<explanation>\s*(.*?)\s*</explanation>', raw, re.S)
    return (m.group(1), True) if m else (raw, False)


def export_onnx(module, args, path, input_names, output_names, dynamic_axes):
    torch.onnx.export(module, args, path, input_names=input_names, output_names=output_names,
                      dynamic_axes=dynamic_axes, opset_version=OPSET, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path))


def yaml_str(s):
    return json.dumps(s, ensure_ascii=False)  # a JSON string is a valid YAML double-quoted scalar


def main():
    setup_threads()
    lm, sae, av, ar = load_models()
    nla = json.load(open(work('metrics_nla.json')))
    scale = nla['injection_scale']
    for p in ['sae', 'nla/av', 'nla/ar', 'golden', 'gold']:
        os.makedirs(out(p), exist_ok=True)

    write_json(out('tokenizer.json'), hf_tokenizer_json(), indent=1)

    # ---- subject ----
    ids = torch.tensor([encode(GOLDEN_PROMPT, add_bos=True)])
    export_onnx(Subject(lm), (ids,), out('subject.onnx'), ['input_ids'], ['hidden', 'logits'],
                {'input_ids': {0: 'B', 1: 'T'}, 'hidden': {0: 'B', 1: 'T'}, 'logits': {0: 'B', 1: 'T'}})

    # ---- SAE (SAELens) ----
    cfg = {'architecture': 'topk', 'd_in': D_MODEL, 'd_sae': D_SAE, 'k': K, 'dtype': 'float32',
           'apply_b_dec_to_input': True, 'normalize_activations': 'none', 'rescale_acts_by_decoder_norm': False,
           'metadata': {'hook_name': f'blocks.{LAYER}.hook_resid_post', 'model_name': 'confab-reference'}}
    write_json(out('sae', 'cfg.json'), cfg, indent=1)
    save_safetensors(out('sae', 'sae_weights.safetensors'),
                     {'W_enc': sae.W_enc, 'b_enc': sae.b_enc, 'W_dec': sae.W_dec, 'b_dec': sae.b_dec})
    write_json(out('sae', 'labels.json'), json.load(open(work('labels.json'))), indent=0)

    # ---- AV ----
    B, P, T = 2, 3, 5
    hd = D_MODEL // N_HEAD
    export_onnx(AVDecoder(av), (torch.randn(B, T, D_MODEL), torch.randn(N_LAYER, 2, B, N_HEAD, P, hd)),
                out('nla', 'av', 'decoder.onnx'), ['inputs_embeds', 'past'], ['logits', 'present'],
                {'inputs_embeds': {0: 'B', 1: 'T'}, 'past': {2: 'B', 4: 'P'}, 'logits': {0: 'B', 1: 'T'},
                 'present': {2: 'B', 4: 'P_plus_T'}})
    save_safetensors(out('nla', 'av', 'model.safetensors'), {'embed_tokens.weight': av.wte.weight})
    left, right = TEMPLATE_IDS[SITE - 1], TEMPLATE_IDS[SITE + 1]
    for role, inj_scale in [('av', scale), ('ar', None)]:
        with open(out('nla', role, 'nla_meta.yaml'), 'w', encoding='utf-8') as f:
            f.write(f"""schema_version: 2
kind: nla_model
role: {role}
d_model: {D_MODEL}
extraction: {{layer_index: {LAYER}, injection_scale: {'null' if inj_scale is None else inj_scale}, mse_scale: null}}
tokens: {{injection_char: {yaml_str(INJECTION_CHAR)}, injection_token_id: {INJ}, injection_left_neighbor_id: {left}, injection_right_neighbor_id: {right}}}
prompt_templates:
  av: {yaml_str(AV_TEMPLATE)}
  ar: {yaml_str(AR_TEMPLATE)}
""")

    # ---- AR ----
    ar_ids, ar_mask = pad_batch([encode(GOLDEN_AR_TEXT, add_bos=True), encode('Spanish saying', add_bos=True)])
    export_onnx(ar, (ar_ids, ar_mask), out('nla', 'ar', 'ar.onnx'), ['input_ids', 'attention_mask'], ['vector'],
                {'input_ids': {0: 'B', 1: 'T'}, 'attention_mask': {0: 'B', 1: 'T'}, 'vector': {0: 'B'}})

    # ---- stats from held-out reference activations ----
    te = torch.load(work('acts_test.pt'))
    g = torch.Generator().manual_seed(7)
    xs = te['x'][torch.randperm(len(te['x']), generator=g)[:N_STATS]].double()
    n = nrm(xs)
    mu = n.mean(0)
    norms = xs.norm(dim=-1)
    stats = {'d_model': D_MODEL, 'layer': LAYER, 'n_reference': len(xs), 'mu': mu.tolist(),
             'B': float(((n - mu) ** 2).mean()), 'raw_mean': xs.mean(0).tolist(),
             'raw_total_variance': float((xs ** 2).sum(-1).mean() - (xs.mean(0) ** 2).sum()),
             'norm_mean': float(norms.mean()), 'norm_std': float(norms.std())}
    write_json(out('stats.json'), stats)

    # ---- manifest ----
    with open(out('manifest.yaml'), 'w') as f:
        f.write(f"""name: confab-reference-v1
subject: {{onnx: subject.onnx, tokenizer: tokenizer.json, layer: {LAYER}, d_model: {D_MODEL}, max_tokens: {CTX},
          bos_token_id: {BOS}, hidden_output: hidden}}
sae: {{path: sae, labels: sae/labels.json}}
nla:
  av: {{path: nla/av, backend: onnx, onnx: decoder.onnx, embeddings: model.safetensors,
       embedding_key: embed_tokens.weight, embed_scale: 1.0, eos_token_id: {EOS}, max_new_tokens: {MAX_NEW_TOKENS}}}
  ar: {{path: nla/ar, backend: onnx, onnx: ar.onnx}}
stats: stats.json
execution_provider: cpu
""")

    # ---- golden files ----
    with torch.no_grad():
        hidden, _ = Subject(lm)(ids)
        write_json(out('golden', 'subject.json'), {'prompt': GOLDEN_PROMPT, 'input_ids': ids[0].tolist(),
                                                   'hidden': hidden[0].tolist(), 'tolerance': 1e-4})
        x = hidden[0, GOLDEN_SAE_POSITION]
        f, _ = sae.encode(x[None])
        v, i = f[0].topk(K)
        write_json(out('golden', 'sae.json'), {
            'prompt': GOLDEN_PROMPT, 'position': GOLDEN_SAE_POSITION, 'input_ids': ids[0].tolist(),
            'top_features': [{'index': int(a), 'activation': float(b)} for a, b in zip(i, v) if b > 0]})
        gen = av_greedy(av, x[None], scale)[0]
        write_json(out('golden', 'av.json'), {
            'prompt': GOLDEN_PROMPT, 'position': GOLDEN_SAE_POSITION,
            'activation': x.tolist(), 'template_ids': TEMPLATE_IDS, 'injection_site': SITE,
            'injection_scale': scale, 'max_new_tokens': MAX_NEW_TOKENS, 'greedy_ids': gen,
            'greedy_text': decode(gen)})
        a_ids = torch.tensor([encode(GOLDEN_AR_TEXT, add_bos=True)])
        vec = ar(a_ids, torch.ones_like(a_ids))
        write_json(out('golden', 'ar.json'), {'text': GOLDEN_AR_TEXT, 'input_ids': a_ids[0].tolist(),
                                              'vector': vec[0].tolist()})
    print('golden AV:', repr(decode(gen)))
    print('exported to', out())


if __name__ == '__main__':
    main()
