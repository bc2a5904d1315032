#!/usr/bin/env python3
"""The recipe of configs/shakespeare_char_lstm.json in PyTorch, for side-by-side validation loss and wall time with
`lmkit train --config configs/shakespeare_char_lstm.json`. Same data files (data_dir's train.bin / val.bin, LMKit token
files: 32-byte header then uint16 ids), same model (word_language_model RNNModel: encoder → LSTM → decoder, init
U(-0.1, 0.1), decoder bias 0), same optimizer and schedule (AdamW, weight decay on ≥2-D tensors, nanoGPT get_lr,
global-norm clipping), same truncated-BPTT data order (batch_size contiguous streams, whole windows, state detached
between windows and dropped when the streams restart) and the same eval (eval_iters random windows per split from a
zero state). Random streams are torch's, so the runs match in distribution, not bit for bit.

Like-for-like with LMKit (same initial weights, same data order, same evaluator):
  --init FILE     start from these weights (an LMKit model.safetensors: its names are RNNModel's) instead of torch's init
  --save FILE     write the final weights as safetensors
  --evaluate FILE ...   evaluate each weights file on the whole val split as one stream (windows of block_size, state
                  carried, every token predicted once from its whole history: `lmkit eval`'s stream mode) and exit

Run: python3 Benchmarks/reference/rnn_recipe.py configs/shakespeare_char_lstm.json [--threads 2]
"""
import argparse, json, math, os, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("config")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--max_iters", type=int)
ap.add_argument("--seed", type=int)
ap.add_argument("--init")
ap.add_argument("--save")
ap.add_argument("--evaluate", nargs="+")
a = ap.parse_args()
cfg = json.load(open(a.config))
if a.max_iters:
    cfg["max_iters"] = a.max_iters
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed if a.seed is not None else cfg.get("seed", 1337))


def tokens(path):
    with open(path, "rb") as f:
        head = f.read(32)
    assert head[:8] == b"LMKTOKEN", path
    width = int.from_bytes(head[12:16], "little")
    return np.memmap(path, dtype=np.uint16 if width == 2 else np.uint32, mode="r", offset=32).astype(np.int64), \
        int.from_bytes(head[24:32], "little")


train, V = tokens(os.path.join(cfg["data_dir"], "train.bin"))
val, _ = tokens(os.path.join(cfg["data_dir"], "val.bin"))
m = cfg["model"]
B, T = cfg["batch_size"], cfg["block_size"]


class RNNModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(m.get("dropout", 0.0))
        self.encoder = nn.Embedding(V, m["embedding_size"])
        self.rnn = nn.LSTM(m["embedding_size"], m["hidden_size"], m["num_layers"], dropout=m.get("dropout", 0.0), batch_first=True)
        self.decoder = nn.Linear(m["hidden_size"], V)
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)

    def forward(self, x, state=None):
        y, state = self.rnn(self.drop(self.encoder(x)), state)
        return self.decoder(self.drop(y)), state


model = RNNModel()


def load_weights(path):
    from safetensors.torch import load_file
    model.load_state_dict({k: v.float() for k, v in load_file(path).items()}, strict=True)


@torch.no_grad()
def stream_loss(data):
    """Mean next-token loss over all of `data` read as one stream in windows of T, the state carried across windows."""
    model.eval()
    x_all = torch.from_numpy(data.copy())
    state, total, count = None, 0.0, 0
    for start in range(0, len(data) - 1, T):
        n = min(T, len(data) - 1 - start)
        logits, state = model(x_all[start:start + n].view(1, n), state)
        total += F.cross_entropy(logits.view(n, V), x_all[start + 1:start + 1 + n], reduction="sum").item()
        count += n
    model.train()
    return total / count


if a.evaluate:
    for path in a.evaluate:
        load_weights(path)
        print(json.dumps({"weights": path, "val_stream_loss": stream_loss(val)}), flush=True)
    raise SystemExit(0)
if a.init:
    load_weights(a.init)
decay = [p for p in model.parameters() if p.dim() >= 2]
no_decay = [p for p in model.parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
                        lr=cfg["learning_rate"], betas=(cfg.get("beta1", 0.9), cfg["beta2"]))


def get_lr(it):
    if it < cfg["warmup_iters"]:
        return cfg["learning_rate"] * (it + 1) / (cfg["warmup_iters"] + 1)
    if it > cfg["lr_decay_iters"]:
        return cfg["min_lr"]
    ratio = (it - cfg["warmup_iters"]) / (cfg["lr_decay_iters"] - cfg["warmup_iters"])
    return cfg["min_lr"] + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (cfg["learning_rate"] - cfg["min_lr"])


stream_length = len(train) // B
windows = (stream_length - 1) // T
streams = torch.from_numpy(train[: stream_length * B].copy()).view(B, stream_length)


@torch.no_grad()
def estimate(data):
    model.eval()
    losses = []
    for _ in range(cfg["eval_iters"]):
        ix = torch.randint(len(data) - T, (B,))
        x = torch.stack([torch.from_numpy(data[i:i + T].copy()) for i in ix])
        y = torch.stack([torch.from_numpy(data[i + 1:i + 1 + T].copy()) for i in ix])
        logits, _ = model(x)
        losses.append(F.cross_entropy(logits.reshape(-1, V), y.reshape(-1)).item())
    model.train()
    return sum(losses) / len(losses)


state, cursor, t0 = None, 0, time.time()
train_seconds = 0.0
for it in range(cfg["max_iters"] + 1):
    if it % cfg["eval_interval"] == 0 or it == cfg["max_iters"]:
        print(f"step {it}: train {estimate(train):.4f}, val {estimate(val):.4f}, {train_seconds:.1f} s training", flush=True)
    if it == cfg["max_iters"]:
        break
    start = time.time()
    if cursor == windows:
        cursor = 0
    if cursor == 0:
        state = None
    x = streams[:, cursor * T: cursor * T + T]
    y = streams[:, cursor * T + 1: cursor * T + T + 1]
    cursor += 1
    for g in opt.param_groups:
        g["lr"] = get_lr(it)
    logits, state = model(x, state)
    state = tuple(s.detach() for s in state)
    loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
    loss.backward()
    if cfg["grad_clip"]:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
    opt.step()
    opt.zero_grad(set_to_none=True)
    train_seconds += time.time() - start
final = {"val_loss": estimate(val), "train_seconds": train_seconds, "wall_seconds": time.time() - t0}
if a.save:
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, a.save)
print(json.dumps(final))
