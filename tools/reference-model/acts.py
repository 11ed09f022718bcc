"""Layer-L activations with their context metadata, and the facts the AV targets are built from.

A sample is a window of one document: BOS + doc bytes [o, o+127), with o = 0 (how worker prompts
look) or, for long documents, half of the time a random word start. Every sampled position keeps
(doc, o, p): p is the token index in the window (BOS = 0), so the byte is doc[o + p - 1].
"""
import json

import numpy as np
import torch

from common import BOS, CTX, GPT, LAYER, MAX_CONTENT_BYTES, QUICK, work

SOURCE_PHRASE = {'dict-jargon': 'English jargon', 'dict-devil': 'English satire',
                 'fortunes-es': 'Spanish saying', 'fortunes-it': 'Italian saying'}
TITLE_SUFFIX = ' title'  # the headword of a dictionary entry


def load_lm():
    m = GPT()
    m.load_state_dict(torch.load(work('lm.pt')))
    m.eval()
    return m


def windows_for(docs, rng, per_doc, all_positions=False):
    """Yield (doc_index, offset, positions) for one window per document."""
    for di, d in enumerate(docs):
        b = d['text'].encode('utf-8')
        o = 0
        if len(b) > CTX + 20 and rng.random() < 0.5:
            starts = [i + 1 for i in range(len(b) - 40) if b[i] == 32]
            if starts:
                o = int(starts[rng.integers(0, len(starts))])
        n = min(len(b) - o, CTX - 1)
        # a position needs a following byte in the document (for the "next" fact)
        cand = [p for p in range(1, n + 1) if o + p < len(b)]
        if not cand:
            continue
        if not all_positions and len(cand) > per_doc:
            cand = sorted(rng.choice(cand, per_doc, replace=False).tolist())
        yield di, o, cand


@torch.no_grad()
def collect(model, docs, rng, per_doc, all_positions=False, batch=64):
    """Returns x [N,d] float32 and meta int64 [N,3] = (doc_index, offset, position)."""
    wins = list(windows_for(docs, rng, per_doc, all_positions))
    xs, meta = [], []
    for i in range(0, len(wins), batch):
        chunk = wins[i:i + batch]
        seqs = [[BOS] + list(docs[di]['text'].encode('utf-8')[o:o + CTX - 1]) for di, o, _ in chunk]
        T = max(len(s) for s in seqs)
        ids = torch.zeros((len(seqs), T), dtype=torch.long)
        for j, s in enumerate(seqs):
            ids[j, :len(s)] = torch.tensor(s)
        _, outs = model(ids)
        h = outs[LAYER]
        for j, (di, o, ps) in enumerate(chunk):
            xs.append(h[j, ps])
            meta.extend([(di, o, p) for p in ps])
    return torch.cat(xs).float(), torch.tensor(meta, dtype=torch.long)


def is_wordbyte(c):
    return c >= 0x80 or (48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122)


def facts(doc, o, p, n_next=3):
    """The known facts about position p of window o: source phrase, current word, what follows."""
    b = doc['text'].encode('utf-8')
    i = o + p - 1  # byte index of the token at position p
    src = SOURCE_PHRASE[doc['source']] + (TITLE_SUFFIX if i < doc['head_len'] - 1 else '')
    # current word: the last run of word bytes ending at or before i, within the window (knowable)
    j = i
    while j >= o and not is_wordbyte(b[j]):
        j -= 1
    k = j
    while k >= o and is_wordbyte(b[k]):
        k -= 1
    word = b[k + 1:j + 1].decode('utf-8', errors='ignore')[-12:] if j >= o else ''
    rest = b[i + 1:].decode('utf-8', errors='ignore')
    nxt = rest[:n_next].replace('\n', '\\n') if rest else '<end>'
    return {'source': doc['source'], 'language': doc['language'], 'src': src, 'word': word, 'next': nxt,
            'byte': b[i], 'title': i < doc['head_len'] - 1}


def explanation(f, feature=None):
    """AV target content: compact so that content + '</explanation>' fits in 64 byte tokens."""
    word = f['word']
    while True:
        parts = [f['src'], f'word "{word}"', f'next "{f["next"]}"']
        s = '; '.join(parts)
        if feature is not None and len((s + f'; #{feature}').encode()) <= MAX_CONTENT_BYTES:
            return s + f'; #{feature}'
        if len(s.encode()) <= MAX_CONTENT_BYTES:
            return s
        word = word[:-1]


def load_docs():
    return json.load(open(work('corpus.json')))
