#!/bin/bash
# Mixed precision evidence (BENCHMARKS.md "Mixed precision"): configs/demo.json (GPT 4x128, T 64, batch 12, 1500 steps)
# trained in float32, bfloat16 and float16 (loss curves, final val loss, peak RSS, tokens/s), then peak RSS of the
# 6x384 GPT at T = 256 and 1024 (batch 4, 4 steps) in each dtype, then a throughput comparison in alternating rounds.
# Usage: Benchmarks/scripts/mixed_precision.sh [lmkit binary] [work dir] [demo max_iters]
# Plot and table: python3 Benchmarks/scripts/plot_mixed_precision.py WORK Docs/mixed_precision_loss.png
set -euo pipefail
LMKIT=$(realpath "${1:-.build/release/lmkit}")
WORK=${2:-/tmp/lmkit-amp}
ITERS=${3:-1500}
DTYPES="float32 bfloat16 float16"
mkdir -p "$WORK"
[ -f "$WORK/data/train.bin" ] || "$LMKIT" prepare --tokenizer char --input data/tinyshakespeare.txt --out "$WORK/data" > /dev/null
rss() { tr '\r' '\n' < "$1" | grep -a 'Maximum resident' | tr -s ' \t' ' ' | sed 's/.*: //'; }
cpu() { tr '\r' '\n' < "$1" | grep -a 'User time' | tr -s ' \t' ' ' | sed 's/.*: //'; }
echo "load before: $(cat /proc/loadavg)"
for dt in $DTYPES; do
    rm -rf "$WORK/demo-$dt"
    /usr/bin/time -v "$LMKIT" train --config configs/demo.json --dtype "$dt" --data_dir "$WORK/data" --out_dir "$WORK/demo-$dt" \
        --max_iters "$ITERS" --lr_decay_iters "$ITERS" > "$WORK/demo-$dt.log" 2> "$WORK/demo-$dt.time"
    echo "demo $dt: peak RSS $(rss "$WORK/demo-$dt.time") KB, user $(cpu "$WORK/demo-$dt.time") s; $(tr '\r' '\n' < "$WORK/demo-$dt.log" | grep -a 'steps skipped so far' | tail -1)"
done
echo "load after demo runs: $(cat /proc/loadavg)"
for T in 256 1024; do for dt in $DTYPES; do
    cat > "$WORK/big-$T-$dt.json" <<JSON
{"out_dir": "$WORK/big-$T-$dt", "data_dir": "$WORK/data", "eval_interval": 1000, "eval_iters": 1, "log_interval": 1,
 "batch_size": 4, "gradient_accumulation_steps": 1, "block_size": $T, "n_layer": 6, "n_head": 6, "n_embd": 384,
 "dropout": 0.0, "bias": false, "learning_rate": 1e-3, "max_iters": 4, "lr_decay_iters": 4, "warmup_iters": 0,
 "dtype": "$dt", "seed": 1337}
JSON
    rm -rf "$WORK/big-$T-$dt"
    /usr/bin/time -v "$LMKIT" train --config "$WORK/big-$T-$dt.json" > "$WORK/big-$T-$dt.log" 2> "$WORK/big-$T-$dt.time"
    echo "6x384 T=$T batch 4 $dt: peak RSS $(rss "$WORK/big-$T-$dt.time") KB, user $(cpu "$WORK/big-$T-$dt.time") s"
done; done
# Throughput: 3 alternating rounds of 200 demo steps per dtype (no eval but the first), steady-state tokens/s from loss.csv.
for round in 1 2 3; do for dt in $DTYPES; do
    rm -rf "$WORK/speed-$dt"
    "$LMKIT" train --config configs/demo.json --dtype "$dt" --data_dir "$WORK/data" --out_dir "$WORK/speed-$dt" \
        --max_iters 200 --lr_decay_iters 200 --eval_interval 1000 --eval_iters 1 > /dev/null 2>&1
    tps=$(awk -F, 'NR > 21 && $5 != "" { s += $5; n += 1 } END { printf "%.0f", s / n }' "$WORK/speed-$dt/loss.csv")
    echo "round $round $dt: $tps tokens/s (mean of steps 20-199)"
done; done
echo "load after: $(cat /proc/loadavg)"
