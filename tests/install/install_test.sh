#!/usr/bin/env bash
# install_test.sh BUILD_DIR SOURCE_DIR: installs BUILD_DIR into a temporary prefix, then builds and runs
# a consumer with find_package(ConCCL) and a second one with pkg-config, both against that prefix only.
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cmake -S "$src/tests/install/consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
LD_LIBRARY_PATH="$tmp/prefix/lib:$tmp/prefix/lib64:${LD_LIBRARY_PATH:-}" "$tmp/consumer/consumer"
pcdir=$(dirname "$(find "$tmp/prefix" -name conccl.pc | head -n 1)")
flags=$(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs conccl)
# shellcheck disable=SC2086
cc -o "$tmp/consumer_pc" "$src/tests/install/consumer/consumer.c" $flags -lpthread
LD_LIBRARY_PATH="$tmp/prefix/lib:$tmp/prefix/lib64:${LD_LIBRARY_PATH:-}" "$tmp/consumer_pc"
test -f "$tmp/prefix/include/conccl.h"
# Only cc* symbols are exported.
if nm -D --defined-only "$(find "$tmp/prefix" -name 'libconccl.so.*.*' | head -n 1)" | awk '{print $3}' | grep -v '^cc'; then
  echo "unexpected exported symbols above" >&2
  exit 1
fi
echo "install test OK"
