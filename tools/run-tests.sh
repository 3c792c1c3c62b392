#!/usr/bin/env bash
# run-tests.sh — the whole test suite: install what is missing, build into build/, run ctest (all tests
# except the label 'slow'; pass -L slow to run those).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure --timeout 600 -LE slow "$@"
