#!/usr/bin/env bash
# run-demo.sh — the main job: install what is missing, build (Release) into build/, then run a 4-rank
# all-reduce across 4 local processes (conccl-run) and print its nccl-tests-style table.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
exec tools/conccl-run -n 4 build/perf/all_reduce_perf -b 8 -e 64M -f 4 -n 10 -w 2 "$@"
