#!/bin/bash
# Peak RSS and CPU time of the 6x384 GPT (L6 H6 C384) at T = 256, 1024, 4096, batch 1, with and without
# gradient_checkpointing: 6 training steps each on tinyshakespeare-char (BENCHMARKS.md "Gradient checkpointing").
# Usage: Benchmarks/scripts/checkpointing_memory.sh [lmkit binary] [work dir]
set -euo pipefail
LMKIT=$(realpath "${1:-.build/release/lmkit}")
WORK=${2:-/tmp/lmkit-checkpointing}
mkdir -p "$WORK"
[ -f "$WORK/data/train.bin" ] || "$LMKIT" prepare --tokenizer char --input data/tinyshakespeare.txt --out "$WORK/data"
for T in 256 1024 4096; do for ck in false true; do
    cat > "$WORK/cfg-$T-$ck.json" <<JSON
{"out_dir": "$WORK/out-$T-$ck", "data_dir": "$WORK/data", "eval_interval": 1000, "eval_iters": 1, "log_interval": 1,
 "batch_size": 1, "gradient_accumulation_steps": 1, "block_size": $T, "n_layer": 6, "n_head": 6, "n_embd": 384,
 "dropout": 0.0, "bias": false, "learning_rate": 1e-3, "max_iters": 6, "lr_decay_iters": 6, "warmup_iters": 0,
 "gradient_checkpointing": $ck, "seed": 1337}
JSON
    rm -rf "$WORK/out-$T-$ck"
    /usr/bin/time -v "$LMKIT" train --config "$WORK/cfg-$T-$ck.json" > "$WORK/log-$T-$ck.txt" 2> "$WORK/time-$T-$ck.txt"
    echo "T=$T gradient_checkpointing=$ck: $(tr '\r' '\n' < "$WORK/time-$T-$ck.txt" | grep -aE 'User time|Maximum resident' | tr -s ' \t' ' ' | tr '\n' ';') $(grep -a 'step 6' "$WORK/log-$T-$ck.txt" | head -1)"
done; done
