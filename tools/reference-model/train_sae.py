"""Collect layer-L activations and train a TopK SAE (SAELens format): d_sae 1024, k 16.

Also writes the feature labels, derived only from each feature's top-activating contexts.
"""
import collections
import json
import math
import time

import numpy as np
import torch

from acts import collect, facts, load_docs, load_lm
from common import D_MODEL, QUICK, set_seed, setup_threads, work, write_json

SEED = 1338
D_SAE, K, K_AUX = 1024, 16, 256
STEPS = 300 if QUICK else 2500
BATCH = 1024
LR = 2e-3
DEAD_AFTER = 500  # steps without firing before a latent counts as dead for the AuxK loss
AUX_COEF = 1 / 32
PER_DOC_TRAIN = 4 if QUICK else 10
TOP_CONTEXTS = 20


class TopKSAE(torch.nn.Module):
    def __init__(self, d, n, k):
        super().__init__()
        self.k = k
        W = torch.randn(n, d)
        W = W / W.norm(dim=1, keepdim=True)
        self.W_dec = torch.nn.Parameter(W.clone())
        self.W_enc = torch.nn.Parameter(W.t().clone())
        self.b_enc = torch.nn.Parameter(torch.zeros(n))
        self.b_dec = torch.nn.Parameter(torch.zeros(d))

    def pre(self, x):
        return (x - self.b_dec) @ self.W_enc + self.b_enc

    def encode(self, x):
        pre = self.pre(x)
        v, i = pre.topk(self.k, dim=-1)
        return torch.zeros_like(pre).scatter(-1, i, torch.relu(v)), pre

    def decode(self, f):
        return f @ self.W_dec + self.b_dec


def main():
    setup_threads()
    set_seed(SEED)
    rng = np.random.default_rng(SEED)
    docs = load_docs()
    lm = load_lm()
    tr = [i for i, d in enumerate(docs) if d['split'] == 'train']
    te = [i for i, d in enumerate(docs) if d['split'] == 'test']
    t0 = time.time()
    xtr, mtr = collect(lm, [docs[i] for i in tr], rng, PER_DOC_TRAIN)
    mtr[:, 0] = torch.tensor(tr)[mtr[:, 0]]
    xte, mte = collect(lm, [docs[i] for i in te], rng, 0, all_positions=True)
    mte[:, 0] = torch.tensor(te)[mte[:, 0]]
    print(f'activations: train {len(xtr)}, held-out {len(xte)} ({time.time() - t0:.0f}s)', flush=True)
    torch.save({'x': xtr, 'meta': mtr}, work('acts_train.pt'))
    torch.save({'x': xte, 'meta': mte}, work('acts_test.pt'))

    sae = TopKSAE(D_MODEL, D_SAE, K)
    with torch.no_grad():
        sae.b_dec.copy_(xtr.median(0).values)
    var = ((xtr - xtr.mean(0)) ** 2).sum(-1).mean()
    opt = torch.optim.Adam(sae.parameters(), lr=LR)
    since = torch.zeros(D_SAE)
    g = torch.Generator().manual_seed(SEED)
    for step in range(STEPS):
        lr = LR * min(1.0, (STEPS - step) / (0.2 * STEPS))
        for grp in opt.param_groups:
            grp['lr'] = lr
        x = xtr[torch.randint(0, len(xtr), (BATCH,), generator=g)]
        f, pre = sae.encode(x)
        r = sae.decode(f)
        err = x - r
        loss = (err ** 2).sum(-1).mean() / var
        since += 1
        since[(f > 0).any(0)] = 0
        dead = since > DEAD_AFTER
        if dead.any():  # AuxK: let dead latents explain the residual error
            pd = pre.masked_fill(~dead, -1e9)
            kk = min(K_AUX, int(dead.sum()))
            v, i = pd.topk(kk, dim=-1)
            fa = torch.zeros_like(pre).scatter(-1, i, torch.relu(v))
            ra = fa @ sae.W_dec
            loss = loss + AUX_COEF * ((err.detach() - ra) ** 2).sum(-1).mean() / var
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            sae.W_dec /= sae.W_dec.norm(dim=1, keepdim=True)
        if step % 500 == 0 or step == STEPS - 1:
            print(f'step {step} loss {loss.item():.4f} dead {int(dead.sum())}', flush=True)

    with torch.no_grad():
        f, _ = sae.encode(xte)
        r = sae.decode(f)
        ev = 1 - ((xte - r) ** 2).sum(-1).mean() / ((xte - xte.mean(0)) ** 2).sum(-1).mean()
        # feature statistics and labels from the training activations
        vals, idxs = [], []
        for i in range(0, len(xtr), 8192):
            ff, _ = sae.encode(xtr[i:i + 8192])
            v, ix = ff.topk(K, dim=-1)
            vals.append(v)
            idxs.append(ix)
        vals, idxs = torch.cat(vals), torch.cat(idxs)
    print(f'held-out FVE (SAELens explained variance) {ev.item():.4f}')
    labels, n_dead = label_features(docs, mtr, vals.numpy(), idxs.numpy())
    torch.save(sae.state_dict(), work('sae.pt'))
    write_json(work('labels.json'), labels)
    write_json(work('metrics_sae.json'), {'d_sae': D_SAE, 'k': K, 'steps': STEPS, 'batch': BATCH,
                                          'train_activations': len(xtr), 'heldout_activations': len(xte),
                                          'heldout_explained_variance': ev.item(), 'dead_features': n_dead,
                                          'label_sample': len(xtr)})


