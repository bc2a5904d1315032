#!/usr/bin/env bash
# Data-parallel throughput: 1 rank with a per-rank batch B against 2 ranks with global batch 2B (each rank B rows,
# LMKIT_NUM_THREADS=1 per rank), alternating rounds; prints the median tokens/s of the timed steps and the scaling
# efficiency E = tok/s(2 ranks) / (2 · tok/s(1 rank)). Then the bare allreduce of the model's gradient bytes.
#   LINK=local                 both ranks on this machine over shared memory (vader)
#   LINK=1gbit | 10gbit        two network namespaces over TCP, links shaped by netns_cluster.sh (needs root)
#   MODEL="6 6 384" (n_layer n_head n_embd), BLOCK=256, B=4, STEPS=4, ROUNDS=2
# On a 2-core machine the two "nodes" share the cores, so E here measures contention plus communication, not the
# communication of real machines; Docs/Distributed.md separates the two with the allreduce timing.
set -euo pipefail
cd "$(dirname "$0")/../.."
LMKIT=${LMKIT:-.build/release/lmkit}
LINK=${LINK:-local}; read -r L H E <<< "${MODEL:-6 6 384}"
BLOCK=${BLOCK:-256}; B=${B:-4}; STEPS=${STEPS:-4}; ROUNDS=${ROUNDS:-2}
WORK=${WORK:-/tmp/lmk-ddp-scaling}
CLUSTER=Benchmarks/scripts/netns_cluster.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 LMKIT_NUM_THREADS=1
mkdir -p "$WORK"
[ -f "$WORK/data/meta.json" ] || "$LMKIT" prepare --tokenizer char --input data/tinyshakespeare.txt --out "$WORK/data" >/dev/null
if [ "$LINK" != local ]; then "$CLUSTER" up 2 "$LINK" 50us >/dev/null; trap '"$CLUSTER" down' EXIT; fi
# Two ranks on this machine (shared memory) or one per namespace (TCP over the shaped links).
two() { if [ "$LINK" = local ]; then mpirun --oversubscribe -np 2 "$@"; else "$CLUSTER" mpirun -np 2 --map-by node "$@"; fi; }

run() {  # ranks → median tokens/s of steps 1.. (step 0 warms up)
    local ranks=$1 out="$WORK/out-$1"
    rm -rf "$out"
    local args=(train --quiet --data_dir "$WORK/data" --out_dir "$out" --n_layer "$L" --n_head "$H" --n_embd "$E"
                --block_size "$BLOCK" --batch_size $((B * ranks)) --gradient_accumulation_steps 1 --max_iters "$STEPS"
                --eval_interval 100000 --eval_iters 1 --log_interval 1 --warmup_iters 1 --lr_decay_iters 100 --dropout 0)
    if [ "$ranks" = 1 ]; then "$LMKIT" "${args[@]}" >/dev/null; else two "$(readlink -f "$LMKIT")" "${args[@]}" > "$WORK/log-2"; fi
    awk -F, 'NR > 2 && $5 != "" { print $5 }' "$out/loss.csv" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

echo "link $LINK, GPT ${L}x${E} (${H} heads), block $BLOCK, per-rank batch $B, $STEPS steps; load $(cut -d' ' -f1-3 /proc/loadavg)"
one=(); pair=()
for ((r = 0; r < ROUNDS; r++)); do one+=("$(run 1)"); pair+=("$(run 2)"); done
med() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
t1=$(med "${one[@]}"); t2=$(med "${pair[@]}")
echo "1 rank: ${one[*]} tok/s (median $t1); 2 ranks: ${pair[*]} tok/s (median $t2)"
grep "^gradient buckets" "$WORK/log-2" || true  # the last 2-rank run: overlap and communication left after backward
awk -v a="$t1" -v b="$t2" 'BEGIN { printf "scaling efficiency E = %.2f (speedup %.2f)\n", b / (2 * a), b / a }'
# The gradient of this model: 4 bytes per parameter (the checkpoint's weights), averaged once per step.
bytes=$(python3 -c "
import json, struct; f = open('$WORK/out-1/model.safetensors', 'rb'); n = struct.unpack('<Q', f.read(8))[0]
h = json.loads(f.read(n)); print(sum(v['data_offsets'][1] - v['data_offsets'][0] for k, v in h.items() if k != '__metadata__'))" 2>/dev/null || echo 0)
if [ "$bytes" -gt 0 ]; then
    bytes=$(( bytes / 4 * 4 ))
    echo "allreduce of the gradient ($bytes bytes):"
    two "$(readlink -f "$LMKIT")" bench allreduce --sizes "$bytes" --rounds 3 | tail -1
fi
