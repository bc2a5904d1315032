#!/usr/bin/env python3
"""Cross-check `lmkit prepare`, `lmkit train` and `lmkit eval` against Python: numpy, safetensors and torch.

1. `lmkit prepare --tokenizer char` on 30 000 characters of tinyshakespeare: numpy reads train.bin/val.bin (header +
   uint16 ids at offset 32) and they equal nanoGPT prepare.py's ids (stoi over sorted(set(text)), int(n*0.9) split);
   char_vocab.json lists the same characters.
2. `lmkit train` (tiny model, 20 steps): model.safetensors loads with safetensors.torch, its `config` metadata
   describes the tensors, and a torch forward of the nanoGPT architecture written here (LayerNorm without bias,
   causal attention, tanh GELU as LMModels.GPT uses, tied head) gives, over val.bin in non-overlapping windows,
   the loss `lmkit eval` prints; on the val text the bits per character agree too.
"""
import json, math, os, re, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import args, ensure, lmkit

def forward_loss(sd, cfg, tokens, T):
    """Sum of next-token NLL over non-overlapping windows of T, as LMTrain.Evaluation computes it."""
    import torch
    import torch.nn.functional as F
    C, H, L = cfg["n_embd"], cfg["n_head"], cfg["n_layer"]
    def ln(x, prefix):
        return F.layer_norm(x, (C,), sd[prefix + ".weight"], sd.get(prefix + ".bias"), cfg.get("norm_eps", 1e-5))
    def linear(x, prefix):
        return F.linear(x, sd[prefix + ".weight"], sd.get(prefix + ".bias"))
    total, n = 0.0, len(tokens) - 1
    for start in range(0, n, T):
        length = min(T, n - start)
        idx = torch.tensor(tokens[start:start + length]).unsqueeze(0)
        tgt = torch.tensor(tokens[start + 1:start + 1 + length]).unsqueeze(0)
        x = sd["transformer.wte.weight"][idx] + sd["transformer.wpe.weight"][:length]
        for i in range(L):
            p = f"transformer.h.{i}"
            h = ln(x, p + ".ln_1")
            q, k, v = linear(h, p + ".attn.c_attn").split(C, dim=2)
            q, k, v = (t.view(1, length, H, C // H).transpose(1, 2) for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(1, length, C)
            x = x + linear(y, p + ".attn.c_proj")
            h = F.gelu(linear(ln(x, p + ".ln_2"), p + ".mlp.c_fc"), approximate="tanh")
            x = x + linear(h, p + ".mlp.c_proj")
        logits = F.linear(ln(x, "transformer.ln_f"), sd["lm_head.weight"])
        total += F.cross_entropy(logits.view(-1, logits.size(-1)).double(), tgt.view(-1), reduction="sum").item()
    return total, n

def main():
    a = args()
    ensure(("numpy", "numpy"), ("torch", "torch"), ("safetensors", "safetensors"))
    import numpy as np
    from safetensors.torch import load_file
    from safetensors import safe_open
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "data", "tinyshakespeare.txt"), encoding="utf-8") as f:
        text = f.read()[:30000]
    src, data, out = (os.path.join(a.workdir, x) for x in ("input.txt", "data", "out"))
    with open(src, "w", encoding="utf-8") as f:
        f.write(text)

    # 1. prepare vs nanoGPT prepare.py
    lmkit(a.lmkit, "prepare", "--tokenizer", "char", "--input", src, "--out", data)
    chars = sorted(list(set(text)))
    stoi = {ch: i for i, ch in enumerate(chars)}
    n = len(text)
    expected = {"train": [stoi[c] for c in text[:int(n * 0.9)]], "val": [stoi[c] for c in text[int(n * 0.9):]]}
    for split, ids in expected.items():
        path = os.path.join(data, f"{split}.bin")
        raw = open(path, "rb").read()
        assert raw[:8] == b"LMKTOKEN", f"{path}: magic {raw[:8]!r}"
        version, width, count, vocab = np.frombuffer(raw[8:16], "<u4").tolist() + np.frombuffer(raw[16:32], "<u8").tolist()
        assert (version, width, count, vocab) == (1, 2, len(ids), len(chars)), (version, width, count, vocab)
        got = np.memmap(path, dtype=np.uint16, mode="r", offset=32).tolist()
        assert got == ids, f"{split}.bin ids differ from prepare.py's"
    vocab = json.load(open(os.path.join(data, "char_vocab.json"), encoding="utf-8"))
    assert vocab["characters"] == chars, "char_vocab.json characters differ from sorted(set(text))"
    meta = json.load(open(os.path.join(data, "meta.json")))
    assert meta["vocab_size"] == len(chars) and meta["train_tokens"] == len(expected["train"]), meta

    # 2. train a tiny model; its weights in torch reproduce `lmkit eval`
    lmkit(a.lmkit, "train", "--quiet", "--data_dir", data, "--out_dir", out, "--n_layer", "1", "--n_head", "2",
          "--n_embd", "32", "--block_size", "16", "--batch_size", "4", "--gradient_accumulation_steps", "1",
          "--max_iters", "20", "--eval_interval", "10", "--eval_iters", "2", "--warmup_iters", "2",
          "--lr_decay_iters", "20", "--learning_rate", "1e-2", "--bias", "true")
    model_path = os.path.join(out, "model.safetensors")
    sd = load_file(model_path)
    with safe_open(model_path, "pt") as f:
        cfg = json.loads(f.metadata()["config"])
    assert sd["transformer.wte.weight"].shape == (cfg["vocab_size"], cfg["n_embd"]), "wte shape vs config"
    assert set(k for k in sd if k.startswith("transformer.h.")) >= {"transformer.h.0.attn.c_attn.weight", "transformer.h.0.mlp.c_fc.weight"}
    T = cfg["block_size"]

    val_ids = expected["val"]
    report = lmkit(a.lmkit, "eval", "--quiet", "--model", out, "--data", os.path.join(data, "val.bin"))
    lmkit_loss = float(re.search(r"loss: ([0-9.]+)", report).group(1))
    total, count = forward_loss(sd, cfg, val_ids, T)
    torch_loss = total / count
    assert abs(lmkit_loss - torch_loss) < 1e-4 * max(1, torch_loss), f"val loss: lmkit {lmkit_loss} vs torch {torch_loss}"

    val_text = os.path.join(a.workdir, "val.txt")
    with open(val_text, "w", encoding="utf-8") as f:
        f.write(text[int(n * 0.9):])
    report = lmkit(a.lmkit, "eval", "--quiet", "--model", out, "--data", val_text)
    bpc = float(re.search(r"bits per character: ([0-9.]+)", report).group(1))
    torch_bpc = total / (len(val_ids) - 1) / math.log(2)
    assert abs(bpc - torch_bpc) < 1e-4 * max(1, torch_bpc), f"bits per character: lmkit {bpc} vs torch {torch_bpc}"
    print(f"check_train: prepare ids equal prepare.py's; val loss lmkit {lmkit_loss:.6f} vs torch {torch_loss:.6f}; "
          f"bpc {bpc:.6f} vs {torch_bpc:.6f}")

if __name__ == "__main__":
    main()
