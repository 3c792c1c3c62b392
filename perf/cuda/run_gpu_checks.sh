#!/usr/bin/env bash
# run_gpu_checks.sh BUILD_DIR OUT_DIR — what the CUDA issue asks of a machine with a GPU, in one run:
#   1. the CUDA tests (kernels against the CPU bytes; collectives on device buffers with 2/4/8 ranks on the
#      one GPU) and the stream executor's tests;
#   2. the kernel benchmark beside cudaMemcpy D2D, 1 MiB to 1 GiB;
#   3. all_reduce_perf -G 1 with 2, 4 and 8 ranks (threads) on the one GPU, uncompressed and int8
#      (#wrong counts elements outside the bound and elements that differ between ranks).
# Each step's output goes to OUT_DIR/<step>.txt; a summary line per step to stdout. Test binaries are run
# directly (not through ctest, whose files hold the build machine's paths), with BUILD_DIR/src on
# LD_LIBRARY_PATH.
#
# Build for a machine without packages (only libc and libstdc++ needed):
#   cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 -DCONCCL_WITH_CUDA=ON \
#         -DCONCCL_WITH_HWLOC=OFF -DCONCCL_WITH_UCX=OFF -DCONCCL_WITH_IBVERBS=OFF -DCONCCL_WITH_MPI=OFF
#   cmake --build build-gpu -j2 --target cuda_kernels_test cuda_collective_test stream_executor_test \
#         all_reduce_perf cuda_kernels_bench
# Environment: MAXBYTES (all_reduce_perf -e, default 256M), RANKS (default "2 4 8").
# Exit status: 0 when every step passed, 1 when one failed, 2 on bad usage.
set -uo pipefail
(($# == 2)) || { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
BUILD=$(cd "$1" && pwd) || exit 2
OUT=$2
mkdir -p "$OUT"
export LD_LIBRARY_PATH="$BUILD/src${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
MAXBYTES=${MAXBYTES:-256M}
RANKS=${RANKS:-2 4 8}
status=0
step() {  # step NAME COMMAND...: runs, keeps the output, prints one line
  local name=$1
  shift
  local t0=$SECONDS
  "$@" > "$OUT/$name.txt" 2>&1
  local rc=$?
  printf '%-28s rc=%-3d %4ds  %s\n' "$name" "$rc" $((SECONDS - t0)) "$(tail -n 1 "$OUT/$name.txt")"
  ((rc == 0)) || status=1
}
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true
step cuda_kernels_test "$BUILD/tests/cuda_kernels_test"
step cuda_collective_test "$BUILD/tests/cuda_collective_test"
step stream_executor_test "$BUILD/tests/stream_executor_test"
step cuda_kernels_bench "$BUILD/perf/kernels/cuda_kernels_bench" --min 1M --max 1G
for n in $RANKS; do
  step "all_reduce_G1_t$n" "$BUILD/perf/all_reduce_perf" -t "$n" -b 1K -e "$MAXBYTES" -f 4 -G 1
  step "all_reduce_G1_t${n}_int8" "$BUILD/perf/all_reduce_perf" -t "$n" -b 1K -e "$MAXBYTES" -f 4 -G 1 --codec int8
done
exit $status
