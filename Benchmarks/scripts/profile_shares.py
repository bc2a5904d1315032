# Usage: perf report -i perf.data --no-children --sort symbol -g none | swift demangle --simplified | python3 Benchmarks/scripts/profile_shares.py
# Buckets a `perf report --no-children --sort symbol -g none` listing (demangled) into op families.
import sys, re
buckets = {"products (OpenBLAS sgemm: kernel + packing)": 0, "attention kernel": 0, "GELU": 0, "layernorm": 0,
           "cross-entropy / softmax / exp": 0, "elementwise + reductions": 0, "AdamW + clipping": 0,
           "copies, memset, allocation, page faults": 0, "worker pool / scheduler": 0, "setup (init RNG)": 0, "other": 0}
rules = [
    ("products (OpenBLAS sgemm: kernel + packing)", r"sgemm|sgemv|Matmul"),
    ("attention kernel", r"Attention|packedSelfAttention|scaledDotProduct|rowMax|rowDot"),
    ("GELU", r"GELU|gelu"),
    ("layernorm", r"layerNorm|LayerNorm|Norms"),
    ("cross-entropy / softmax / exp", r"CrossEntropy|crossEntropy|Softmax|softmax|kernelExp|SIMDMath.exp|logSumExp"),
    ("AdamW + clipping", r"Adam|clipGradient|UpdateKernels"),
    ("elementwise + reductions", r"arithmetic|broadcastMap|columnSums|Reduce|SIMD<>.sum|SIMDMath|Activations|Elementwise|dot"),
    ("copies, memset, allocation, page faults", r"memset|memmove|memcpy|copyStrided|clone|contiguous|malloc|free|page|clear_page|mmap|munmap|BufferPool|swift_retain|swift_release|deallocat|RefCount|_int_"),
    ("worker pool / scheduler", r"WorkerPool|Parallel|sched|futex|schedule|finish_task_switch|irqentry|pthread|switch"),
    ("setup (init RNG)", r"__sin|__cos|Generator|randn|__ieee754_log|normal"),
]
for line in sys.stdin:
    m = re.match(r"\s*([\d.]+)%\s+\[[.k]\]\s+(.*)", line)
    if not m: continue
    pct, sym = float(m.group(1)), m.group(2)
    for name, rx in rules:
        if re.search(rx, sym): buckets[name] += pct; break
    else: buckets["other"] += pct
setup = buckets["setup (init RNG)"]
total = 100 - setup
for k, v in buckets.items():
    if k == "setup (init RNG)": continue
    print(f"| {k} | {100 * v / total:.1f} % |")
print(f"(setup samples excluded: {setup:.1f} % of all)")
