#!/usr/bin/env python3
"""PyTorch CPU reference for `lmkit bench train`: median seconds of one nanoGPT training step (forward, backward,
clip_grad_norm_(1.0), AdamW(fused=False) step, zero_grad(set_to_none=True)) on random batches.

The model is nanoGPT's model.py GPT (karpathy/nanoGPT, MIT) reduced to what the step runs: token + position
embeddings, pre-LayerNorm blocks (LayerNorm without bias when bias=False), causal attention through
F.scaled_dot_product_attention, GELU MLP, tied head, GPT-2 init. GELU uses the tanh form as LMModels.GPT does
(nanoGPT uses the erf form; the cost is the same). Prints one JSON object. Installs torch with pip if missing.
"""
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
ap.add_argument("--steps", type=int, default=30)
ap.add_argument("--batch", type=int, default=12)
ap.add_argument("--block", type=int, default=64)
ap.add_argument("--layers", type=int, default=4)
ap.add_argument("--heads", type=int, default=4)
ap.add_argument("--embd", type=int, default=128)
ap.add_argument("--vocab", type=int, default=65)
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(1337)

class LayerNorm(nn.Module):
    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None
    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)

class Block(nn.Module):
    def __init__(self, C, H):
        super().__init__()
        self.n_head = H
        self.ln_1, self.ln_2 = LayerNorm(C, False), LayerNorm(C, False)
        self.c_attn = nn.Linear(C, 3 * C, bias=False)
        self.attn_proj = nn.Linear(C, C, bias=False)
        self.c_fc = nn.Linear(C, 4 * C, bias=False)
        self.mlp_proj = nn.Linear(4 * C, C, bias=False)
    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.attn_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(a.vocab, a.embd)
        self.wpe = nn.Embedding(a.block, a.embd)
        self.h = nn.ModuleList([Block(a.embd, a.heads) for _ in range(a.layers)])
        self.ln_f = LayerNorm(a.embd, False)
        self.lm_head = nn.Linear(a.embd, a.vocab, bias=False)
        self.wte.weight = self.lm_head.weight
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * a.layers) if name.endswith("proj.weight") else 0.02
                torch.nn.init.normal_(p, mean=0.0, std=std)
    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.size(1)))
        for block in self.h:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))

model = GPT()
decay = [p for p in model.parameters() if p.dim() >= 2]
no_decay = [p for p in model.parameters() if p.dim() < 2]
optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                              lr=1e-3, betas=(0.9, 0.99), fused=False)

def step():
    x = torch.randint(a.vocab, (a.batch, a.block))
    y = torch.randint(a.vocab, (a.batch, a.block))
    model(x, y).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)

for _ in range(3):
    step()
times = []
for _ in range(a.steps):
    t0 = time.perf_counter(); step(); times.append(time.perf_counter() - t0)
times.sort()
print(json.dumps({"step_seconds": times[len(times) // 2], "torch_version": torch.__version__}))
