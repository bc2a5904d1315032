#!/usr/bin/env python3
"""PyTorch CPU reference for `lmkit bench core`: forward+backward median seconds of softmax, layer_norm,
gelu (tanh) and cross-entropy, on the given thread count. Prints one JSON object. Installs torch with pip if missing."""
import argparse, json

from common import import_torch, timed

torch = import_torch()
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--rows", type=int, default=8192)
ap.add_argument("--channels", type=int, default=768)
ap.add_argument("--vocabulary", type=int, default=50304)
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)

def median(fn, runs=5):
    return timed(fn, runs)[0]

x = torch.randn(a.rows, a.channels, requires_grad=True)
dy = torch.randn(a.rows, a.channels)
w = torch.randn(a.channels, requires_grad=True)
b = torch.randn(a.channels, requires_grad=True)

def step(f):
    def run():
        x.grad = None; w.grad = None; b.grad = None
        f().backward(dy)
    return run

out = {
    "softmax": median(step(lambda: F.softmax(x, dim=-1))),
    "layer_norm": median(step(lambda: F.layer_norm(x, (a.channels,), w, b))),
    "gelu": median(step(lambda: F.gelu(x, approximate="tanh"))),
}
logits = torch.randn(a.rows, a.vocabulary, requires_grad=True)
targets = torch.randint(0, a.vocabulary, (a.rows,))
def ce():
    logits.grad = None
    F.cross_entropy(logits, targets).backward()
out["cross_entropy"] = median(ce, runs=3)
out["torch_version"] = float(".".join(torch.__version__.split("+")[0].split(".")[:2]))
print(json.dumps(out))
