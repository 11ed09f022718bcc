"""Train the subject LM: byte-level GPT, 4 blocks, d 128, 4 heads, context 128.

Training stream: every document as <|bos|> text <|eos|>, concatenated in a shuffled order;
windows of 128 tokens start at a document start half of the time (worker prompts always start
with BOS) and anywhere otherwise. Held-out bits/byte is measured on the held-out documents
(BOS + first 127 bytes), next to a unigram baseline fitted on the training bytes.
"""
import json
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from common import BOS, CTX, EOS, GPT, QUICK, n_params, set_seed, setup_threads, work, write_json

# ---- hyperparameters ----
SEED = 1337
STEPS = 60 if QUICK else 650
BATCH = 32
LR, MIN_LR, WARMUP = 4e-3, 4e-4, 60
WEIGHT_DECAY = 0.05
EVAL_DOCS = 600


def stream_of(docs, rng):
    order = rng.permutation(len(docs))
    ids, starts = [], []
    for i in order:
        starts.append(len(ids))
        ids.append(BOS)
        ids.extend(docs[i]['text'].encode('utf-8'))
        ids.append(EOS)
    return np.array(ids, dtype=np.int64), np.array(starts, dtype=np.int64)


def get_batch(stream, starts, rng):
    n = len(stream) - CTX - 1
    s = np.where(rng.random(BATCH) < 0.5, starts[rng.integers(0, len(starts), BATCH)], rng.integers(0, n, BATCH))
    s = np.minimum(s, n)
    x = np.stack([stream[i:i + CTX] for i in s])
    y = np.stack([stream[i + 1:i + CTX + 1] for i in s])
    return torch.from_numpy(x), torch.from_numpy(y)


@torch.no_grad()
def heldout_bits_per_byte(model, docs):
    """Cross-entropy in bits on each byte of BOS + first 127 bytes of held-out docs."""
    model.eval()
    tot, n = 0.0, 0
    for i in range(0, len(docs), 64):
        chunk = docs[i:i + 64]
        seqs = [[BOS] + list(d['text'].encode('utf-8'))[:CTX - 1] for d in chunk]
        T = max(len(s) for s in seqs)
        x = torch.full((len(seqs), T), 0, dtype=torch.long)
        m = torch.zeros((len(seqs), T), dtype=torch.bool)
        for j, s in enumerate(seqs):
            x[j, :len(s)] = torch.tensor(s)
            m[j, 1:len(s)] = True
        logits, _ = model(x)
        lp = F.log_softmax(logits[:, :-1], -1).gather(-1, x[:, 1:, None])[..., 0]
        mm = m[:, 1:]
        tot += -lp[mm].sum().item()
        n += mm.sum().item()
    model.train()
    return tot / n / math.log(2)


def unigram_bits_per_byte(train, test):
    counts = np.ones(256)
    for d in train:
        counts += np.bincount(np.frombuffer(d['text'].encode('utf-8'), dtype=np.uint8), minlength=256)
    p = counts / counts.sum()
    tot, n = 0.0, 0
    for d in test:
        b = np.frombuffer(d['text'].encode('utf-8')[:CTX - 1], dtype=np.uint8)
        tot += -np.log2(p[b]).sum()
        n += len(b)
    return tot / n


def main():
    setup_threads()
    set_seed(SEED)
    docs = json.load(open(work('corpus.json')))
    train = [d for d in docs if d['split'] == 'train']
    test = [d for d in docs if d['split'] == 'test']
    rng = np.random.default_rng(SEED)
    stream, starts = stream_of(train, rng)
    model = GPT()
    print(f'params {n_params(model)}; train bytes {len(stream)}')
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': WEIGHT_DECAY}, {'params': no_decay, 'weight_decay': 0.0}],
                            lr=LR, betas=(0.9, 0.95))
    t0 = time.time()
    for step in range(STEPS):
        lr = LR * (step + 1) / WARMUP if step < WARMUP else \
            MIN_LR + 0.5 * (LR - MIN_LR) * (1 + math.cos(math.pi * (step - WARMUP) / max(1, STEPS - WARMUP)))
        for g in opt.param_groups:
            g['lr'] = lr
        x, y = get_batch(stream, starts, rng)
        logits, _ = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 100 == 0 or step == STEPS - 1:
            el = time.time() - t0
            print(f'step {step} loss {loss.item():.3f} ({loss.item() / math.log(2):.3f} bits) lr {lr:.2e} '
                  f'{(step + 1) * BATCH * CTX / el:.0f} tok/s', flush=True)
    ev = test[:EVAL_DOCS] if QUICK else test
    bpb = heldout_bits_per_byte(model, ev)
    uni = unigram_bits_per_byte(train, ev)
    print(f'held-out bits/byte {bpb:.3f}; unigram baseline {uni:.3f}')
    torch.save(model.state_dict(), work('lm.pt'))
    write_json(work('metrics_lm.json'), {'params': n_params(model), 'steps': STEPS, 'batch': BATCH, 'ctx': CTX,
                                         'tokens_seen': STEPS * BATCH * CTX, 'train_bytes': int(len(stream)),
                                         'heldout_docs': len(ev), 'heldout_bits_per_byte': bpb,
                                         'unigram_bits_per_byte': uni, 'train_seconds': time.time() - t0})


if __name__ == '__main__':
    main()
