#!/usr/bin/env bash
# bench_netns_compressed.sh BUILD — compressed vs uncompressed all-reduce across emulated hosts.
#
# Builds NP network-namespace hosts joined by tbf-shaped links (../shared/tools/netns-cluster.sh, or
# NETNS_CLUSTER), runs all_reduce_perf with one rank per host over tcp, 64 MiB float32 sum, first
# uncompressed (ConCCL's own ring), then each codec in CODECS, all in the same run, and prints each
# codec's median time and its speedup over the uncompressed ring. Needs root; always tears down.
# Env: NP (4; a list like "4 8" runs one table per size), RATE (1gbit), SIZE (64M), ITERS (3), ROUNDS (2),
#      CODECS ("int8 int4 randblock"), EXTRA (extra all_reduce_perf flags for the codec runs).
set -euo pipefail
(($# == 1)) || { sed -n '2,10p' "$0" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "bench_netns_compressed: needs root (network namespaces)" >&2; exit 2; }
BUILD=$1
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=perf/bench_lib.sh
source "$REPO/perf/bench_lib.sh"
NETNS_CLUSTER=${NETNS_CLUSTER:-$REPO/../shared/tools/netns-cluster.sh}
ARP=$BUILD/perf/all_reduce_perf
[[ -x $ARP ]] || { echo "bench_netns_compressed: $ARP not found" >&2; exit 2; }
[[ -f $NETNS_CLUSTER ]] || { echo "bench_netns_compressed: $NETNS_CLUSTER not found" >&2; exit 2; }
NPS=${NP:-4} RATE=${RATE:-1gbit} SIZE=${SIZE:-64M} ITERS=${ITERS:-3} ROUNDS=${ROUNDS:-2}
CODECS=${CODECS:-int8 int4 randblock} EXTRA=${EXTRA:-} PORT=${PORT:-29600}
export PFX=${PFX:-cccomp} SUBNET=${SUBNET:-10.202.0}
work=$(mktemp -d)
up=0
cleanup() { ((up)) && bash "$NETNS_CLUSTER" down >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# run NP NAME ARGS...: one rank per host; prints the out-of-place time (us) of the row
run() {
  local np=$1 name=$2 i rc=0 pids=()
  shift 2
  local secret
  secret=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  for ((i = 0; i < np; i++)); do
    timeout -k 5 900 bash "$NETNS_CLUSTER" exec "$i" env CONCCL_RANK=$i CONCCL_NRANKS="$np" \
      CONCCL_ROOT="$SUBNET.1:$PORT" CONCCL_SECRET="$secret" CONCCL_NET=tcp CONCCL_HOST_ID="host$i" \
      CONCCL_SOCKET_IFNAME=eth0 "$ARP" -b "$SIZE" -e "$SIZE" -n "$ITERS" -w 1 "$@" >"$work/$name.$i" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do wait "${pids[$i]}" || rc=$?; done
  ((rc == 0)) || { echo "run $name failed (rc $rc):" >&2; cat "$work/$name.0" >&2; return 1; }
  awk '!/^#/ && NF >= 9 { t = $6; w = $9 } END { print t, w }' "$work/$name.0"
}

for np in $NPS; do
  bash "$NETNS_CLUSTER" up "$np" "$RATE" 256kb 50ms >/dev/null
  up=1
  echo "# $np hosts at $RATE, $SIZE float32 sum, $ITERS iters x $ROUNDS rounds, one rank per host over tcp"
  printf '%-12s %12s %10s %8s\n' "codec" "time(us)" "speedup" "#wrong"
  declare -A times=()
  for ((round = 1; round <= ROUNDS; round++)); do
    read -r t w < <(run "$np" "none.$round" -c 1) || exit 1
    times[none]+="$t "
    for c in $CODECS; do
      args=(--codec "$c")
      [[ $c == randblock ]] && args+=(--ratio 0.015625)
      # shellcheck disable=SC2086
      read -r t w < <(run "$np" "$c.$round" -c 1 "${args[@]}" $EXTRA) || exit 1
      times[$c]+="$t "
      [[ $w == 0 ]] || echo "warning: $c reported $w wrong elements" >&2
    done
  done
  # shellcheck disable=SC2086
  base=$(median ${times[none]})
  printf '%-12s %12.0f %10s %8s\n' "none" "$base" "1.00x" 0
  for c in $CODECS; do
    # shellcheck disable=SC2086
    m=$(median ${times[$c]})
    printf '%-12s %12.0f %9.2fx %8s\n' "$c" "$m" "$(awk -v b="$base" -v m="$m" 'BEGIN { print b / m }')" 0
  done
  unset times
  bash "$NETNS_CLUSTER" down >/dev/null
  up=0
done
