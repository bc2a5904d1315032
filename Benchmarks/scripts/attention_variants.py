#!/usr/bin/env python3
"""Issue 15's comparison of attention and MLP variants: same corpus, parameter budget and steps.

Trains each configs/variants/NAME.json with `lmkit train` (one after the other, never two at once), then prints a
Markdown table: parameters, final and best validation loss, median tokens/s over the logged steps (loss.csv; eval
time excluded), peak RSS of the training process (`/usr/bin/time -f %M`), wall time, and a 200-character sample.

    swift build -c release --product lmkit
    python3 Benchmarks/scripts/attention_variants.py softmax_t256 linear_t256 flash_t256 window64_t256 alibi_t256 moe_t256
    python3 Benchmarks/scripts/attention_variants.py softmax_t1024 linear_t1024 flash_t1024

Needs data/shakespeare_char (`lmkit prepare --tokenizer char --input data/tinyshakespeare.txt --out
data/shakespeare_char`, which `make demo` runs). Outputs go to out/variants/NAME (the config's out_dir).
"""
import argparse, csv, json, os, re, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

def run(name, lmkit, threads):
    config_path = os.path.join(ROOT, "configs", "variants", name + ".json")
    with open(config_path) as f:
        config = json.load(f)
    out_dir = os.path.join(ROOT, config["out_dir"])
    env = dict(os.environ, LMKIT_NUM_THREADS=str(threads))
    start = time.time()
    r = subprocess.run(["/usr/bin/time", "-f", "peak_rss_kb %M", lmkit, "train", "--config", config_path, "--quiet"],
                       cwd=ROOT, capture_output=True, text=True, env=env)
    wall = time.time() - start
    if r.returncode != 0:
        sys.exit(f"{name}: lmkit train failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    # "number of parameters: 0.80M (828672 with position embeddings)": the total, as the second number when given.
    params = re.search(r"number of parameters: ([\d.]+)M(?: \((\d+) with position embeddings\))?", r.stdout)
    rss = int(re.search(r"peak_rss_kb (\d+)", r.stderr).group(1))
    vals = [float(v) for v in re.findall(r"val loss ([\d.]+)", r.stdout)]
    with open(os.path.join(out_dir, "loss.csv")) as f:
        rows = list(csv.DictReader(f))
    speeds = [float(row["tokens_per_second"]) for row in rows if row.get("tokens_per_second")]
    sample = subprocess.run([lmkit, "sample", "--model", out_dir, "--prompt", "ROMEO:", "--max-new-tokens", "200",
                             "--temperature", "0.8", "--seed", "1"], cwd=ROOT, capture_output=True, text=True, env=env)
    if sample.returncode != 0:
        sys.exit(f"{name}: lmkit sample failed ({sample.returncode}):\n{sample.stderr[-2000:]}")
    return dict(name=name, model=config["model"].get("model_type", "gpt"), params=(f"{int(params.group(2)) / 1e6:.2f}" if params.group(2) else params.group(1)) if params else "?",
                final=vals[-1] if vals else float("nan"), best=min(vals) if vals else float("nan"),
                speed=statistics.median(speeds) if speeds else float("nan"), rss=rss / 1024, wall=wall,
                sample=" ".join(sample.stdout.split())[:200])

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="+", help="config names under configs/variants (without .json)")
    ap.add_argument("--lmkit", default=os.path.join(ROOT, ".build", "release", "lmkit"))
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    print(f"load average before: {open('/proc/loadavg').read().split()[:3]}", flush=True)
    results = []
    for name in a.names:
        res = run(name, a.lmkit, a.threads)
        print(f"{name}: val {res['final']:.4f} (best {res['best']:.4f}), {res['speed']:.0f} tok/s, "
              f"{res['rss']:.0f} MB, {res['wall']:.0f} s", flush=True)
        results.append(res)
    print(f"load average after: {open('/proc/loadavg').read().split()[:3]}")
    print("\n| config | family | parameters | final val loss | best val loss | tokens/s (median) | peak RSS | wall |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['name']} | {r['model']} | {r['params']}M | {r['final']:.4f} | {r['best']:.4f} | {r['speed']:.0f} | "
              f"{r['rss']:.0f} MB | {r['wall']:.0f} s |")
    print()
    for r in results:
        print(f"- **{r['name']}**: `{r['sample']}`")

if __name__ == "__main__":
    main()
