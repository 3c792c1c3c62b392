#!/usr/bin/env bash
# run_nccl_shim_test.sh MODE PROGRAM SHIM [REAL_NCCL]: one ctest case of the NCCL ABI shim.
#   PROGRAM    nccl_train_loop, linked against the shim or (preload, ldpath) against the real libnccl
#   SHIM       path of libconccl-nccl.so
#   REAL_NCCL  path of the real libnccl.so.2 (forward_real only)
# Modes:
#   exact           the loop over the shim, uncompressed: every result exact
#   preload         PROGRAM linked against the real NCCL, run with LD_PRELOAD=SHIM (real NCCL cannot run
#                   here: no GPU); the shim's INFO line proves who served the calls
#   ldpath          the same through LD_LIBRARY_PATH=<dir of the libnccl.so.2 -> shim symlink>
#   compress        CONCCL_NCCL_COMPRESS=codec=int8,feedback=ef,min_bytes=64K: the gradient all-reduce is
#                   compressed (one INFO line per rank for its buffer) and nothing else is
#   bad_policy      a malformed CONCCL_NCCL_COMPRESS: init fails with ncclInvalidArgument (exit 14)
#   forward_missing CONCCL_NCCL_FORWARD=/nonexistent/...: init fails with ncclSystemError (exit 12); naming
#                   the shim itself fails with ncclInvalidArgument (exit 14)
#   forward_real    CONCCL_NCCL_FORWARD=REAL_NCCL without a GPU: the real init fails, and the shim returns
#                   that error (exit 11..17) with a message
#   symbols         SONAME libnccl.so.2; only nccl*/pnccl* exported; every nccl* a weak alias of pnccl*
set -u
mode=$1 prog=$2 shim=$3 real=${4:-}
nranks=4
out=$(mktemp)
trap 'rm -f "$out"' EXIT

fail() {
  echo "FAIL ($mode): $*" >&2
  sed 's/^/  | /' "$out" | tail -n 40 >&2
  exit 1
}

# The first rank to fail makes nccl_train_loop kill the others, so an expected init failure is reported
# by at least one rank, not necessarily by all.
# run EXPECTED_RC [ENV...] -- ARGS: runs PROGRAM with the environment, keeps its output in $out.
run() {
  local want=$1
  shift
  local envs=()
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done
  shift
  env "${envs[@]}" "$prog" "$@" >"$out" 2>&1
  local rc=$?
  cat "$out"
  [[ $rc == "$want" ]] || fail "exit status $rc, expected $want"
}

expect_line() {  # expect_line REGEX [COUNT]
  local n
  n=$(grep -cE -- "$1" "$out")
  if [[ -n ${2:-} ]]; then
    [[ $n == "$2" ]] || fail "$n lines match /$1/, expected $2"
  else
    ((n > 0)) || fail "no line matches /$1/"
  fi
}

