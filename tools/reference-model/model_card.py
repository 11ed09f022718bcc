"""Write models/reference/MODEL_CARD.md from the measured figures in work/metrics_*.json."""
import json
import os
import subprocess

from common import AV_TEMPLATE, AR_TEMPLATE, CTX, D_MODEL, LAYER, N_HEAD, N_LAYER, QUICK, out, work
from train_lm import LR, MIN_LR, WEIGHT_DECAY
from train_sae import AUX_COEF, D_SAE, DEAD_AFTER, K, K_AUX, PER_DOC_TRAIN, TOP_CONTEXTS
from train_sae import LR as SAE_LR
from train_nla import AR_LR, AV_LR

LICENCES = {
    'dict-jargon': ('The Jargon File 4.4.7 (Eric S. Raymond et al.), Debian package dict-jargon 4.4.7-3.1',
                    '"The Jargon File is in the public domain" (debian/copyright, License: public-domain): '
                    '"to be freely used, shared, and modified". Cite as "Jargon File 4.4.7".'),
    'dict-devil': ("The Devil's Dictionary (Ambrose Bierce, 1911 edition), Debian package dict-devil 1.0-13.1",
                   '"The Devil\'s Dictionary is in the public domain, its copyright has expired" '
                   '("A Public Domain Text, Copyright Expired", Internet Wiretap edition, 1993).'),
    'fortunes-es': ('Spanish fortunes (Frases y Proverbios, R. Canteros; chorrada, U. Lusa), Debian package fortunes-es 1.36',
                    '"All fortunes\' text and quotes are presumed to be in the public domain"; the GPL in the '
                    'same file covers only the packaging programs. The package\'s offensive set (off/) and '
                    'asimov.fortunes (quotations of a recent copyrighted author) are left out.'),
    'fortunes-it': ('Italian fortunes (fortune-it project), Debian package fortunes-it 1.99-4.1',
                    '"Contained files are not copyrighted ... Consider this package freeware (public domain). '
                    'You may do whatever you want with this package." Files that quote recent copyrighted works '
                    'at length are left out: adams, itatrek, jackfr, luttazzi (and banner, ASCII art).'),
}


def f3(v):
    return f'{v:.3f}'


