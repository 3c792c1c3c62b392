#!/usr/bin/env bash
# run_cluster_claim4.sh — docs/reproduction.md claim 4: time to accuracy on 4 emulated hosts (network
# namespaces, veth links shaped to 1 Gbit/s by tools/conccl-bench-cluster; needs root), one rank per host,
# MLP 784-1024-1024-10, batch 32 per rank, lr 0.05, full Fashion-MNIST, evaluation every 117 steps.
# Usage: perf/train/scripts/run_cluster_claim4.sh BUILD_DIR OUT_DIR [EPOCHS]
# Runs: uncompressed SGD; ConEF with int4 on the wire and the residual as count sketch (s=0.2, b=0.9) or
# int8; ConEF with random block 0.1 and the count sketch. Training is deterministic (fixed seeds, and all
# ranks get bitwise identical all-reduce results), so a run's accuracy at a given step does not depend on
# EPOCHS or on the machine's load; only the times do.
set -u
build=${1:?usage: run_cluster_claim4.sh BUILD_DIR OUT_DIR [EPOCHS]}
out=${2:?usage: run_cluster_claim4.sh BUILD_DIR OUT_DIR [EPOCHS]}
epochs=${3:-3}
root=$(cd "$(dirname "$0")/../../.." && pwd)
exec "$root/tools/conccl-bench-cluster" -n 4 -r 1gbit -o "$out" --timeout 1200 \
  -x "sgd:--method sgd --label sgd" \
  -x "conef-int4:--method conef --codec int4 --residual sketch --label conef-int4-sketch" \
  -x "conef-int4-int8res:--method conef --codec int4 --residual int8 --label conef-int4-int8res" \
  -x "conef-rb10:--method conef --codec randblock --ratio 0.1 --residual sketch --label conef-rb0.1-sketch" \
  -- "$build/perf/train/conccl-train" --model mlp --width 1024 --batch 32 --epochs "$epochs" --lr 0.05 \
     --eval-every 117 --seed 1
