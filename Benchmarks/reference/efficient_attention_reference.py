#!/usr/bin/env python3
"""PyTorch CPU reference for `lmkit bench attention --linear-flash`: median (and minimum) seconds of one forward+backward
in float32 on the given thread count, of the same math as LMKit's rows:
  linear: φ = elu + 1 on q and k [B, H, T, D], then causal linear attention with the fast-transformers normalizer
          (eps 1e-6), chunked exactly like LMKit's kernel (quadratic masked product inside a chunk, exclusive cumulative
          sum of per-chunk k'v states across chunks, v augmented with a ones column for the normalizer); torch autograd
          does the backward. fast-transformers' own CPU kernel is not installed here.
  flash:  one causal FLASH layer (relu², RoPE, group g), as Scripts/fixtures/flash_fixture.py (checked against LMKit
          in the tests), x [B, T, d] and all parameters requiring grad.
Prints one JSON object {"linear_T<len>": median, "linear_T<len>_min": min, "flash_T<len>": ..., ...}."""
import argparse, json, os, sys

from common import timed
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../Scripts/fixtures"))
from flash_fixture import flash_layer  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--lengths", default="512,1024")
ap.add_argument("--runs", type=int, default=5)
ap.add_argument("--heads", type=int, default=6)
ap.add_argument("--head-size", type=int, default=64)
ap.add_argument("--chunk", type=int, default=64)
ap.add_argument("--width", type=int, default=384)
ap.add_argument("--query-key-dim", type=int, default=128)
ap.add_argument("--expansion", type=int, default=2)
ap.add_argument("--group", type=int, default=256)
ap.add_argument("--only", default="linear,flash")
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)


def causal_linear_attention(q, k, v, C, eps=1e-6):
    B, H, T, D = q.shape
    n = T // C
    v1 = torch.cat([v, torch.ones(B, H, T, 1)], dim=-1)
    qc, kc, vc = q.view(B, H, n, C, D), k.view(B, H, n, C, D), v1.view(B, H, n, C, -1)
    kv = kc.transpose(-1, -2) @ vc                        # [B, H, n, D, E + 1] per chunk
    kv = kv.cumsum(2) - kv                                # state before each chunk
    a = (qc @ kc.transpose(-1, -2)).masked_fill(torch.ones(C, C, dtype=torch.bool).triu(1), 0.0)
    num = qc @ kv + a @ vc                                # [B, H, n, C, E + 1]
    num = num.reshape(B, H, T, -1)
    return num[..., :-1] / (num[..., -1:] + eps)


out = {}
only = a.only.split(",")
for T in (int(x) for x in a.lengths.split(",")):
    if "linear" in only:
        shape = (1, a.heads, T, a.head_size)
        q, k, v = (torch.randn(shape, requires_grad=True) for _ in range(3))
        dout = torch.randn(shape)

        def step():
            q.grad = k.grad = v.grad = None
            causal_linear_attention(F.elu(q) + 1, F.elu(k) + 1, v, a.chunk).backward(dout)

        out[f"linear_T{T}"], out[f"linear_T{T}_min"] = timed(step, a.runs)
    if "flash" in only:
        d, s, e = a.width, a.query_key_dim, a.width * a.expansion
        r = lambda *shape: (torch.randn(shape) * 0.02).requires_grad_()
        p = {"norm.weight": torch.ones(d, requires_grad=True), "norm.bias": torch.zeros(d, requires_grad=True),
             "to_hidden.weight": r(2 * e, d), "to_hidden.bias": r(2 * e), "to_qk.weight": r(s, d), "to_qk.bias": r(s),
             "qk_offset_scale.gamma": r(4, s), "qk_offset_scale.beta": r(4, s), "to_out.weight": r(d, e), "to_out.bias": r(d)}
        x = torch.randn(1, T, d, requires_grad=True)
        dout = torch.randn(1, T, d)

        def step():
            for t in list(p.values()) + [x]:
                t.grad = None
            flash_layer(x, p, a.group, True, "relu2").backward(dout)

        out[f"flash_T{T}"], out[f"flash_T{T}_min"] = timed(step, a.runs)
print(json.dumps(out))
