#!/usr/bin/env bash
# shellcheck disable=SC2317  # teardown runs from a trap
# bench_netns_vs_gloo.sh: ConCCL's ring all-reduce over TCP on an emulated cluster (network namespaces,
# links shaped by tbf) against Gloo's ring-chunked all-reduce on the same cluster. Needs root. Builds nothing.
#
# Usage: perf/bench_netns_vs_gloo.sh BUILD_DIR
# Environment (defaults): NETNS_CLUSTER=<repo>/../shared/tools/netns-cluster.sh, NP=4 hosts, RATE=1gbit,
#   BURST=256kb, SIZE=64M bytes of float32, ITERS=5, WARMUP=1, ROUNDS=2, PORT=29500, RUN_TIMEOUT=600
#   seconds per run, PFX=ccperf and SUBNET=10.201.0 (passed to netns-cluster.sh: host i is SUBNET.(i+1)).
# One rank per namespace. ConCCL: all_reduce_perf -b SIZE -e SIZE with CONCCL_NET=tcp, CONCCL_ALGO=ring,
# CONCCL_SOCKET_IFNAME=eth0, a distinct CONCCL_HOST_ID per host, CONCCL_ROOT on host 0 (SUBNET.1:PORT).
# Gloo: perf/baselines/gloo_allreduce --algo ring_chunked --iface eth0 with a FileStore in a fresh directory.
# Reported: ConCCL's busbw as a fraction of the link rate (target >= 0.93) and the ratio of ConCCL's algbw
# to Gloo's (target >= 1.0), medians over rounds. Gloo works in place, so the ratio uses ConCCL's in-place
# column; both columns are printed. The cluster is always torn down, and the ranks killed, on exit.
# Exit status: 0 when every run succeeded and passed its data check (whatever the figures), 1 otherwise,
# 2 when not root or on bad usage.
set -euo pipefail

