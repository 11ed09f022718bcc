"""Shared pieces of the reference-model build: paths, tokenizer, the GPT, safetensors I/O.

Readable like nanoGPT on purpose. Everything runs on Debian's python3-torch 1.13 (CPU), so
attention is written out by hand (no scaled_dot_product_attention) and every shape stays
symbolic for the ONNX export (opset 17).
"""
import json
import math
import os
import random
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
WORK = os.environ.get('REF_WORK', os.path.join(HERE, 'work'))
OUT = os.environ.get('REF_OUT', os.path.join(ROOT, 'models', 'reference'))
# QUICK=1 shrinks every stage (v0 artifacts, smoke tests); the real build leaves it unset.
QUICK = os.environ.get('QUICK', '0') == '1'

# ---- tokenizer: ids 0..255 are bytes; four specials ----
BOS, EOS, PAD, INJ = 256, 257, 258, 259
VOCAB = 260
SPECIALS = {'<|bos|>': BOS, '<|eos|>': EOS, '<|pad|>': PAD, '\u320e': INJ}
INJECTION_CHAR = '\u320e'  # ㈎

# ---- subject LM shape (the contract) ----
N_LAYER, D_MODEL, N_HEAD, CTX = 4, 128, 4, 128
LAYER = 2  # L: output of block 2 (HF hidden_states[3]), the middle of 4 blocks

# ---- AV prompt: fixed length, so a batch needs no padding ----
AV_TEMPLATE = '<|bos|>[{injection_char}]<explanation>'
AR_TEMPLATE = '<|bos|>{explanation}'
EXPL_OPEN, EXPL_CLOSE = '<explanation>', '</explanation>'
MAX_NEW_TOKENS = 64
# content + '</explanation>' (14 bytes) must fit in MAX_NEW_TOKENS byte tokens
MAX_CONTENT_BYTES = MAX_NEW_TOKENS - len(EXPL_CLOSE)


def set_seed(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup_threads():
    # One torch thread; OpenBLAS uses the cores (two torch threads + BLAS threads fight).
    torch.set_num_threads(1)


def encode(text, add_bos=False):
    """Byte-level encoding; the special strings map to their ids (as the HF added_tokens do)."""
    ids = [BOS] if add_bos else []
    i = 0
    while i < len(text):
        for s, sid in SPECIALS.items():
            if text.startswith(s, i):
                ids.append(sid)
                i += len(s)
                break
        else:
            j = i
            while j < len(text) and not any(text.startswith(s, j) for s in SPECIALS):
                j += 1
            ids.extend(text[i:j].encode('utf-8'))
            i = j
    return ids


def decode(ids):
    return bytes(i for i in ids if i < 256).decode('utf-8', errors='replace')


def token_text(i):
    if i >= 256:
        return {v: k for k, v in SPECIALS.items()}[i]
    return bytes([i]).decode('utf-8', errors='replace')


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable unicode map (what HF ByteLevel uses)."""
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + list(range(ord('®'), ord('ÿ') + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def hf_tokenizer_json():
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    added = [
        {'id': sid, 'content': s, 'single_word': False, 'lstrip': False, 'rstrip': False,
         'normalized': False, 'special': True}
        for s, sid in SPECIALS.items()
    ]
    for s, sid in SPECIALS.items():
        vocab[s] = sid
    return {
        'version': '1.0',
        'truncation': None,
        'padding': None,
        'added_tokens': added,
        'normalizer': None,
        'pre_tokenizer': {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': True, 'use_regex': False},
        'post_processor': None,
        'decoder': {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': True, 'use_regex': False},
        'model': {'type': 'BPE', 'dropout': None, 'unk_token': None, 'continuing_subword_prefix': None,
                  'end_of_word_suffix': None, 'fuse_unk': False, 'byte_fallback': False,
                  'vocab': vocab, 'merges': []},
    }


# ---- the model ----
class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h, self.hd = h, d // h
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.fc_out = nn.Linear(4 * d, d)

    def forward(self, x, past=None):
        """x [B,T,d]; past [2,B,h,P,hd] or None. Returns (x, present [2,B,h,P+T,hd])."""
        B = x.shape[0]
        a = self.ln1(x)
        qkv = self.qkv(a).reshape(B, -1, 3, self.h, self.hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        present = torch.stack([k, v])
        T, S = q.shape[2], k.shape[2]
        # causal mask from arange comparisons; query i sits at absolute position (S - T) + i
        qpos = torch.arange(T, device=x.device) + (S - T)
        kpos = torch.arange(S, device=x.device)
        allowed = kpos.unsqueeze(0) <= qpos.unsqueeze(1)
        att = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.hd))
        att = att.masked_fill(~allowed, -1e9)
        att = torch.softmax(att, dim=-1)
        y = torch.matmul(att, v).transpose(1, 2).reshape(B, -1, self.h * self.hd)
        x = x + self.proj(y)
        x = x + self.fc_out(F.gelu(self.fc(self.ln2(x))))
        return x, present


class GPT(nn.Module):
    def __init__(self, n_layer=N_LAYER, d=D_MODEL, h=N_HEAD, ctx=CTX, vocab=VOCAB):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(ctx, d)
        self.blocks = nn.ModuleList([Block(d, h) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(d)
        self.apply(self._init)
        for b in self.blocks:  # GPT-2 scaled init of residual projections
            nn.init.normal_(b.proj.weight, std=0.02 / math.sqrt(2 * n_layer))
            nn.init.normal_(b.fc_out.weight, std=0.02 / math.sqrt(2 * n_layer))

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def embed(self, ids):
        return self.wte(ids)

    def run(self, x, past=None, upto=None):
        """x: input embeddings [B,T,d]. Adds positions P + arange(T). Runs blocks [0, upto).
        Returns (final x, list of per-block outputs, list of presents)."""
        P = 0 if past is None else past.shape[4]
        T = x.shape[1]
        pos = torch.arange(T, device=x.device) + P
        x = x + self.wpe(pos).unsqueeze(0)
        outs, presents = [], []
        blocks = self.blocks if upto is None else self.blocks[:upto]
        for i, b in enumerate(blocks):
            x, pr = b(x, None if past is None else past[i])
            outs.append(x)
            presents.append(pr)
        return x, outs, presents

    def logits(self, x):
        return F.linear(self.ln_f(x), self.wte.weight)  # tied embeddings

    def forward(self, ids):
        x, outs, _ = self.run(self.embed(ids))
        return self.logits(x), outs


def n_params(m):
    return sum(p.numel() for p in m.parameters())


# ---- safetensors (the format is tiny; no package needed) ----
def save_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().cpu().numpy().astype('<f4') if torch.is_tensor(t) else np.asarray(t, dtype='<f4'))
        b = a.tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(a.shape), 'data_offsets': [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, m in header.items():
        if name == '__metadata__':
            continue
        s, e = m['data_offsets']
        out[name] = torch.from_numpy(np.frombuffer(data[s:e], dtype='<f4').reshape(m['shape']).copy())
    return out


def nrm(x):
    """n(v) = sqrt(d) v / ||v||"""
    return x * math.sqrt(x.shape[-1]) / x.norm(dim=-1, keepdim=True).clamp_min(1e-8)


def work(*p):
    return os.path.join(WORK, *p)


def out(*p):
    return os.path.join(OUT, *p)


def write_json(path, obj, indent=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(obj, f, ensure_ascii=False, indent=indent)
        f.write('\n')
