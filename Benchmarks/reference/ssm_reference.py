#!/usr/bin/env python3
"""PyTorch CPU references for `lmkit bench ssm`, float32, on the given thread count; prints one JSON object of
median and minimum seconds:
- "scan": forward+backward of the selective scan written as johnma2006/mamba-minimal's `selective_scan` (Δ·A and
  Δ·B·u materialized as [B, L, D, N], then a Python loop over L), u, Δ, A, B, C, D requiring grad, Δ positive.
- "mixer": forward+backward of transformers' MambaMixer (its CPU path, `mamba_selective_scan` without the CUDA kernels)
  with hidden_size = D / 2 (d_inner = D) and state_size N, on x [B, L, hidden] requiring grad.
"""
import argparse, json

from common import timed
import torch

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--batch", type=int, default=4)
ap.add_argument("--length", type=int, default=1024)
ap.add_argument("--channels", type=int, default=768)
ap.add_argument("--state", type=int, default=16)
ap.add_argument("--runs", type=int, default=3)
ap.add_argument("--what", default="scan,mixer")
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
B, L, D, N = a.batch, a.length, a.channels, a.state



def selective_scan(u, delta, A, Bm, C, Dskip):
    """mamba-minimal model.py selective_scan: u, delta [b, l, d]; A [d, n]; B, C [b, l, n]; D [d]."""
    b, l, d = u.shape
    deltaA = torch.exp(torch.einsum("bld,dn->bldn", delta, A))
    deltaB_u = torch.einsum("bld,bln,bld->bldn", delta, Bm, u)
    x = torch.zeros(b, d, A.shape[1])
    ys = []
    for i in range(l):
        x = deltaA[:, i] * x + deltaB_u[:, i]
        ys.append(torch.einsum("bdn,bn->bd", x, C[:, i, :]))
    return torch.stack(ys, dim=1) + u * Dskip


out = {}
if "scan" in a.what:
    u = torch.randn(B, L, D, requires_grad=True)
    delta = (torch.rand(B, L, D) * 0.1 + 0.001).requires_grad_()
    A = (-torch.rand(D, N) * 3 - 0.2).requires_grad_()
    Bm, C = torch.randn(B, L, N, requires_grad=True), torch.randn(B, L, N, requires_grad=True)
    Dskip = torch.ones(D, requires_grad=True)
    dy = torch.randn(B, L, D)

    def scan_step():
        for t in (u, delta, A, Bm, C, Dskip):
            t.grad = None
        selective_scan(u, delta, A, Bm, C, Dskip).backward(dy)

    out["scan"], out["scan_min"] = timed(scan_step, a.runs)
if "mixer" in a.what:
    from transformers import MambaConfig
    from transformers.models.mamba.modeling_mamba import MambaMixer
    import transformers
    mixer = MambaMixer(MambaConfig(hidden_size=D // 2, state_size=N, expand=2, num_hidden_layers=1), layer_idx=0)
    x = torch.randn(B, L, D // 2, requires_grad=True)
    dy = torch.randn(B, L, D // 2)

    def mixer_step():
        x.grad = None
        mixer.zero_grad(set_to_none=True)
        mixer(x).backward(dy)

    out["mixer"], out["mixer_min"] = timed(mixer_step, a.runs)
    out["transformers_version"] = transformers.__version__
out["torch_version"] = torch.__version__
print(json.dumps(out))
