"""Fine-tune the NLA from the subject LM: the AV (activation -> explanation) and the AR
(explanation -> activation).

AV: the activation, rescaled to norm INJECTION_SCALE, replaces the embedding of the injection
token in the fixed prompt '<|bos|>[㈎]<explanation>'; the target is 'content</explanation><|eos|>'
where content states known facts of the context (source and language, current word, what comes
next, the strongest SAE feature). AR: blocks 0..L of the LM plus a bias-free Linear(d, d), read at
the last non-pad token, trained with MSE against n(x) = sqrt(d) x/||x||.
"""
import copy
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from acts import explanation, facts, load_docs, load_lm
from common import (AV_TEMPLATE, BOS, CTX, D_MODEL, EOS, EXPL_CLOSE, INJ, INJECTION_CHAR, LAYER, PAD, QUICK, encode,
                    nrm, set_seed, setup_threads, work, write_json)
from train_sae import D_SAE, K, TopKSAE

SEED = 1339
AV_STEPS = 80 if QUICK else 900
AR_STEPS = 80 if QUICK else 1200
BATCH = 32
AV_LR, AR_LR = 1e-3, 1e-3
N_TRAIN_PAIRS = 20000 if QUICK else 200000

TEMPLATE_IDS = encode(AV_TEMPLATE.format(injection_char=INJECTION_CHAR))
SITE = TEMPLATE_IDS.index(INJ)


class AR(torch.nn.Module):
    def __init__(self, lm):
        super().__init__()
        self.wte, self.wpe = copy.deepcopy(lm.wte), copy.deepcopy(lm.wpe)
        self.blocks = torch.nn.ModuleList([copy.deepcopy(b) for b in lm.blocks[:LAYER + 1]])
        self.head = torch.nn.Linear(D_MODEL, D_MODEL, bias=False)

    def forward(self, ids, mask):
        T = ids.shape[1]
        x = self.wte(ids) + self.wpe(torch.arange(T)).unsqueeze(0)
        for b in self.blocks:
            x, _ = b(x)
        last = mask.sum(1) - 1  # right padded: the last real token
        h = x[torch.arange(ids.shape[0]), last]
        return self.head(h)


def injected_embeds(av, ids, x, scale):
    e = av.embed(ids)
    v = x * (scale / x.norm(dim=-1, keepdim=True))
    e = e.clone()
    e[:, SITE] = v
    return e


def pad_batch(seqs, pad=PAD):
    T = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), T), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), T), dtype=torch.long)
    for j, s in enumerate(seqs):
        ids[j, :len(s)] = torch.tensor(s)
        mask[j, :len(s)] = 1
    return ids, mask


def build_pairs(docs, meta, sae, x):
    with torch.no_grad():
        feats = []
        for i in range(0, len(x), 8192):
            f, _ = sae.encode(x[i:i + 8192])
            feats.append(f.argmax(-1))
        top = torch.cat(feats)
    return [explanation(facts(docs[int(m[0])], int(m[1]), int(m[2])), int(t)) for m, t in zip(meta, top)]


def main():
    setup_threads()
    set_seed(SEED)
    g = torch.Generator().manual_seed(SEED)
    docs = load_docs()
    lm = load_lm()
    sae = TopKSAE(D_MODEL, D_SAE, K)
    sae.load_state_dict(torch.load(work('sae.pt')))
    d = torch.load(work('acts_train.pt'))
    sel = torch.randperm(len(d['x']), generator=g)[:N_TRAIN_PAIRS]
    x, meta = d['x'][sel], d['meta'][sel]
    t0 = time.time()
    contents = build_pairs(docs, meta, sae, x)
    print(f'{len(contents)} pairs ({time.time() - t0:.0f}s); e.g. {contents[:3]}', flush=True)
    scale = round(float(x.norm(dim=-1).mean()), 2)
    targets = [list(c.encode('utf-8')) + list(EXPL_CLOSE.encode()) + [EOS] for c in contents]
    ar_inputs = [[BOS] + list(c.encode('utf-8')) for c in contents]

    # ---- AV ----
    av = copy.deepcopy(lm)
    av.train()
    opt = torch.optim.AdamW(av.parameters(), lr=AV_LR, weight_decay=0.0, betas=(0.9, 0.95))
    t0 = time.time()
    for step in range(AV_STEPS):
        lr = AV_LR * min(1.0, (step + 1) / 100) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / AV_STEPS)))
        for grp in opt.param_groups:
            grp['lr'] = lr
        b = torch.randint(0, len(targets), (BATCH,), generator=g)
        seqs = [TEMPLATE_IDS + targets[i] for i in b]
        ids, mask = pad_batch(seqs)
        emb = injected_embeds(av, ids, x[b], scale)
        h, _, _ = av.run(emb[:, :-1])
        logits = av.logits(h)
        y = ids[:, 1:].clone()
        y[mask[:, 1:] == 0] = -100
        y[:, :len(TEMPLATE_IDS) - 1] = -100  # loss on the continuation only
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(av.parameters(), 1.0)
        opt.step()
        if step % 200 == 0 or step == AV_STEPS - 1:
            print(f'AV step {step} loss {loss.item():.3f} ({time.time() - t0:.0f}s)', flush=True)
    av_seconds = time.time() - t0
    torch.save(av.state_dict(), work('av.pt'))

    # ---- AR ----
    ar = AR(lm)
    ar.train()
    xn = nrm(x)
    opt = torch.optim.AdamW(ar.parameters(), lr=AR_LR, weight_decay=0.0, betas=(0.9, 0.95))
    t0 = time.time()
    for step in range(AR_STEPS):
        lr = AR_LR * min(1.0, (step + 1) / 100) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / AR_STEPS)))
        for grp in opt.param_groups:
            grp['lr'] = lr
        b = torch.randint(0, len(ar_inputs), (BATCH,), generator=g)
        ids, mask = pad_batch([ar_inputs[i] for i in b])
        loss = F.mse_loss(ar(ids, mask), xn[b])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ar.parameters(), 1.0)
        opt.step()
        if step % 200 == 0 or step == AR_STEPS - 1:
            print(f'AR step {step} mse_nrm {loss.item():.3f} ({time.time() - t0:.0f}s)', flush=True)
    torch.save(ar.state_dict(), work('ar.pt'))
    write_json(work('metrics_nla.json'), {'injection_scale': scale, 'av_steps': AV_STEPS, 'ar_steps': AR_STEPS,
                                          'batch': BATCH, 'train_pairs': len(contents), 'av_seconds': av_seconds,
                                          'ar_seconds': time.time() - t0, 'template_ids': TEMPLATE_IDS,
                                          'site': SITE})


if __name__ == '__main__':
    main()
