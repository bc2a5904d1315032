#!/usr/bin/env python3
"""Cross-check LMKit's safetensors reader and writer against Python `safetensors` + torch.

1. Python writes a file (every float and integer dtype, NaN/inf, a scalar, an empty tensor, 200k values, metadata);
   `lmkit safetensors inspect --json` must report the same dtypes, shapes, offsets, metadata and every value.
2. `lmkit safetensors convert --dtype f32|f16|bf16` must produce files Python loads with the values torch's
   `.float().to(dtype)` gives (NaN positions compared apart: torch's bf16 NaN bits depend on its code path),
   integer tensors unchanged, metadata identical; for an all-float source the f32 file is byte-identical to save_file.
3. A truncated file gives exit status 1 and a message naming the file.
"""
import json, math, os, subprocess, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import args, ensure, lmkit

def same(a, b):
    """Same dtype, shape and values; NaN positions must agree, other elements must be bit-identical."""
    import torch
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if not a.dtype.is_floating_point:
        return torch.equal(a, b)
    na, nb = torch.isnan(a.float()), torch.isnan(b.float())
    if not torch.equal(na, nb):
        return False
    bits = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[a.element_size()]
    return torch.equal(a[~na].view(bits), b[~nb].view(bits))

def main():
    a = args()
    ensure(("torch", "torch"), ("safetensors", "safetensors"))
    import torch
    from safetensors.torch import save_file, load_file
    from safetensors import safe_open

    g = torch.Generator().manual_seed(3)
    tensors = {
        "blocks.0.attn.qkv.weight": torch.randn(64, 48, generator=g),
        "blocks.0.attn.qkv.bias": torch.tensor([0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1e-45, 3.4e38, -1.5]),
        "big": torch.randn(200_003, generator=g) * 3,
        "wte.f16": (torch.randn(17, 5, generator=g) * 1000).to(torch.float16),
        "wpe.bf16": torch.randn(9, 3, generator=g).to(torch.bfloat16),
        "f64": torch.randn(5, generator=g, dtype=torch.float64) * 1e-3,
        "fp8": torch.tensor([0.5, -448.0, 0.001953125]).to(torch.float8_e4m3fn),
        "position_ids": torch.arange(0, 2**40, 2**35, dtype=torch.int64).reshape(4, 8),
        "counts.i32": torch.tensor([-(2**31), 2**31 - 1, 5], dtype=torch.int32),
        "small.u8": torch.tensor([0, 1, 255], dtype=torch.uint8),
        "mask": torch.tensor([[True, False]]),
        "scalar": torch.tensor(0.125),
        "empty": torch.zeros(3, 0),
    }
    metadata = {"format": "pt", "model": "crosscheck \"quoted\" / é\n"}
    src = os.path.join(a.workdir, "python.safetensors")
    save_file(tensors, src, metadata=metadata)

    # 1. inspect
    report = json.loads(lmkit(a.lmkit, "safetensors", "inspect", "--json", "--head", "1000000", src))
    failures = []
    if report["metadata"] != metadata:
        failures.append(f"metadata: lmkit {report['metadata']!r} vs python {metadata!r}")
    header_len = int.from_bytes(open(src, "rb").read(8), "little")
    header = json.loads(open(src, "rb").read(8 + header_len)[8:])
    by_name = {t["name"]: t for t in report["tensors"]}
    if set(by_name) != set(tensors):
        failures.append(f"names differ: {sorted(set(by_name) ^ set(tensors))}")
    for name, t in tensors.items():
        got = by_name.get(name)
        if got is None:
            continue
        if got["dtype"] != header[name]["dtype"] or got["shape"] != list(t.shape) or got["data_offsets"] != header[name]["data_offsets"]:
            failures.append(f"{name}: header fields differ: {got['dtype']} {got['shape']} {got['data_offsets']} vs {header[name]}")
        expected = t.float().reshape(-1).tolist()
        values = [float(v) if isinstance(v, str) else v for v in got["head"]]
        if len(values) != len(expected) or any(not (x == y or (math.isnan(x) and math.isnan(y))) for x, y in zip(values, expected)):
            bad = next((i for i, (x, y) in enumerate(zip(values, expected)) if not (x == y or (math.isnan(x) and math.isnan(y)))), None)
            failures.append(f"{name}: values differ (count {len(values)} vs {len(expected)}, first at {bad})")
        finite = t.float()[torch.isfinite(t.float())].double()
        stats = got["stats"]
        if finite.numel() and (stats["finite_count"] != finite.numel() or stats["min"] != finite.min().item() or stats["max"] != finite.max().item()
                               or not math.isclose(stats["mean"], finite.mean().item(), rel_tol=1e-9, abs_tol=1e-12)
                               or not math.isclose(stats["std"], finite.std(unbiased=False).item(), rel_tol=1e-6, abs_tol=1e-9)):
            failures.append(f"{name}: stats {stats} vs min {finite.min().item()} max {finite.max().item()} mean {finite.mean().item()} std {finite.std(unbiased=False).item()}")

    # 2. convert, then load with Python
    for tag, dtype in [("f32", torch.float32), ("f16", torch.float16), ("bf16", torch.bfloat16)]:
        out = os.path.join(a.workdir, f"lmkit_{tag}.safetensors")
        lmkit(a.lmkit, "safetensors", "convert", src, out, "--dtype", tag)
        loaded = load_file(out)
        with safe_open(out, "pt") as f:
            if f.metadata() != metadata:
                failures.append(f"convert {tag}: metadata {f.metadata()!r} vs {metadata!r}")
        for name, t in tensors.items():
            want = t.float().to(dtype) if t.dtype.is_floating_point else t
            if name not in loaded or not same(loaded[name], want):
                failures.append(f"convert {tag}: {name} differs ({loaded.get(name, torch.empty(0)).dtype} vs {want.dtype})")
        # All-float source, one metadata key (Rust orders several keys by hash): bytes must equal save_file's.
        floats = {k: v.float() for k, v in tensors.items() if v.dtype.is_floating_point}
        py_only = os.path.join(a.workdir, "floats.safetensors")
        save_file(floats, py_only, metadata={"format": "pt"})
        ours = os.path.join(a.workdir, f"floats_lmkit_{tag}.safetensors")
        lmkit(a.lmkit, "safetensors", "convert", py_only, ours, "--dtype", tag)
        py_cast = os.path.join(a.workdir, f"floats_python_{tag}.safetensors")
        save_file({k: v.to(dtype) for k, v in floats.items()}, py_cast, metadata={"format": "pt"})
        ours_bytes, py_bytes = open(ours, "rb").read(), open(py_cast, "rb").read()
        if ours_bytes != py_bytes:
            # Only NaN payloads may differ (see `same`); everything else must be byte-identical.
            other = load_file(ours)
            n = 8 + int.from_bytes(ours_bytes[:8], "little")
            if ours_bytes[:n] != py_bytes[:n] or not all(same(other[k], v.to(dtype)) for k, v in floats.items()):
                failures.append(f"convert {tag}: file differs from Python save_file beyond NaN payloads")
            else:
                print(f"convert {tag}: identical to save_file except NaN payload bits")
        else:
            print(f"convert {tag}: byte-identical to save_file")

    # 3. corrupt input
    truncated = os.path.join(a.workdir, "truncated.safetensors")
    open(truncated, "wb").write(open(src, "rb").read()[:-10])
    r = subprocess.run([a.lmkit, "safetensors", "inspect", truncated], capture_output=True, text=True)
    if r.returncode != 1 or truncated not in r.stderr or "truncated" not in r.stderr:
        failures.append(f"truncated file: rc {r.returncode}, stderr {r.stderr!r}")

    for f in failures:
        print("MISMATCH:", f)
    print(f"check_safetensors: {len(tensors)} tensors, inspect + convert f32/f16/bf16: {'FAILED' if failures else 'ok'}")
    sys.exit(1 if failures else 0)

if __name__ == "__main__":
    main()
