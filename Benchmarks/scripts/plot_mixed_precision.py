"""Loss curves of the mixed-precision demo runs (Benchmarks/scripts/mixed_precision.sh) as a PNG, and a markdown table
of train loss (mean of the 50 steps before) and val loss every 250 steps.
Usage: python3 Benchmarks/scripts/plot_mixed_precision.py WORK_DIR OUT.png   (needs matplotlib)"""
import csv, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

work, png = sys.argv[1], sys.argv[2]
dtypes = ["float32", "bfloat16", "float16"]
runs = {}
for dt in dtypes:
    with open(f"{work}/demo-{dt}/loss.csv") as f:
        rows = list(csv.DictReader(f))
    train = [(int(r["step"]), float(r["train_loss"])) for r in rows if r["train_loss"]]
    val = [(int(r["step"]), float(r["val_loss"])) for r in rows if r["val_loss"]]
    runs[dt] = (train, val)

fig, (ax, dax) = plt.subplots(2, 1, figsize=(8, 7.5), height_ratios=[2, 1], sharex=True)
colors = {"float32": "black", "bfloat16": "tab:blue", "float16": "tab:orange"}
for dt, (train, val) in runs.items():
    k = 25  # moving average of the per-step train loss
    xs = [s for s, _ in train][k - 1:]
    ys = [sum(l for _, l in train[i - k + 1:i + 1]) / k for i in range(k - 1, len(train))]
    ax.plot(xs, ys, color=colors[dt], lw=1, alpha=0.8, label=f"{dt} train (mean of {k})")
    ax.plot([s for s, _ in val], [l for _, l in val], "o--", color=colors[dt], ms=4, label=f"{dt} val")
ax.set_ylabel("loss (nats/char)")
# The curves overlap at this scale: the lower panel shows each low-precision run's per-step train loss minus float32's.
base = dict(runs["float32"][0])
for dt in dtypes[1:]:
    diffs = [(s, l - base[s]) for s, l in runs[dt][0] if s in base]
    dax.plot([s for s, _ in diffs], [d for _, d in diffs], color=colors[dt], lw=0.6, alpha=0.8, label=f"{dt} − float32 (train, per step)")
dax.axhline(0, color="black", lw=0.5)
dax.set_xlabel("step")
dax.set_ylabel("loss difference")
dax.grid(alpha=0.3)
dax.legend(fontsize=8)
ax.set_title("configs/demo.json (GPT 4x128, shakespeare-char): float32, bfloat16, float16")
ax.set_ylim(1.3, 3.0)
ax.grid(alpha=0.3)
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(png, dpi=110)

steps = sorted({s for s, _ in runs["float32"][1]})
print("| step | " + " | ".join(f"{dt} train | {dt} val" for dt in dtypes) + " |")
print("|---|" + "---|---|" * len(dtypes))
for s in steps:
    cells = []
    for dt in dtypes:
        train, val = runs[dt]
        window = [l for st, l in train if s - 50 <= st < s]
        v = dict(val).get(s)
        cells.append(f"{sum(window) / len(window):.4f}" if window else "–")
        cells.append(f"{v:.4f}" if v is not None else "–")
    print(f"| {s} | " + " | ".join(cells) + " |")
