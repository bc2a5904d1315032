#!/usr/bin/env python3
"""PyTorch CPU reference for `lmkit bench gpt`: one training step of a nanoGPT-equivalent GPT (learned positions,
pre-LayerNorm blocks, F.scaled_dot_product_attention(is_causal=True), GELU tanh, tied head, dropout 0, bias on), with
nanoGPT's AdamW grouping (weight decay on tensors with >= 2 dims, fused off) and gradient clipping at 1.0, on the
given thread count. The model is nanoGPT's structure written out again here, not imported. Prints one JSON object:
median seconds per step, the first step's loss, the measured torch.mm peak (GFLOP/s) and the parameter counts.
Installs torch with pip if missing."""
import argparse, json, math, subprocess, sys, time

try:
    import torch
except ImportError:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "torch"], check=True)
    import torch
import torch.nn as nn
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--n-layer", type=int, default=4)
ap.add_argument("--n-head", type=int, default=4)
ap.add_argument("--n-embd", type=int, default=128)
ap.add_argument("--block-size", type=int, default=64)
ap.add_argument("--batch", type=int, default=12)
ap.add_argument("--vocab", type=int, default=65)
ap.add_argument("--iters", type=int, default=10)
ap.add_argument("--warmup", type=int, default=3)
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(1337)


class SelfAttention(nn.Module):
    def __init__(self, C, H):
        super().__init__()
        self.n_head = H
        self.c_attn = nn.Linear(C, 3 * C, bias=True)   # q, k, v projections in one matrix
        self.c_proj = nn.Linear(C, C, bias=True)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class FeedForward(nn.Module):
    def __init__(self, C):
        super().__init__()
        self.c_fc = nn.Linear(C, 4 * C, bias=True)
        self.c_proj = nn.Linear(4 * C, C, bias=True)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, C, H):
        super().__init__()
        self.ln_1, self.attn = nn.LayerNorm(C), SelfAttention(C, H)
        self.ln_2, self.mlp = nn.LayerNorm(C), FeedForward(C)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))   # pre-LN residual blocks
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, V, T, L, H, C):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(V, C), wpe=nn.Embedding(T, C),
            h=nn.ModuleList([Block(C, H) for _ in range(L)]), ln_f=nn.LayerNorm(C)))
        self.lm_head = nn.Linear(C, V, bias=False)
        self.transformer.wte.weight = self.lm_head.weight   # tied input/output embedding
        for name, p in self.named_parameters():           # GPT-2 init as nanoGPT's _init_weights
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * L))
            elif p.dim() >= 2:
                nn.init.normal_(p, 0.0, 0.02)
            elif name.endswith(".bias"):
                nn.init.zeros_(p)

    def forward(self, idx, targets):
        B, T = idx.shape
        pos = torch.arange(T, dtype=torch.long)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)


model = GPT(a.vocab, a.block_size, a.n_layer, a.n_head, a.n_embd)
model.train()
params = dict(model.named_parameters())
decay = [p for p in params.values() if p.dim() >= 2]
no_decay = [p for p in params.values() if p.dim() < 2]
optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                              lr=1e-3, betas=(0.9, 0.99), fused=False)
x = torch.randint(0, a.vocab, (a.batch, a.block_size))
y = torch.randint(0, a.vocab, (a.batch, a.block_size))


def step():
    loss = model(x, y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()


first_loss = step()
for _ in range(a.warmup - 1):
    step()
times = []
for _ in range(a.iters):
    t0 = time.perf_counter(); step(); times.append(time.perf_counter() - t0)
times.sort()

n = 2048  # matmul peak in this process, same threads
m1, m2 = torch.randn(n, n), torch.randn(n, n)
best = float("inf")
for _ in range(4):
    t0 = time.perf_counter(); torch.mm(m1, m2); best = min(best, time.perf_counter() - t0)

n_params = sum(p.numel() for p in model.parameters())
print(json.dumps({
    "seconds": times[len(times) // 2], "first_loss": first_loss, "mm_peak_gflops": 2 * n ** 3 / best / 1e9,
    "params": n_params, "params_non_embedding": n_params - model.transformer.wpe.weight.numel(),
    "torch_version": float(".".join(torch.__version__.split("+")[0].split(".")[:2])),
}))
