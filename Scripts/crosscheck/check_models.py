#!/usr/bin/env python3
"""Cross-check LMKit's Hugging Face GPT-2 / Llama reader and writer against transformers.

For several tiny seeded models built here with transformers (GPT-2 tied, GPT-2 untied with n_inner, Llama with GQA and
untied head, Llama with attention/mlp biases and a tied head, and a bf16 copy):
1. `lmkit convert SRC OUT --to hf` (HF -> GPT -> HF) must give a directory `from_pretrained` loads, whose tensors equal
   the source's and whose logits equal the source model's;
2. `lmkit convert SRC MID --to gpt [--rope-layout interleaved]` then `lmkit convert MID OUT --to hf` the same
   (the interleaved RoPE permutation must be undone exactly);
3. a config LMKit cannot represent (rope_scaling) gives exit status 1 and a message naming the key;
4. a real config.json (SmolLM2-135M-Instruct's keys, tiny sizes: Tests/Fixtures/models/hf_smollm2_tiny, also with the
   hub's 4.x-style keys) converts, `lmkit convert` prints one line listing the keys it ignored, and transformers loads
   the output with the same logits.
"""
import json, os, subprocess, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import args, ensure, lmkit


def build_models(workdir):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM
    g = torch.Generator().manual_seed(7)
    specs = {
        "gpt2_tied": GPT2LMHeadModel(GPT2Config(vocab_size=101, n_positions=24, n_embd=24, n_layer=2, n_head=3,
                                                bos_token_id=0, eos_token_id=0)),
        "gpt2_untied_ninner": GPT2LMHeadModel(GPT2Config(vocab_size=80, n_positions=16, n_embd=16, n_layer=1, n_head=2,
                                                         n_inner=40, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)),
        "llama_gqa": LlamaForCausalLM(LlamaConfig(vocab_size=90, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                                                  num_attention_heads=4, num_key_value_heads=1, rope_theta=500000.0,
                                                  rms_norm_eps=1e-6, tie_word_embeddings=False, max_position_embeddings=32)),
        "llama_bias_tied": LlamaForCausalLM(LlamaConfig(vocab_size=70, hidden_size=16, intermediate_size=24, num_hidden_layers=1,
                                                        num_attention_heads=2, num_key_value_heads=2, attention_bias=True,
                                                        mlp_bias=True, tie_word_embeddings=True, max_position_embeddings=32)),
    }
    paths = {}
    for name, model in specs.items():
        with torch.no_grad():
            for pname, p in model.named_parameters():
                noise = torch.randn(p.shape, generator=g)
                p.copy_(noise * 0.2 if p.dim() >= 2 else (1 + 0.1 * noise if pname.endswith("weight") and "norm" in pname or ".ln_" in pname else 0.1 * noise))
        path = os.path.join(workdir, "src_" + name)
        model.save_pretrained(path, safe_serialization=True)
        paths[name] = path
    bf16 = os.path.join(workdir, "src_llama_gqa_bf16")
    specs["llama_gqa"].to(torch.bfloat16).save_pretrained(bf16, safe_serialization=True)
    specs["llama_gqa"].float()
    paths["llama_gqa_bf16"] = bf16
    return paths


