#!/usr/bin/env python3
"""PyTorch CPU reference for `lmkit bench rnn`: median seconds of torch.nn.LSTM/GRU forward+backward
(loss = sum(output * r)), B=1 single-step latency under no_grad with a carried state, and variable-length batches through
pack_padded_sequence (lengths spread from T down to T/4, as RecurrentBenchmark.Case.lengths), on the given thread count.
Cases: mode:cell:hidden:layers:batch:steps, comma-separated. Prints one JSON object keyed like the Swift side."""
import argparse, json

from common import timed
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--runs", type=int, default=5)
ap.add_argument("--cases", required=True)
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)


def median(fn, runs):
    """Median wall seconds and median process CPU seconds (as Bench.medianWallAndCPU on the Swift side)."""
    return timed(fn, runs, cpu=True)


out = {"torch_version_major": float(torch.__version__.split(".")[0])}
for spec in a.cases.split(","):
    mode, cell, hidden, layers, batch, steps = spec.split(":")
    H, L, B, T = int(hidden), int(layers), int(batch), int(steps)
    net = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(H, H, L)
    x = torch.randn(T, B, H)
    key = f"{mode}_{cell}_h{H}_l{L}_b{B}_t{T}"
    if mode == "step":
        state = [None]
        def step():
            with torch.no_grad():
                _, state[0] = net(x, state[0])
        out[key], out[key + "_cpu"] = median(step, a.runs * 50, warmup=10)
        continue
    r = torch.randn(T, B, H)
    lengths = torch.tensor([T - (b * (3 * T // 4)) // max(B - 1, 1) for b in range(B)]) if mode == "varlen" else None
    def train():
        net.zero_grad()
        if lengths is None:
            y, _ = net(x)
        else:
            y, _ = pad_packed_sequence(net(pack_padded_sequence(x, lengths, enforce_sorted=False))[0], total_length=T)
        (y * r).sum().backward()
    out[key], out[key + "_cpu"] = median(train, a.runs)
print(json.dumps(out))