usage() { awk 'NR > 1 && /^# shellcheck/ { next } NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
[[ ${1:-} == -h || ${1:-} == --help ]] && { usage; exit 0; }
(($# == 1)) || { usage >&2; exit 2; }
if [[ $(id -u) != 0 ]]; then
  echo "bench_netns_vs_gloo: needs root (it creates network namespaces); run it with sudo" >&2
  exit 2
fi

BUILD=$1
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=perf/bench_lib.sh
source "$REPO/perf/bench_lib.sh"
NETNS_CLUSTER=${NETNS_CLUSTER:-$REPO/../shared/tools/netns-cluster.sh}
NP=${NP:-4}
RATE=${RATE:-1gbit}
BURST=${BURST:-256kb}
SIZE=${SIZE:-64M}
ITERS=${ITERS:-5}
WARMUP=${WARMUP:-1}
ROUNDS=${ROUNDS:-2}
PORT=${PORT:-29500}
RUN_TIMEOUT=${RUN_TIMEOUT:-600}
export PFX=${PFX:-ccperf}
export SUBNET=${SUBNET:-10.201.0}

[[ -d $BUILD ]] || { echo "bench_netns_vs_gloo: no build directory '$BUILD'" >&2; exit 2; }
[[ -f $NETNS_CLUSTER ]] || { echo "bench_netns_vs_gloo: $NETNS_CLUSTER not found (set NETNS_CLUSTER)" >&2; exit 2; }
ARP=$(find_bin all_reduce_perf) || { echo "bench_netns_vs_gloo: all_reduce_perf not found under $BUILD" >&2; exit 2; }
GLOO=$(find_bin gloo_allreduce) || {
  echo "bench_netns_vs_gloo: gloo_allreduce not found under $BUILD (configure with libgloo-dev installed)" >&2
  exit 2
}
# Link rate in GB/s (1e9 bytes) from a tc rate such as 1gbit, 500mbit, 10gbit.
LINK_GBPS=$(awk -v r="$RATE" 'BEGIN {
  n = r + 0; u = tolower(substr(r, length(n "") + 1))
  m = (u == "gbit") ? 1e9 : (u == "mbit") ? 1e6 : (u == "kbit") ? 1e3 : (u == "bit") ? 1 : 0
  if (m == 0 || n <= 0) exit 1
  printf "%.6f", n * m / 8 / 1e9 }') || { echo "bench_netns_vs_gloo: cannot read RATE '$RATE' (use kbit/mbit/gbit)" >&2; exit 2; }

cluster() { bash "$NETNS_CLUSTER" "$@"; }

workdir=$(mktemp -d "${TMPDIR:-/tmp}/bench_netns.XXXXXX")
rank_pids=()
cluster_up=0
teardown() {
  local p
  trap '' INT TERM HUP
  # rank_pids are `timeout` processes: SIGTERM reaches the rank through them, SIGKILL stops them after
  if ((${#rank_pids[@]} > 0)); then
    for p in "${rank_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    sleep 1
    for p in "${rank_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  fi
  wait 2>/dev/null || true
  if ((cluster_up)); then cluster down >/dev/null 2>&1 || true; fi
  rm -rf -- "$workdir"
}
trap teardown EXIT
trap 'echo "bench_netns_vs_gloo: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM HUP

# run_ranks NAME CMD...: runs CMD in every namespace (@RANK@ in CMD becomes the rank), waits, and
# returns the first non-zero status; rank i's output is in $workdir/NAME.i.
run_ranks() {
  local name=$1 i rc=0 st
  shift
  rank_pids=()
  for ((i = 0; i < NP; i++)); do
    local args=("${@//@RANK@/$i}")
    timeout -k 10 "$RUN_TIMEOUT" bash "$NETNS_CLUSTER" exec "$i" "${args[@]}" >"$workdir/$name.$i" 2>&1 &
    rank_pids+=($!)
  done
  for i in "${!rank_pids[@]}"; do
    st=0
    wait "${rank_pids[$i]}" || st=$?
    ((st != 0 && rc == 0)) && rc=$st
  done
  rank_pids=()
  return "$rc"
}

if ip netns list | grep -qE "^${PFX}(h[0-9]+|sw)( |$)"; then
  echo "bench_netns_vs_gloo: a cluster with prefix '$PFX' exists already; remove it or set PFX" >&2
  exit 2
fi
cluster up "$NP" "$RATE" "$BURST" 50ms
cluster_up=1
echo "# bench_netns_vs_gloo: $NP hosts at $RATE ($LINK_GBPS GB/s per link), $SIZE float32 sum, $ITERS iters, $WARMUP warmup, $ROUNDS rounds"

failed=0
c_oop=()
c_ip=()
c_bus=()
g_bw=()
for ((round = 1; round <= ROUNDS; round++)); do
  secret=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  if run_ranks conccl env CONCCL_RANK=@RANK@ CONCCL_NRANKS="$NP" CONCCL_ROOT="$SUBNET.1:$PORT" CONCCL_SECRET="$secret" \
    CONCCL_LOCAL_RANK=0 CONCCL_LOCAL_SIZE=1 CONCCL_NET=tcp CONCCL_ALGO=ring CONCCL_HOST_ID=netns-host@RANK@ \
    CONCCL_SOCKET_IFNAME=eth0 "$ARP" -b "$SIZE" -e "$SIZE" -n "$ITERS" -w "$WARMUP"; then
    row=$(awk '!/^#/ && NF >= 13' "$workdir/conccl.0" | tail -n 1)
    oop=$(awk '{ printf "%.4f", $1 / ($6 * 1e3) }' <<<"$row")
    ip=$(awk '{ printf "%.4f", $1 / ($10 * 1e3) }' <<<"$row")
    bus=$(awk -v n="$NP" '{ printf "%.4f", $1 / ($6 * 1e3) * 2 * (n - 1) / n }' <<<"$row")
    c_oop+=("$oop")
    c_ip+=("$ip")
    c_bus+=("$bus")
    echo "round $round conccl: algbw out-of-place $oop GB/s, in-place $ip GB/s; busbw $bus GB/s"
  else
    failed=1
    echo "round $round conccl: FAILED"
    for ((i = 0; i < NP; i++)); do tail -n 5 "$workdir/conccl.$i" | sed "s/^/    [$i] /"; done
  fi
  store=$workdir/gloo-store.$round
  mkdir -p "$store"
  if run_ranks gloo "$GLOO" --rank @RANK@ --size "$NP" --store "$store" --iface eth0 --algo ring_chunked \
    -b "$SIZE" -w "$WARMUP" -n "$ITERS"; then
    line=$(awk '/^BASELINE/' "$workdir/gloo.0" | tail -n 1)
    bw=$(sed -n 's/.* algbw_GBps=\([0-9.]*\).*/\1/p' <<<"$line")
    g_bw+=("$bw")
    echo "round $round gloo:   algbw $bw GB/s (ring_chunked, in place)"
  else
    failed=1
    echo "round $round gloo: FAILED"
    for ((i = 0; i < NP; i++)); do tail -n 5 "$workdir/gloo.$i" | sed "s/^/    [$i] /"; done
  fi
done

if ((${#c_oop[@]} > 0)); then
  bus=$(median "${c_bus[@]}")
  frac=$(awk -v b="$bus" -v l="$LINK_GBPS" 'BEGIN { printf "%.3f", b / l }')
  echo "median conccl: algbw out-of-place $(median "${c_oop[@]}") GB/s, in-place $(median "${c_ip[@]}") GB/s, busbw $bus GB/s"
  echo "conccl busbw / link rate: $frac (target >= 0.93: $(awk -v f="$frac" 'BEGIN { print (f >= 0.93) ? "meets" : "below" }'))"
fi
if ((${#c_ip[@]} > 0 && ${#g_bw[@]} > 0)); then
  ci=$(median "${c_ip[@]}")
  g=$(median "${g_bw[@]}")
  ratio=$(awk -v c="$ci" -v g="$g" 'BEGIN { if (g > 0) printf "%.3f", c / g; else print "nan" }')
  co=$(median "${c_oop[@]}")
  echo "median gloo: algbw $g GB/s (conccl out-of-place / gloo: $(awk -v c="$co" -v g="$g" 'BEGIN { if (g > 0) printf "%.3f", c / g; else print "nan" }'))"
  echo "ratio conccl/gloo algbw (in place): $ratio (target >= 1.0: $(awk -v r="$ratio" 'BEGIN { print (r + 0 >= 1.0) ? "meets" : "below" }'))"
fi
exit "$failed"
