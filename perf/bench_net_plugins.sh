#!/usr/bin/env bash
# bench_net_plugins.sh: the UCX net plugin against ConCCL's built-in transports, same run, alternating.
#   1. tcp: HOSTS network-namespace hosts (tools/conccl-bench-cluster, links shaped to RATE), one rank each:
#      all_reduce_perf SIZE over the built-in tcp transport vs the UCX plugin with UCX_TLS=tcp
#      (target: UCX within 5% of built-in tcp).
#   2. sm: NP processes on this host (tools/conccl-run): built-in shm vs the UCX plugin with UCX_TLS=sm
#      (target: UCX within 10% of built-in shm).
# Each round runs both sides back to back; reported: the median busbw of each side over ROUNDS rounds (out of
# place and in place) and the ratio UCX / built-in of the medians.
#
# Usage: perf/bench_net_plugins.sh BUILD_DIR [tcp|sm|both]   (tcp needs root)
# Environment (defaults): HOSTS=4, RATE=1gbit, NP=4, SIZE=64M, ITERS=5, WARMUP=1, ROUNDS=3, OUT=<temp dir>
# (the rank-0 tables and JSON rows of every run are kept there).
# Exit status: 0 when every run succeeded and passed its data check (whatever the figures), 1 otherwise,
# 2 on bad usage.
set -euo pipefail

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
[[ ${1:-} == -h || ${1:-} == --help ]] && { usage; exit 0; }
(($# >= 1 && $# <= 2)) || { usage >&2; exit 2; }
BUILD=$(cd "$1" && pwd)
WHICH=${2:-both}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=perf/bench_lib.sh
source "$REPO/perf/bench_lib.sh"
HOSTS=${HOSTS:-4}
RATE=${RATE:-1gbit}
NP=${NP:-4}
SIZE=${SIZE:-64M}
ITERS=${ITERS:-5}
WARMUP=${WARMUP:-1}
ROUNDS=${ROUNDS:-3}
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/bench_net_plugins.XXXXXX")}
mkdir -p "$OUT"
ARP=$(find_bin all_reduce_perf) || { echo "bench_net_plugins: all_reduce_perf not found under $BUILD" >&2; exit 2; }
UCX=$BUILD/plugins/libconccl-net-ucx.so
[[ -f $UCX ]] || { echo "bench_net_plugins: $UCX not built (install libucx-dev and reconfigure)" >&2; exit 2; }
PERF_ARGS=(-b "$SIZE" -e "$SIZE" -n "$ITERS" -w "$WARMUP" -c 1)
status=0

# busbw FILE.jsonl KEY: the bus bandwidth (out_of_place or in_place) of the row of size SIZE
busbw() {
  python3 -c 'import json,sys
rows=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(rows[-1][sys.argv[2]]["bus_bw"])' "$1" "$2"
}

# report LABEL BASE_NAME PLUGIN_NAME: medians and ratios over the rounds' JSON files
report() {
  local label=$1 base=$2 plug=$3 key b=() p=()
  for key in out_of_place in_place; do
    b=() p=()
    for f in "$OUT"/"$base".r*.jsonl; do b+=("$(busbw "$f" $key)"); done
    for f in "$OUT"/"$plug".r*.jsonl; do p+=("$(busbw "$f" $key)"); done
    local mb mp
    mb=$(median "${b[@]}")
    mp=$(median "${p[@]}")
    printf '%-4s %-13s built-in busbw %s GB/s (%s)  ucx %s GB/s (%s)  ratio ucx/built-in %s\n' "$label" "$key" \
      "$mb" "${b[*]}" "$mp" "${p[*]}" "$(awk -v a="$mp" -v b="$mb" 'BEGIN { printf "%.3f", a / b }')"
  done
}

if [[ $WHICH == tcp || $WHICH == both ]]; then
  [[ $(id -u) == 0 ]] || { echo "bench_net_plugins: the tcp part needs root (network namespaces)" >&2; exit 2; }
  runs=()
  for r in $(seq 1 "$ROUNDS"); do
    runs+=(-x "tcp.r$r:CONCCL_NET=tcp CONCCL_ALGO=ring $ARP ${PERF_ARGS[*]}")
    runs+=(-x "ucx_tcp.r$r:CONCCL_NET_PLUGIN=$UCX CONCCL_NET=ucx UCX_TLS=tcp UCX_NET_DEVICES=eth0 CONCCL_ALGO=ring $ARP ${PERF_ARGS[*]}")
  done
  # the perf binary is env(1), so that each run carries its own variables
  "$REPO/tools/conccl-bench-cluster" -n "$HOSTS" -r "$RATE" -q -o "$OUT" "${runs[@]}" -- /usr/bin/env || status=1
  report tcp tcp ucx_tcp
fi

if [[ $WHICH == sm || $WHICH == both ]]; then
  for r in $(seq 1 "$ROUNDS"); do
    CONCCL_NET=shm "$REPO/tools/conccl-run" -n "$NP" "$ARP" "${PERF_ARGS[@]}" -J "$OUT/shm.r$r.jsonl" \
      >"$OUT/shm.r$r.txt" 2>&1 || status=1
    CONCCL_NET_PLUGIN=$UCX CONCCL_NET=ucx UCX_TLS=sm "$REPO/tools/conccl-run" -n "$NP" "$ARP" "${PERF_ARGS[@]}" \
      -J "$OUT/ucx_sm.r$r.jsonl" >"$OUT/ucx_sm.r$r.txt" 2>&1 || status=1
  done
  report sm shm ucx_sm
fi
echo "runs kept in $OUT"
exit $status
