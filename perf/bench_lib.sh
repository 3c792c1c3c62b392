# bench_lib.sh — helpers shared by the perf/bench_*.sh scripts (sourced, not run).
# shellcheck shell=bash

# find_bin NAME: the executable NAME under $BUILD (perf/ first, then anywhere below it)
find_bin() {
  local p
  for p in "$BUILD/perf/$1" "$BUILD/perf/baselines/$1"; do
    [[ -x $p ]] && { echo "$p"; return 0; }
  done
  p=$(find "$BUILD" -type f -name "$1" -perm -u+x 2>/dev/null | head -n 1)
  [[ -n $p ]] && { echo "$p"; return 0; }
  return 1
}

# median NUMBERS...: the median, printed with 4 decimals ("nan" for none)
median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "nan"; exit }
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.4f\n", m }'
}
