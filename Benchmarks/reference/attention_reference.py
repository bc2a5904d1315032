#!/usr/bin/env python3
"""PyTorch CPU reference for `lmkit bench attention`: median (and minimum) seconds of one forward+backward of
F.scaled_dot_product_attention(q, k, v, is_causal=True) in float32, q/k/v [B, H, T, D] requiring grad, on the given
thread count. Prints one JSON object: {"T<len>": median, "T<len>_min": min, ..., "torch_version": x.y}. Installs torch with pip if missing."""
import argparse, json

from common import import_torch, timed

torch = import_torch()
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--batch", type=int, default=1)
ap.add_argument("--heads", type=int, default=6)
ap.add_argument("--head-size", type=int, default=64)
ap.add_argument("--lengths", default="256,1024", help="comma-separated sequence lengths")
ap.add_argument("--runs", type=int, default=10)
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)


def median(fn, runs):
    return timed(fn, runs, warmup=2)


out = {}
for T in (int(x) for x in a.lengths.split(",")):
    shape = (a.batch, a.heads, T, a.head_size)
    q, k, v = (torch.randn(shape, requires_grad=True) for _ in range(3))
    dout = torch.randn(shape)

    def step():
        q.grad = k.grad = v.grad = None
        F.scaled_dot_product_attention(q, k, v, is_causal=True).backward(dout)

    out[f"T{T}"], out[f"T{T}_min"] = median(step, a.runs)
out["torch_version"] = float(".".join(torch.__version__.split("+")[0].split(".")[:2]))
print(json.dumps(out))