def main():
    lm = json.load(open(work('metrics_lm.json')))
    sae = json.load(open(work('metrics_sae.json')))
    nla = json.load(open(work('metrics_nla.json')))
    ev = json.load(open(work('metrics_eval.json')))
    corpus = json.load(open(work('corpus_stats.json')))
    stats = json.load(open(out('stats.json')))
    sizes = {}
    for root, _, files in os.walk(out()):
        for fn in files:
            p = os.path.join(root, fn)
            sizes[os.path.relpath(p, out())] = os.path.getsize(p)
    total = sum(sizes.values())
    try:
        rev = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()
    except Exception:
        rev = '?'
    rows = '\n'.join(f'| {s} | {LICENCES[s][0]} | {c["docs"]} | {c["bytes"]:,} | {c["test_docs"]} | {LICENCES[s][1]} |'
                     for s, c in corpus.items())
    claims = '\n'.join(f'| {k} | {v["true"]} / {v["total"]} | {v["rate"]:.3f} |' for k, v in ev['claim_accuracy'].items())
    cell = lambda t: '`' + t.replace('|', '\\|').replace('`', "'") + '`'  # keep the table intact
    ex = '\n'.join(f'| {cell(e["explanation"])} | {cell(e["facts"])} |' for e in ev['examples'][:8])
    rt, dc, orc, sa = ev['round_trip'], ev['decoy'], ev['oracle_description'], ev['sae']
    card = f"""# confab-reference-v1: model card

A miniature interpretability stack that ships with Confab so that a machine with no internet and
no GPU can do the whole job: a byte-level subject LM, a TopK SAE on its middle layer, and an NLA
(AV + AR) fine-tuned from it, stored in the on-disk formats of real checkpoints.
{'**These are v0 artifacts from a QUICK (very short) build; the figures are not meaningful yet.**' if QUICK else ''}

Built by `tools/reference-model/build.sh` (Debian python3-torch 1.13.1, CPU, fixed seeds); scripts
at commit `{rev}` or later. Every figure below is written by `tools/reference-model/model_card.py`
from the build's own measurements.

## Data

Public-domain text from Debian bookworm packages only (extracted with `apt-get download` +
`dpkg-deb -x`, never installed). Each document keeps its metadata: source package, language,
domain (dictionary, or fortune file name), and the byte length of its headword (dictionaries).
Dictionary entries are `headword\\nbody` (Jargon File) or `HEADWORD, body` (Devil's Dictionary);
whitespace is reflowed. About 5 % of documents are held out by a hash of their text
(`split: test`); no held-out document is trained on by any stage.

| source | provenance | docs | bytes | held-out docs | licence (what the package's copyright file says) |
|---|---|---|---|---|---|
{rows}

## Subject LM

Byte-level GPT (pre-LayerNorm, GELU MLP, learned positions, tied embeddings): {N_LAYER} blocks,
d_model {D_MODEL}, {N_HEAD} heads, context {CTX}, vocab 260 (bytes 0..255, `<|bos|>` 256, `<|eos|>` 257,
`<|pad|>` 258, injection token `㈎` 259), {lm['params']:,} parameters. Trained {lm['steps']} steps x
{lm['batch']} x {CTX} tokens ({lm['tokens_seen']:,} tokens, {lm['tokens_seen'] / lm['train_bytes']:.2f} epochs) with AdamW
(lr {LR:g} cosine to {MIN_LR:g}, weight decay {WEIGHT_DECAY:g}) on the documents as `<|bos|> text <|eos|>`, windows starting at a
document start half of the time. Prompts are tokenized as BOS + UTF-8 bytes.

| held-out ({lm['heldout_docs']} docs, BOS + first 127 bytes) | bits per byte |
|---|---|
| subject LM | **{f3(lm['heldout_bits_per_byte'])}** |
| unigram byte baseline (fitted on the training bytes) | {f3(lm['unigram_bits_per_byte'])} |

Layer **L = {LAYER}**: the output of block {LAYER} (Hugging Face `hidden_states[{LAYER + 1}]`), the
residual stream the SAE and the NLA read. `subject.onnx` returns it as `hidden`, with the
full-model `logits`.

## SAE

TopK SAE, SAELens format (`sae/cfg.json`, `sae/sae_weights.safetensors`), d_in {D_MODEL}, d_sae {D_SAE},
k {K}, `apply_b_dec_to_input: true`, no activation normalization, hook `blocks.{LAYER}.hook_resid_post`.
Trained {sae['steps']} steps x {sae['batch']} on {sae['train_activations']:,} activations (up to {PER_DOC_TRAIN}
random positions per training document, BOS excluded), Adam lr {SAE_LR:g}, unit-norm decoder rows, AuxK loss
(k_aux {K_AUX}, coefficient {AUX_COEF:g}) for latents silent for {DEAD_AFTER} steps.

| figure | value |
|---|---|
| held-out explained variance (SAELens: 1 - E‖x-r‖² / (E‖x‖² - ‖Ex‖²)), {sae['heldout_activations']:,} held-out activations, every position | **{f3(sae['heldout_explained_variance'])}** |
| dead features (never active on the {sae['label_sample']:,}-token labelling sample) | {sae['dead_features']} of {D_SAE} |

**Labels** (`sae/labels.json`, Neuronpedia shape `{{index, description, typeName}}`) are derived
only from each feature's top {TOP_CONTEXTS} activating contexts on the training sample: the current token,
the current word and the source of each context are counted, and each is stated only when it holds
for at least half of them, with the count (e.g. `token "e" (14/20); Italian saying (12/20)`),
followed by how often the feature fires. When nothing holds for half, the three commonest tokens
are listed as `mixed tokens`. Dead features say `dead feature (...)`, typeName `dead`; nothing
is invented for them.

## NLA

Schema-2 sidecars `nla/av/nla_meta.yaml`, `nla/ar/nla_meta.yaml`; extraction layer {LAYER}.

**AV** (`nla/av/decoder.onnx` + `model.safetensors` key `embed_tokens.weight`, embed_scale 1.0):
the whole LM fine-tuned ({nla['av_steps']} steps x {nla['batch']}, AdamW lr {AV_LR:g}) on
{nla['train_pairs']:,} (activation, target) pairs from training documents.
- Template `{AV_TEMPLATE}` -> ids `{nla['template_ids']}`; the injection site is position
  {nla['site']} (token 259 between `[` 91 and `]` 93: neighbour ids 91 / 93).
- The activation is rescaled to norm **injection_scale = {nla['injection_scale']}** (the mean raw
  norm of layer-{LAYER} activations) and replaces that row of the embeddings.
- Target: `content</explanation><|eos|>`, where content states known facts of the context:
  `<source phrase>; word "<current word>"; next "<next 3 characters>"; #<strongest SAE feature>`.
  The source phrase is one of `English jargon`, `English satire`, `Spanish saying`, `Italian saying`
  (with ` title` when the token is in a dictionary headword). The word is the last run of letters or
  digits ending at the token (what the model has read); next is the true continuation (`\\n` for a
  newline, `<end>` at the end of a document). The feature part is dropped, then the word shortened,
  when content would exceed {64 - 14} bytes, so `content</explanation>` always fits in 64 new tokens.
- Because every part is a fact about the context, every mistake is a checkable confabulation.

**AR** (`nla/ar/ar.onnx`): blocks 0..{LAYER} of the LM (no final norm) plus a bias-free
Linear({D_MODEL}, {D_MODEL}) read at the last non-pad token; input `{AR_TEMPLATE}` right-padded with
`attention_mask`; trained {nla['ar_steps']} steps x {nla['batch']} (AdamW lr {AR_LR:g}) with MSE against
n(x) = sqrt(d) x/‖x‖ on the AV's targets.

## Held-out evaluation ({ev['n_eval']} activations from held-out documents)

`B` = {f3(stats['B'])} (mean_(i,d) (n(x_i) - mu)², {stats['n_reference']:,} held-out reference activations,
in `stats.json`); fve_nrm = 1 - 2(1 - cos)/B.

| reconstruction of x | cosine (mean) | cosine (median) | fve_nrm (mean) | fve_nrm (median) |
|---|---|---|---|---|
| NLA round trip: AV greedy -> AR | **{f3(rt['cosine_mean'])}** | {f3(rt['cosine_median'])} | **{f3(rt['fve_nrm_mean'])}** | {f3(rt['fve_nrm_median'])} |
| decoy: AV explanation of a different activation -> AR | {f3(dc['cosine_mean'])} | {f3(dc['cosine_median'])} | {f3(dc['fve_nrm_mean'])} | {f3(dc['fve_nrm_median'])} |
| true facts (the supervised target) -> AR | {f3(orc['cosine_mean'])} | {f3(orc['cosine_median'])} | {f3(orc['fve_nrm_mean'])} | {f3(orc['fve_nrm_median'])} |
| SAE decoder (same activations) | {f3(sa['cosine_mean'])} | {f3(sa['cosine_median'])} | {f3(sa['fve_nrm_mean'])} | {f3(sa['fve_nrm_median'])} |

The round trip beats its decoy on {100 * ev['round_trip_beats_decoy_rate']:.1f} % of items.
{100 * ev['parsed_rate']:.1f} % of AV outputs had both tags; {100 * ev['exact_match_rate']:.1f} % equal the true-facts target exactly.

Claims in the AV's explanations, checked against the context (source = whole source phrase incl.
` title`; language; word = exact; next = the true continuation starts with it; feature = among the
3 strongest SAE features at that token):

| claim kind | true / total | rate |
|---|---|---|
{claims}

Examples (AV explanation vs the true facts):

| AV explanation | true facts |
|---|---|
{ex}

## Gold set

`gold/gold_set.jsonl`: held-out items (documents never trained on), each with the prompt (the
document window), the token position (BOS = 0), the layer-{LAYER} activation (base64 float32 LE), the
AV's greedy explanation, the document's source and language, and every claim of the explanation with
its truth decided as above. Only tokens that are whole characters (ASCII bytes) are used.

## Files ({total / 1e6:.2f} MB in all)

| file | bytes |
|---|---|
""" + '\n'.join(f'| `{k}` | {v:,} |' for k, v in sorted(sizes.items())) + """

## Limits

A ~0.85M-parameter byte model on ~3.9 MB of text: the LM is weak, the AV reads only what layer
L holds, and its explanations are short templates, not free prose. It exists to exercise the
whole loop honestly, not to explain anything interesting.
"""
    with open(out('MODEL_CARD.md'), 'w', encoding='utf-8') as fh:
        fh.write(card)
    print('wrote', out('MODEL_CARD.md'))


if __name__ == '__main__':
    main()
