#!/usr/bin/python3
"""The PyTorch reference for `cramjet bench --preset crammed-tiny|crammed-small|crammed-bert`: the same crammed
encoder (pre-norm + final norm, GEGLU, no biases, scaled sinusoidal positions, embedding norm, tied decoder) trained
by masked-language modelling with a sparse head (only the masked rows reach the decoder) and AdamW, on random
tokens, the same batch, sequence, mask rate and FLOPs count; prints tokens/s and GFLOP/s for training steps and
forward passes, and the process's CPU time per step (all threads), which a shared machine's load does not inflate. Written for PyTorch 1.13 (Debian's python3-torch, scripts/setup-torch.sh), which has no fused
attention: attention is softmax(q·kᵀ/√d)·v in matmuls, as a PyTorch user of that version writes it.

    OMP_NUM_THREADS=2 /usr/bin/python3 scripts/torch-mlm-bench.py --preset crammed-tiny
"""
import argparse
import math
import time

import torch
import torch.nn.functional as F

PRESETS = {  # layers, heads, width, vocabulary (as EncoderConfig.preset)
    "crammed-tiny": (4, 4, 256, 8192),
    "crammed-small": (6, 6, 384, 8192),
    "crammed-bert": (16, 12, 768, 32768),
}


class Block(torch.nn.Module):
    def __init__(self, c, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = torch.nn.Parameter(torch.ones(c))
        self.ln2 = torch.nn.Parameter(torch.ones(c))
        self.qkv = torch.nn.Linear(c, 3 * c, bias=False)
        self.proj = torch.nn.Linear(c, c, bias=False)
        self.fc = torch.nn.Linear(c, 4 * c, bias=False)  # gate | up, 2C each (Cramming's 4C before gating)
        self.down = torch.nn.Linear(2 * c, c, bias=False)

    def forward(self, x):
        b, t, c = x.shape
        h = F.layer_norm(x, (c,), self.ln1, None, 1e-12)
        q, k, v = self.qkv(h).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(c // self.heads), dim=-1)
        x = x + self.proj((att @ v).transpose(1, 2).reshape(b, t, c))
        gate, up = self.fc(F.layer_norm(x, (c,), self.ln2, None, 1e-12)).chunk(2, dim=-1)
        return x + self.down(F.gelu(gate, approximate="tanh") * up)


class Crammed(torch.nn.Module):
    def __init__(self, layers, heads, c, vocab, seq):
        super().__init__()
        self.wte = torch.nn.Embedding(vocab, c)
        pos = torch.arange(seq).unsqueeze(1) * torch.exp(torch.arange(0, c, 2) * (-math.log(10000.0) / c))
        pe = torch.zeros(seq, c)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(pos), torch.cos(pos)
        self.register_buffer("pe", pe)
        self.scale = torch.nn.Parameter(torch.tensor(1 / math.sqrt(c)))
        self.emb_ln = torch.nn.Parameter(torch.ones(c))
        self.blocks = torch.nn.ModuleList(Block(c, heads) for _ in range(layers))
        self.ln_f = torch.nn.Parameter(torch.ones(c))

    def forward(self, tokens, targets):
        c = self.wte.embedding_dim
        x = F.layer_norm(self.wte(tokens) + self.scale * self.pe[: tokens.shape[1]], (c,), self.emb_ln, None, 1e-12)
        for block in self.blocks:
            x = block(x)
        x = F.layer_norm(x, (c,), self.ln_f, None, 1e-12)
        scored = targets.view(-1) >= 0  # the sparse head: only the masked rows
        logits = x.view(-1, c)[scored] @ self.wte.weight.t()
        return F.cross_entropy(logits, targets.view(-1)[scored])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--preset", default="crammed-tiny", choices=PRESETS)
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--mask-rate", type=float, default=0.25)
    a = p.parse_args()
    layers, heads, c, vocab = PRESETS[a.preset]
    batch = a.batch or (16 if c >= 768 else 32)
    steps = a.steps or (2 if c >= 768 else 5)
    torch.manual_seed(1)
    model = Crammed(layers, heads, c, vocab, a.seq)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    tokens = torch.randint(vocab, (batch, a.seq))
    targets = torch.where(torch.rand(batch, a.seq) < a.mask_rate, torch.randint(vocab, (batch, a.seq)), torch.full((batch, a.seq), -1))
    params = sum(q.numel() for q in model.parameters())
    flops = 6 * (params - vocab * c) + 6 * vocab * c * a.mask_rate + 12 * layers * c * a.seq
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {a.preset}: {params:,} parameters, "
          f"batch {batch} x seq {a.seq}, {a.mask_rate:.0%} masked, {steps} timed steps after one warm-up")

    def step():
        opt.zero_grad(set_to_none=True)
        model(tokens, targets).backward()
        opt.step()

    for name, fn, per_token in (("train step (fwd+bwd+AdamW)", step, flops), ("forward only", None, flops / 3)):
        if fn is None:
            def fn():
                with torch.no_grad():
                    model(tokens, targets)
        fn()
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            fn()
        seconds, cpu = (time.perf_counter() - t0) / steps, (time.process_time() - c0) / steps
        tps = batch * a.seq / seconds
        print(f"{name:26s}: {seconds * 1e3:8.1f} ms/step {tps:10.0f} tokens/s {tps * per_token / 1e9:8.1f} GFLOP/s; "
              f"CPU time {cpu:.2f} s/step = {batch * a.seq / cpu:.0f} tokens per CPU-second", flush=True)


if __name__ == "__main__":
    main()
