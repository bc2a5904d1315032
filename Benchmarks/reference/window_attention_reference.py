#!/usr/bin/env python3
"""PyTorch CPU reference for `lmkit bench attention --sliding-window W`: median and minimum seconds of one forward+backward
in float32, q/k/v [B, H, T, D] requiring grad, on the given thread count, of
  full:   F.scaled_dot_product_attention(q, k, v, is_causal=True)
  window: F.scaled_dot_product_attention(q, k, v, attn_mask=band) with band[i, j] = (i - W < j <= i), a boolean mask
          (the equivalent mask torch users write for a Mistral-style window; torch has no banded CPU kernel).
Prints one JSON object on its last line: {"full_T<len>": median, "full_T<len>_min": min, "window_T<len>": ..., "torch_version": x.y}."""
import argparse, json

from common import timed
import torch
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--batch", type=int, default=1)
ap.add_argument("--heads", type=int, default=6)
ap.add_argument("--head-size", type=int, default=64)
ap.add_argument("--window", type=int, required=True)
ap.add_argument("--lengths", required=True, help="comma-separated sequence lengths")
ap.add_argument("--runs", required=True, help="comma-separated timed runs per length")
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)

median = timed


out = {}
for T, runs in zip((int(x) for x in a.lengths.split(",")), (int(x) for x in a.runs.split(","))):
    shape = (a.batch, a.heads, T, a.head_size)
    q, k, v = (torch.randn(shape, requires_grad=True) for _ in range(3))
    dout = torch.randn(shape)
    i = torch.arange(T).view(T, 1)
    j = torch.arange(T).view(1, T)
    band = (j <= i) & (j > i - a.window)

    def full():
        q.grad = k.grad = v.grad = None
        F.scaled_dot_product_attention(q, k, v, is_causal=True).backward(dout)

    def window():
        q.grad = k.grad = v.grad = None
        F.scaled_dot_product_attention(q, k, v, attn_mask=band).backward(dout)

    out[f"full_T{T}"], out[f"full_T{T}_min"] = median(full, runs)
    out[f"window_T{T}"], out[f"window_T{T}_min"] = median(window, runs)
out["torch_version"] = float(".".join(torch.__version__.split("+")[0].split(".")[:2]))
print(json.dumps(out))
