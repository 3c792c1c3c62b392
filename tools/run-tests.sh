#!/usr/bin/env bash
# run-tests.sh — the whole test suite: install what is missing, build into build/, run ctest (all tests
# except the label 'slow', plus the training-claims test; pass -L slow to run the slow ones).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure --timeout 600 -LE slow "$@"
# The scaled-down training claims (label claims, also slow: about two minutes) fit the suite's budget.
if [ $# -eq 0 ]; then
  ctest --test-dir build --output-on-failure --timeout 900 -L claims
fi
