#!/usr/bin/env python3
"""transformers reference for `lmkit bench bert --mlm-step`: one masked-LM training step of BertForMaskedLM
(BERT-mini shape by default: 4 layers, width 256, 4 heads, MLP 1024, vocab 30 522, dropout 0.1 as BertConfig's
default) on a batch of random ids with DataCollatorForLanguageModeling's masking (written out below), drawn once: forward + loss, backward,
clip the global gradient norm to 1.0, AdamW (weight decay 0.01, no decay on biases and LayerNorm weights), zero grads.
Prints one JSON object: median seconds per step after warm-up, the first step's loss, the parameter count."""
import argparse, json, time

import torch
from transformers import BertConfig, BertForMaskedLM

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--layers", type=int, default=4)
ap.add_argument("--hidden", type=int, default=256)
ap.add_argument("--heads", type=int, default=4)
ap.add_argument("--intermediate", type=int, default=1024)
ap.add_argument("--vocab", type=int, default=30522)
ap.add_argument("--batch", type=int, default=32)
ap.add_argument("--length", type=int, default=128)
ap.add_argument("--iters", type=int, default=5)
ap.add_argument("--warmup", type=int, default=2)
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(1337)
model = BertForMaskedLM(BertConfig(vocab_size=a.vocab, hidden_size=a.hidden, num_hidden_layers=a.layers,
                                   num_attention_heads=a.heads, intermediate_size=a.intermediate,
                                   max_position_embeddings=a.length)).train()
decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=5e-4, fused=False)


# DataCollatorForLanguageModeling.torch_mask_tokens, written out (it wants a tokenizer object): 15 % of the
# non-special ids chosen, 80 % of those -> [MASK] (103), half the rest -> a random id, labels -100 elsewhere.
ids = torch.randint(1000, a.vocab, (a.batch, a.length))
labels = ids.clone()
chosen = torch.bernoulli(torch.full(ids.shape, 0.15)).bool()
labels[~chosen] = -100
inputs = ids.clone()
replaced = torch.bernoulli(torch.full(ids.shape, 0.8)).bool() & chosen
inputs[replaced] = 103
randomized = torch.bernoulli(torch.full(ids.shape, 0.5)).bool() & chosen & ~replaced
inputs[randomized] = torch.randint(a.vocab, ids.shape)[randomized]


def step():
    loss = model(input_ids=inputs, labels=labels).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss.item()


first = step()
for _ in range(a.warmup - 1):
    step()
times = []
for _ in range(a.iters):
    t0 = time.perf_counter()
    step()
    times.append(time.perf_counter() - t0)
times.sort()
print(json.dumps({"seconds": times[len(times) // 2], "first_loss": first, "parameters": sum(p.numel() for p in model.parameters())}))
