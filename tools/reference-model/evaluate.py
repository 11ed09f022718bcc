"""Held-out evaluation of the NLA and the SAE on one scale, plus the gold set.

On N_EVAL held-out activations x (documents never trained on):
- round trip: AV greedy explanation -> AR -> r; cosine(r, x) and fve_nrm = 1 - 2(1 - cos)/B;
- decoy: the AV explanation of a *different* held-out activation, through the same AR;
- oracle: the supervised target (the true facts) through the AR, an upper reference;
- SAE: its reconstruction of the same x, cosine and fve_nrm.
Claims of every explanation are checked against the known facts of the context.
"""
import base64
import math
import re

import numpy as np
import torch

from acts import SOURCE_PHRASE, explanation, facts, load_docs
from common import (BOS, CTX, LAYER, QUICK, decode, encode, out, set_seed, setup_threads, token_text, work,
                    write_json)
from export import Subject, av_greedy, load_models, parse_explanation
from train_nla import pad_batch

SEED = 1340
N_EVAL = 300 if QUICK else 1000
N_GOLD = 220 if QUICK else 300
CLAIM_RE = re.compile(r'^(?P<src>.*?)(?:; word "(?P<word>.*?)")?(?:; next "(?P<next>.*?)")?(?:; #(?P<feat>\d+))?$', re.S)
LANGS = {'English', 'Spanish', 'Italian'}


def claims_of(text, f, top3):
    """Split an explanation into checkable claims and decide each against the facts f."""
    m = CLAIM_RE.match(text)
    cl = []
    src = (m.group('src') or '').strip()
    if src:
        cl.append({'text': src, 'kind': 'source', 'truth': src == f['src']})
        lang = src.split(' ')[0]
        if lang in LANGS:
            cl.append({'text': lang, 'kind': 'language', 'truth': lang == f['language']})
    if m.group('word') is not None:
        cl.append({'text': f'word "{m.group("word")}"', 'kind': 'word', 'truth': m.group('word') == f['word']})
    if m.group('next') is not None:
        n = m.group('next')
        ok = (n == f['next']) if '<end>' in (n, f['next']) else (len(n) > 0 and f['rest'].startswith(n))
        cl.append({'text': f'next "{n}"', 'kind': 'next', 'truth': ok})
    if m.group('feat') is not None:
        cl.append({'text': f'#{m.group("feat")}', 'kind': 'feature', 'truth': int(m.group('feat')) in top3})
    return cl


@torch.no_grad()
def ar_vectors(ar, texts):
    outs = []
    for i in range(0, len(texts), 256):
        ids, mask = pad_batch([encode(t, add_bos=True)[:CTX] for t in texts[i:i + 256]])
        outs.append(ar(ids, mask))
    return torch.cat(outs)


def cos(a, b):
    return torch.nn.functional.cosine_similarity(a, b, dim=-1)


def summarize(c, B):
    return {'cosine_mean': float(c.mean()), 'cosine_median': float(c.median()),
            'fve_nrm_mean': float((1 - 2 * (1 - c) / B).mean()), 'fve_nrm_median': float((1 - 2 * (1 - c) / B).median())}


def main():
    setup_threads()
    set_seed(SEED)
    import json
    docs = load_docs()
    lm, sae, av, ar = load_models()
    stats = json.load(open(out('stats.json')))
    scale = json.load(open(work('metrics_nla.json')))['injection_scale']
    B = stats['B']
    te = torch.load(work('acts_test.pt'))
    g = torch.Generator().manual_seed(SEED)
    sel = torch.randperm(len(te['x']), generator=g)[:N_EVAL]
    x, meta = te['x'][sel], te['meta'][sel]

    gens = []
    for i in range(0, len(x), 200):
        gens += av_greedy(av, x[i:i + 200], scale)
    parsed = [parse_explanation(gg) for gg in gens]
    texts = [p[0] for p in parsed]
    with torch.no_grad():
        fsae, _ = sae.encode(x)
        rs = sae.decode(fsae)
        top3 = fsae.topk(3, dim=-1).indices
        strongest = fsae.argmax(-1)
    fs = []
    for m in meta:
        d = docs[int(m[0])]
        f = facts(d, int(m[1]), int(m[2]))
        i = int(m[1]) + int(m[2]) - 1
        f['rest'] = d['text'].encode('utf-8')[i + 1:].decode('utf-8', errors='ignore').replace('\n', '\\n')
        fs.append(f)
    oracle = [explanation(f, int(s)) for f, s in zip(fs, strongest)]
    perm = torch.roll(torch.arange(len(x)), 1)  # decoy: the explanation of the neighbouring (different) item
    r_rt = ar_vectors(ar, texts)
    r_or = ar_vectors(ar, oracle)
    c_rt, c_dec, c_or, c_sae = cos(r_rt, x), cos(r_rt[perm], x), cos(r_or, x), cos(rs, x)

    kinds = {}
    for t, f, t3 in zip(texts, fs, top3.tolist()):
        for c in claims_of(t, f, t3):
            k = kinds.setdefault(c['kind'], [0, 0])
            k[0] += c['truth']
            k[1] += 1
    metrics = {
        'n_eval': len(x), 'B': B,
        'round_trip': summarize(c_rt, B), 'decoy': summarize(c_dec, B), 'oracle_description': summarize(c_or, B),
        'sae': summarize(c_sae, B),
        'sae_explained_variance': float(1 - ((x - rs) ** 2).sum(-1).mean() / stats['raw_total_variance']),
        'round_trip_beats_decoy_rate': float((c_rt > c_dec).float().mean()),
        'parsed_rate': float(np.mean([p[1] for p in parsed])),
        'exact_match_rate': float(np.mean([t == o for t, o in zip(texts, oracle)])),
        'claim_accuracy': {k: {'true': v[0], 'total': v[1], 'rate': v[0] / max(1, v[1])} for k, v in kinds.items()},
        'examples': [{'explanation': t, 'facts': o} for t, o in list(zip(texts, oracle))[:12]],
    }
    write_json(work('metrics_eval.json'), metrics, indent=1)
    print(json.dumps({k: v for k, v in metrics.items() if k != 'examples'}, indent=1))

    # ---- gold set: held-out items with whole-character tokens; prompt = the window text ----
    subject = Subject(lm)
    lines, n = [], 0
    for j in range(len(x)):
        if n >= N_GOLD:
            break
        di, o, p = (int(v) for v in meta[j])
        d = docs[di]
        b = d['text'].encode('utf-8')
        if b[o + p - 1] >= 0x80:
            continue
        L = min(len(b) - o, CTX - 1)
        while True:
            try:
                prompt = b[o:o + L].decode('utf-8')
                break
            except UnicodeDecodeError:
                L -= 1
        ids = encode(prompt, add_bos=True)
        assert ids[p] == b[o + p - 1]
        with torch.no_grad():
            h, _ = subject(torch.tensor([ids]))
        act = h[0, p].numpy().astype('<f4')
        assert np.allclose(act, x[j].numpy(), atol=1e-4)
        lines.append(json.dumps({
            'id': f'ref-{n:04d}', 'prompt': prompt, 'position': p, 'token': token_text(ids[p]),
            'activation': base64.b64encode(act.tobytes()).decode(), 'explanation': texts[j],
            'source': d['source'], 'language': d['language'],
            'claims': claims_of(texts[j], fs[j], top3[j].tolist())}, ensure_ascii=False))
        n += 1
    with open(out('gold', 'gold_set.jsonl'), 'w', encoding='utf-8') as fh:
        fh.write('\n'.join(lines) + '\n')
    print(f'gold set: {n} items')


if __name__ == '__main__':
    main()