unset CONCCL_NCCL_COMPRESS CONCCL_NCCL_FORWARD
case $mode in
  exact)
    run 0 CONCCL_DEBUG=WARN -- "$nranks" 20 1048576
    expect_line "nccl_train_loop: OK nranks $nranks steps 20 count 1048576 exact max_err 0 "
    ! grep -q "ccAllreduceCompressed" "$out" || fail "a call was compressed without a policy"
    ;;
  preload)
    run 0 LD_PRELOAD="$shim" CONCCL_DEBUG=INFO -- "$nranks" 20 1048576
    expect_line "ConCCL INFO nccl-shim: comm .* rank [0-9]+ nranks $nranks over ConCCL; compression off" "$nranks"
    expect_line "nccl_train_loop: OK nranks $nranks .* exact"
    ;;
  ldpath)
    run 0 LD_LIBRARY_PATH="$(dirname "$shim")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" CONCCL_DEBUG=INFO -- "$nranks" 3 65536
    expect_line "ConCCL INFO nccl-shim: comm .* nranks $nranks over ConCCL" "$nranks"
    expect_line "nccl_train_loop: OK"
    ;;
  compress)
    run 0 CONCCL_NCCL_COMPRESS="codec=int8,feedback=ef,min_bytes=64K" CONCCL_DEBUG=INFO -- "$nranks" 20 1048576
    expect_line "nranks $nranks over ConCCL; compression \"codec=int8,feedback=ef,min_bytes=64K\"" "$nranks"
    # Once per rank for the gradient bucket; no other call qualifies (types, ops and sizes).
    expect_line "nccl-shim: ncclAllReduce count 1048576 type float32 -> ccAllreduceCompressed codec int8 \(feedback ef" "$nranks"
    expect_line "-> ccAllreduceCompressed" "$nranks"
    expect_line "nccl_train_loop: OK nranks $nranks steps 20 count 1048576 compressed"
    ;;
  bad_policy)
    run 14 CONCCL_NCCL_COMPRESS="codec=int9,min_bytes=1M" -- "$nranks" 1 4096
    expect_line "ncclCommInitRank failed: invalid argument .*CONCCL_NCCL_COMPRESS: bad value 'int9' for codec"
    run 14 CONCCL_NCCL_COMPRESS="codec=int8,min_byts=1M" -- 2 1 4096
    expect_line "unknown key 'min_byts'"
    run 14 CONCCL_NCCL_COMPRESS="codec=int8,min_bytes=12X" -- 2 1 4096
    expect_line "bad value '12X' for min_bytes"
    ;;
  forward_missing)
    run 12 CONCCL_NCCL_FORWARD=/nonexistent/libnccl.so.2 -- 2 1 4096
    expect_line "ncclCommInitRank failed: unhandled system error .*CONCCL_NCCL_FORWARD=/nonexistent/libnccl.so.2: cannot open it"
    # The build tree's libnccl.so.2 is the shim itself: refused instead of forwarding to itself.
    run 14 CONCCL_NCCL_FORWARD="$(dirname "$shim")/libnccl.so.2" -- 2 1 4096
    expect_line "is the ConCCL shim itself, not the real NCCL"
    ;;
  forward_real)
    [[ -n $real ]] || fail "no real NCCL given"
    env CONCCL_NCCL_FORWARD="$real" CONCCL_DEBUG=INFO "$prog" 2 1 4096 >"$out" 2>&1
    rc=$?
    cat "$out"
    ((rc >= 11 && rc <= 17)) || fail "exit status $rc, expected an init failure (11..17)"
    expect_line "forwarding uncompressed calls to $real"
    expect_line "ncclCommInitRank failed: .*ncclCommInitRank \(forwarded to the real NCCL\)"
    ;;
  symbols)
    readelf -d "$shim" | grep -q 'Library soname: \[libnccl.so.2\]' || fail "SONAME is not libnccl.so.2"
    nm -D --defined-only "$shim" >"$out"
    bad=$(awk '$3 !~ /^p?nccl/ {print $3}' "$out")
    [[ -z $bad ]] || fail "exports outside nccl*/pnccl*: $bad"
    for f in GetVersion GetUniqueId CommInitRank CommInitRankConfig CommInitRankScalable CommInitAll CommSplit \
      CommFinalize CommDestroy CommAbort CommGetAsyncError CommCount CommCuDevice CommUserRank GetErrorString \
      GetLastError AllReduce Broadcast Bcast Reduce AllGather ReduceScatter AlltoAll Gather Scatter Send Recv \
      GroupStart GroupEnd RedOpCreatePreMulSum RedOpDestroy MemAlloc MemFree CommRegister CommDeregister; do
      strong=$(awk -v s="pnccl$f" '$3 == s && $2 == "T" {print $1}' "$out")
      weak=$(awk -v s="nccl$f" '$3 == s && $2 == "W" {print $1}' "$out")
      [[ -n $strong ]] || fail "pnccl$f is not a defined strong symbol"
      [[ $strong == "$weak" ]] || fail "nccl$f is not a weak alias of pnccl$f"
    done
    echo "symbols OK: $(grep -c ' T pnccl' "$out") pnccl* functions, each with its weak nccl* alias"
    ;;
  *)
    fail "unknown mode"
    ;;
esac
echo "nccl_shim.$mode: PASS"