def byte_name(b):
    # bytes of multi-byte UTF-8 characters are not characters on their own: name them in hex
    return json.dumps(chr(b)) if b < 0x80 else f'byte 0x{b:02X}'


def label_features(docs, meta, vals, idxs):
    """Label = what the top-activating contexts share: the token, the current word, the source.

    A part is stated only when it holds for at least half of the top contexts; counts are given so
    a reader can judge. A feature that never fires on the sample is marked dead.
    """
    flat_f = idxs.reshape(-1)
    flat_v = vals.reshape(-1)
    flat_n = np.repeat(np.arange(len(idxs)), idxs.shape[1])
    alive = flat_v > 0
    flat_f, flat_v, flat_n = flat_f[alive], flat_v[alive], flat_n[alive]
    order = np.lexsort((-flat_v, flat_f))
    flat_f, flat_v, flat_n = flat_f[order], flat_v[order], flat_n[order]
    bounds = np.searchsorted(flat_f, np.arange(D_SAE + 1))
    labels, n_dead = [], 0
    for f in range(D_SAE):
        s, e = bounds[f], bounds[f + 1]
        if e == s:
            n_dead += 1
            labels.append({'index': f, 'description': 'dead feature (never active on the labelling sample)',
                           'typeName': 'dead'})
            continue
        top = flat_n[s:min(e, s + TOP_CONTEXTS)]
        fs = [facts(docs[meta[n, 0]], int(meta[n, 1]), int(meta[n, 2])) for n in top]
        m = len(fs)
        parts = []
        tok, c = collections.Counter(byte_name(x['byte']) for x in fs).most_common(1)[0]
        if c * 2 >= m:
            parts.append(f'token {tok} ({c}/{m})')
        w, c = collections.Counter(x['word'] for x in fs).most_common(1)[0]
        if c * 2 >= m and w:
            parts.append(f'word "{w}" ({c}/{m})')
        src, c = collections.Counter(x['src'] for x in fs).most_common(1)[0]
        if c * 2 >= m:
            parts.append(f'{src} ({c}/{m})')
        if not parts:
            parts.append('mixed tokens: ' + ', '.join(t for t, _ in collections.Counter(
                byte_name(x['byte']) for x in fs).most_common(3)))
        labels.append({'index': f, 'description': '; '.join(parts) + f'; fires on {e - s} of {len(idxs)} tokens',
                       'typeName': 'top-contexts'})
    return labels, n_dead


if __name__ == '__main__':
    main()
