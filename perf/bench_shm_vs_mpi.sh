#!/usr/bin/env bash
# bench_shm_vs_mpi.sh: ConCCL's all-reduce over shared memory against Open MPI's MPI_Allreduce, same
# machine, same run. Builds nothing.
#
# Usage: perf/bench_shm_vs_mpi.sh BUILD_DIR
# Environment (defaults): NP=4 ranks, SIZE=64M bytes of float32, ITERS=20, WARMUP=3, ROUNDS=3,
#   MPI_ARGS="" (extra mpirun arguments, e.g. "--mca btl self,vader"), RUN_TIMEOUT=600 seconds per run.
# Each round runs, back to back,
#   CONCCL_NET=shm tools/conccl-run -n NP all_reduce_perf -b SIZE -e SIZE -n ITERS -w WARMUP
#   mpirun --allow-run-as-root --oversubscribe -np NP mpi_allreduce -b SIZE -n ITERS -w WARMUP
# and prints both algbw figures (nccl-tests' definition: bytes / average time per call, GB = 1e9 bytes).
# The summary gives the median over rounds of each and the ratio ConCCL/MPI of the medians, using ConCCL's
# out-of-place column (MPI_Allreduce is out of place too). Target: ratio >= 1.2.
# Exit status: 0 when every run succeeded and passed its data check (whatever the ratio), 1 otherwise,
# 2 on bad usage.
set -euo pipefail

usage() { awk 'NR > 1 && /^# shellcheck/ { next } NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
[[ ${1:-} == -h || ${1:-} == --help ]] && { usage; exit 0; }
(($# == 1)) || { usage >&2; exit 2; }

BUILD=$1
NP=${NP:-4}
SIZE=${SIZE:-64M}
ITERS=${ITERS:-20}
WARMUP=${WARMUP:-3}
ROUNDS=${ROUNDS:-3}
MPI_ARGS=${MPI_ARGS:-}
RUN_TIMEOUT=${RUN_TIMEOUT:-600}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=perf/bench_lib.sh
source "$REPO/perf/bench_lib.sh"
RUNNER=$REPO/tools/conccl-run

[[ -d $BUILD ]] || { echo "bench_shm_vs_mpi: no build directory '$BUILD'" >&2; exit 2; }
ARP=$(find_bin all_reduce_perf) || { echo "bench_shm_vs_mpi: all_reduce_perf not found under $BUILD" >&2; exit 2; }
MPIB=$(find_bin mpi_allreduce) || {
  echo "bench_shm_vs_mpi: mpi_allreduce not found under $BUILD (configure with Open MPI installed)" >&2
  exit 2
}
command -v mpirun >/dev/null || { echo "bench_shm_vs_mpi: mpirun not found" >&2; exit 2; }
[[ -x $RUNNER ]] || { echo "bench_shm_vs_mpi: $RUNNER not found" >&2; exit 2; }

failed=0
conccl_oop=()
conccl_ip=()
mpi_bw=()
echo "# bench_shm_vs_mpi: $NP ranks, $SIZE float32 sum, $ITERS iters, $WARMUP warmup, $ROUNDS rounds"
echo "# conccl: CONCCL_NET=shm $RUNNER -n $NP $ARP -b $SIZE -e $SIZE -n $ITERS -w $WARMUP"
echo "# mpi:    mpirun --allow-run-as-root --oversubscribe -np $NP $MPI_ARGS $MPIB -b $SIZE -n $ITERS -w $WARMUP"
for ((round = 1; round <= ROUNDS; round++)); do
  # ConCCL: rank 0 prints the nccl-tests table; the data row is the line that is not a comment.
  if out=$(CONCCL_NET=shm timeout -k 10 "$RUN_TIMEOUT" "$RUNNER" -n "$NP" --no-prefix "$ARP" \
    -b "$SIZE" -e "$SIZE" -n "$ITERS" -w "$WARMUP" 2>&1); then
    row=$(awk '!/^#/ && !/^\[/ && NF >= 13' <<<"$out" | tail -n 1)
    # algbw from the size and time columns: more digits than the printed algbw column
    oop=$(awk '{ printf "%.4f", $1 / ($6 * 1e3) }' <<<"$row")
    ip=$(awk '{ printf "%.4f", $1 / ($10 * 1e3) }' <<<"$row")
    conccl_oop+=("$oop")
    conccl_ip+=("$ip")
    echo "round $round conccl: algbw out-of-place $oop GB/s, in-place $ip GB/s (time $(awk '{ print $6 }' <<<"$row") us)"
  else
    failed=1
    echo "round $round conccl: FAILED (status $?)"
    printf '%s\n' "$out" | tail -n 20 | sed 's/^/    /'
  fi
  # shellcheck disable=SC2086
  if out=$(timeout -k 10 "$RUN_TIMEOUT" mpirun --allow-run-as-root --oversubscribe -np "$NP" $MPI_ARGS \
    "$MPIB" -b "$SIZE" -n "$ITERS" -w "$WARMUP" 2>&1); then
    line=$(awk '/^BASELINE/' <<<"$out" | tail -n 1)
    bw=$(sed -n 's/.* algbw_GBps=\([0-9.]*\).*/\1/p' <<<"$line")
    mpi_bw+=("$bw")
    echo "round $round mpi:    algbw $bw GB/s ($(sed -n 's/.*\(median_us=[0-9.]*\).*/\1/p' <<<"$line"))"
  else
    failed=1
    echo "round $round mpi: FAILED (status $?)"
    printf '%s\n' "$out" | tail -n 20 | sed 's/^/    /'
  fi
done

if ((${#conccl_oop[@]} > 0 && ${#mpi_bw[@]} > 0)); then
  c=$(median "${conccl_oop[@]}")
  ci=$(median "${conccl_ip[@]}")
  m=$(median "${mpi_bw[@]}")
  ratio=$(awk -v c="$c" -v m="$m" 'BEGIN { if (m > 0) printf "%.3f", c / m; else print "nan" }')
  verdict=$(awk -v r="$ratio" 'BEGIN { print (r + 0 >= 1.2) ? "meets" : "below" }')
  echo "median algbw: conccl shm out-of-place $c GB/s (in-place $ci), mpi $m GB/s"
  echo "ratio conccl/mpi algbw: $ratio (target >= 1.2: $verdict)"
fi
exit "$failed"