def main():
    a = args()
    ensure(("torch", "torch"), ("transformers", "transformers"), ("safetensors", "safetensors"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM
    from safetensors.torch import load_file
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()

    failures = []
    paths = build_models(a.workdir)
    ids = torch.tensor([[3, 14, 15, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3]])
    for name, src in paths.items():
        reference = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32).eval()
        with torch.no_grad():
            want = reference(ids).logits
        ref_tensors = {k: v.float() for k, v in load_file(os.path.join(src, "model.safetensors")).items()}
        routes = [("hf", [["convert", src, os.path.join(a.workdir, f"{name}_hf"), "--to", "hf"]])]
        mid = os.path.join(a.workdir, f"{name}_gpt")
        routes.append(("gpt->hf", [["convert", src, mid, "--to", "gpt"], ["convert", mid, mid + "_hf"]]))
        if name.startswith("llama"):
            mid_i = os.path.join(a.workdir, f"{name}_gpt_interleaved")
            routes.append(("gpt(interleaved)->hf", [["convert", src, mid_i, "--to", "gpt", "--rope-layout", "interleaved"],
                                                    ["convert", mid_i, mid_i + "_hf"]]))
        for route, commands in routes:
            for argv in commands:
                lmkit(a.lmkit, *argv)
            out = commands[-1][2]
            try:
                model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
            except Exception as e:  # noqa: BLE001 - report any load failure as a mismatch
                failures.append(f"{name} {route}: transformers cannot load {out}: {e}")
                continue
            with torch.no_grad():
                got = model(ids).logits
            diff = (got - want).abs().max().item()
            written = load_file(os.path.join(out, "model.safetensors"))
            if set(written) != set(ref_tensors):
                failures.append(f"{name} {route}: tensor names differ: {sorted(set(written) ^ set(ref_tensors))}")
            bad = [k for k in ref_tensors if k in written and not torch.equal(written[k], ref_tensors[k])]
            if bad:
                failures.append(f"{name} {route}: tensors differ from the source: {bad[:4]}")
            if diff > 1e-5:
                failures.append(f"{name} {route}: logits differ by {diff}")
            cfg = json.load(open(os.path.join(out, "config.json")))
            print(f"{name:20s} {route:22s} loads in transformers ({cfg['architectures'][0]}), max |logit diff| {diff:.3g}")

    # 3. unsupported config
    bad_dir = os.path.join(a.workdir, "bad")
    os.makedirs(bad_dir)
    cfg = json.load(open(os.path.join(paths["llama_gqa"], "config.json")))
    cfg["rope_scaling"] = {"rope_type": "yarn", "factor": 4.0}
    json.dump(cfg, open(os.path.join(bad_dir, "config.json"), "w"))
    os.symlink(os.path.join(paths["llama_gqa"], "model.safetensors"), os.path.join(bad_dir, "model.safetensors"))
    r = subprocess.run([a.lmkit, "convert", bad_dir, os.path.join(a.workdir, "bad_out")], capture_output=True, text=True)
    if r.returncode != 1 or "rope_scaling" not in r.stderr or "config.json" not in r.stderr:
        failures.append(f"rope_scaling config: rc {r.returncode}, stderr {r.stderr!r}")
    else:
        print("rope_scaling config rejected:", r.stderr.strip())

    # 4. real config keys
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    tiny = os.path.join(root, "Tests", "Fixtures", "models", "hf_smollm2_tiny")
    hub_dir = os.path.join(a.workdir, "smollm2_hub")
    os.makedirs(hub_dir)
    os.symlink(os.path.abspath(os.path.join(tiny, "model.safetensors")), os.path.join(hub_dir, "model.safetensors"))
    with open(os.path.join(root, "Tests", "Fixtures", "models", "hf_smollm2_tiny_hub_config.json")) as f:
        json.dump(json.load(f), open(os.path.join(hub_dir, "config.json"), "w"))
    small_ids = ids % 64
    for name, src, ignored in [("smollm2 (5.x keys)", tiny, "_model_name_or_path"), ("smollm2 (hub keys)", hub_dir, "is_llama_config")]:
        out = os.path.join(a.workdir, name.split()[0] + ("_hub" if "hub" in name else "") + "_out")
        r = subprocess.run([a.lmkit, "convert", src, out], capture_output=True, text=True)
        lines = [l for l in r.stderr.splitlines() if "ignored keys that do not change the model" in l]
        if r.returncode != 0 or len(lines) != 1 or ignored not in lines[0]:
            failures.append(f"{name}: rc {r.returncode}, stderr {r.stderr!r}")
            continue
        reference = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32).eval()
        model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
        with torch.no_grad():
            diff = (model(small_ids).logits - reference(small_ids).logits).abs().max().item()
        if diff > 1e-5:
            failures.append(f"{name}: logits differ by {diff}")
        print(f"{name:20s} converts ({lines[0].split(': ', 1)[1]}), max |logit diff| {diff:.3g}")

    for f in failures:
        print("MISMATCH:", f)
    print(f"check_models: {len(paths)} models: {'FAILED' if failures else 'ok'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
