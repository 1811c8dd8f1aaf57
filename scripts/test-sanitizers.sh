#!/usr/bin/env bash
# Builds with AddressSanitizer + UBSan and runs the unit tests once, then
# reruns the kernel and model tests on every lower SIMD path (GEMMA_ISA) so
# that a CPU without AVX-512 is covered too.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# -O1 -g1: quick to compile, still line numbers in reports.
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
  -DGEMMA_SANITIZE=ON -DGEMMA_BUILD_BENCH=OFF
cmake --build build-asan -j2
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --test-dir build-asan --output-on-failure -j2
for isa in avx2 scalar; do
  echo "== GEMMA_ISA=$isa"
  GEMMA_ISA=$isa ctest --test-dir build --output-on-failure -j2 -R 'kernel|model|cli|vision'
done
