#!/usr/bin/env bash
# run_reproduction.sh — the runs behind docs/reproduction.md claims 1-3: 4 local ranks (conccl-run),
# MLP 784-256-256-10, batch 32 per rank, full Fashion-MNIST, constant learning rate, seed 1.
# Usage: perf/train/scripts/run_reproduction.sh BUILD_DIR OUT_DIR [EPOCHS]
# Writes OUT_DIR/<name>.jsonl (one JSON row per evaluation) and OUT_DIR/<name>.log per run; a run that
# diverges (exit 1) is kept (its last row says diverged) and the script goes on.
set -u
build=${1:?usage: run_reproduction.sh BUILD_DIR OUT_DIR [EPOCHS]}
out=${2:?usage: run_reproduction.sh BUILD_DIR OUT_DIR [EPOCHS]}
epochs=${3:-4}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
train="$build/perf/train/conccl-train"
[[ -x $train ]] || { echo "run_reproduction: $train not built" >&2; exit 2; }
mkdir -p "$out"
common=(--model mlp --width 256 --batch 32 --epochs "$epochs" --eval-every 117 --seed 1)
run() {  # NAME ARGS...
  local name=$1; shift
  echo "== $name: $*" >&2
  "$root/tools/conccl-run" -n 4 "$train" "${common[@]}" "$@" --label "$name" -J "$out/$name.jsonl" \
    > "$out/$name.log" 2>&1
  echo "   exit $? ($(tail -n 1 "$out/$name.jsonl" 2>/dev/null | sed 's/.*"test_acc": \([0-9.]*\).*/test_acc \1/'))" >&2
}
only=${ONLY:-}  # e.g. ONLY=claim1 runs one group
if [[ -z $only || $only == claim1 ]]; then
  run sgd          --method sgd --lr 0.05
  run none-rb64    --method none --codec randblock --ratio 1/64 --lr 0.05
  run ef-rb64      --method ef   --codec randblock --ratio 1/64 --lr 0.05
  run none-topk1   --method none --codec topk --ratio 0.01 --lr 0.05
  run ef-topk1     --method ef   --codec topk --ratio 0.01 --lr 0.05
fi
if [[ -z $only || $only == claim2 ]]; then
  run conef-int8-topk1     --method conef --residual int8   --codec topk --ratio 0.01 --lr 0.05
  run conef-int4-topk1     --method conef --residual int4   --codec topk --ratio 0.01 --lr 0.05
  run conef-cs-topk1       --method conef --residual sketch --sketch 0.2 --beta 0.9 --codec topk --ratio 0.01 --lr 0.05
  run conef-cs16-topk1     --method conef --residual sketch --sketch 0.2 --beta 0.9 --residual-fp16 --codec topk --ratio 0.01 --lr 0.05
fi
if [[ -z $only || $only == claim3 ]]; then
  run def03-rb64           --method def  --def-coeff 0.3 --codec randblock --ratio 1/64 --lr 0.05
  run saef-avg20-rb64      --method saef --average-period 20 --codec randblock --ratio 1/64 --lr 0.05
  run def03-rb64-lr0.02    --method def  --def-coeff 0.3 --codec randblock --ratio 1/64 --lr 0.02
  run saef-avg20-rb64-lr0.02 --method saef --average-period 20 --codec randblock --ratio 1/64 --lr 0.02
  run ef-rb64-lr0.02       --method ef   --codec randblock --ratio 1/64 --lr 0.02
  run ef-rb64-lr0.002      --method ef   --codec randblock --ratio 1/64 --lr 0.002
  run ef-rb64-lr0.0005     --method ef   --codec randblock --ratio 1/64 --lr 0.0005
  run sgd-lr0.02           --method sgd --lr 0.02
fi
if [[ -z $only || $only == claim1-small-lr ]]; then  # claim 1 at the rate where EF with random block 1/64 did best (0.0005 of 0.05, 0.02, 0.002, 0.0005)
  run sgd-lr0.0005         --method sgd --lr 0.0005
  run none-rb64-lr0.0005   --method none --codec randblock --ratio 1/64 --lr 0.0005
fi
